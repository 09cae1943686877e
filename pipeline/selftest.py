"""``python -m pipeline selftest``: the pipeline's own controls, end to end.

1. Planted signal: prices whose next-day direction follows a user column ``signal`` (two pure-noise
   columns beside it). Every importance method but LightGBM's split counts must rank ``extra:signal``
   first, and the LSTM must show significant skill (Pesaran-Timmermann, and accuracy above the majority
   baseline's interval).
2. Random walk: the LSTM must show no significant skill.
Prints PASS / FAIL per check; exit code 1 on any failure.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

SIZES = {
    "small": dict(n=1300, window="10", hidden="16", epochs="20", folds="1", repeats="10", shap="120"),
    "full": dict(n=2500, window="20", hidden="32", epochs="30", folds="2", repeats="10", shap="300"),
}


def planted_signal_frame(n: int, seed: int = 1, strength: float = 0.006, noise: float = 0.002) -> pd.DataFrame:
    """Daily OHLCV whose return from t to t+1 is ``strength * signal[t] + N(0, noise)``; plus noise columns."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(0, 1, n)
    ret = np.r_[0.0, strength * signal[:-1] + rng.normal(0, noise, n - 1)]
    return _ohlcv(ret, rng, {"signal": signal, "noise_a": rng.normal(0, 1, n), "noise_b": rng.normal(0, 1, n)})


def random_walk_frame(n: int, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return _ohlcv(np.r_[0.0, rng.normal(0, 0.01, n - 1)], rng, {})


def _ohlcv(ret: np.ndarray, rng: np.random.Generator, extra: dict) -> pd.DataFrame:
    n = len(ret)
    close = 100 * np.exp(np.cumsum(ret))
    open_ = close * np.exp(rng.normal(0, 0.001, n))
    frame = pd.DataFrame({
        "Date": pd.bdate_range("2005-01-03", periods=n).strftime("%Y-%m-%d"), "Open": open_,
        "High": np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.002, n))),
        "Low": np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.002, n))), "Close": close,
        "Volume": rng.lognormal(15, 0.3, n), **extra})
    return frame


def selftest(size: str = "full", progress: bool = True, workdir: str | None = None) -> int:
    from pipeline.cli import main

    s = SIZES[size]
    checks: list[tuple[str, bool, str]] = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp = Path(tmp)
        common = ["--horizons", "1", "--window", s["window"], "--hidden", s["hidden"], "--epochs", s["epochs"],
                  "--patience", "6", "--lr", "5e-3", "--folds", s["folds"], "--bootstrap", "200", "--seeds", "1",
                  "--permutation-repeats", s["repeats"], "--shap-windows", s["shap"]] + ([] if progress else ["--no-progress"])
        planted = tmp / "planted.csv"
        planted_signal_frame(s["n"]).to_csv(planted, index=False)
        rc = main(["run", "--data", str(planted), "--features", "ohlcv+extra", "--ablation", "both", *common,
                   "--out", str(tmp / "planted")])
        checks.append(("planted run finished", rc == 0, f"exit {rc}"))
        if rc == 0:
            h = json.loads((tmp / "planted" / "metrics.json").read_text())["horizon_results"][0]
            pt = h["tests"]["pesaran_timmermann"]["p_value"]
            acc, hi = h["model"]["accuracy"], h["baselines_ci"]["majority"]["accuracy"][1]
            checks.append(("planted: LSTM shows significant skill", pt < 0.01 and acc > hi,
                           f"accuracy {acc:.3f} vs majority upper bound {hi:.3f}, PT p={pt:.2g}"))
            imp = pd.read_csv(tmp / "planted" / "importance.csv")
            for method in ("ablation_retrain", "permutation", "lgbm_gain", "tree_shap", "lstm_shap"):
                part = imp[imp.method == method]
                top = part.sort_values("rank").iloc[0]["group"] if len(part) else "(missing)"
                checks.append((f"planted: {method} ranks extra:signal first", top == "extra:signal", f"top group: {top}"))
        walk = tmp / "walk.csv"
        random_walk_frame(s["n"]).to_csv(walk, index=False)
        rc = main(["run", "--data", str(walk), "--features", "ohlcv", "--ablation", "none", "--no-explain", *common,
                   "--out", str(tmp / "walk")])
        checks.append(("random-walk run finished", rc == 0, f"exit {rc}"))
        if rc == 0:
            h = json.loads((tmp / "walk" / "metrics.json").read_text())["horizon_results"][0]
            significant = "beats the best simple baseline, and the difference is significant" in h["verdict"]
            pt = h["tests"]["pesaran_timmermann"]["p_value"]
            checks.append(("random walk: no significant skill", not significant and pt > 0.05,
                           f"PT p={pt:.3g}; {h['verdict']}"))
    for name, ok, detail in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}  ({detail})")
    failed = sum(not ok for _, ok, _ in checks)
    print(f"selftest: {len(checks) - failed}/{len(checks)} checks passed")
    return 1 if failed else 0
