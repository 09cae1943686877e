"""``python -m pipeline run``: train, evaluate and write a run folder atomically.

``RUN_DIR/`` holds ``config.json`` (resolved config, data hash, package versions, seeds),
``metrics.json``, ``predictions.csv``, ``model.pt`` (state dict + config; load with
``torch.load(..., weights_only=True)``) and ``index.html``. The folder appears only when complete.
"""
from __future__ import annotations

import json
import platform
import re
import sys
import time
from datetime import datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from pipeline import __version__
from pipeline.config.schema import RunConfig
from pipeline.stages.evaluate import evaluate, predictions_frame
from pipeline.stages.prepare import Experiment, prepare, train_and_predict
from pipeline.io import atomic_dir, claim_dir, fresh_dir
from pipeline.progress import say, stage as progress_line
from pipeline.reporting.run_page import render_run_report

PACKAGES = ("numpy", "pandas", "torch", "ta", "lightgbm", "shap", "scikit-learn", "scipy", "yfinance")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "featureproof": __version__}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def default_run_dir(cfg: RunConfig, symbols: list[str]) -> Path:
    """``reports/<YYYYmmdd-HHMMSS>-<symbols>-<target>``, with a suffix if that name is taken."""
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", "+".join(symbols))[:40] or "data"
    return fresh_dir(Path("reports"), f"{label}-{cfg.target}")


def checkpoint(exp: Experiment) -> dict:
    """State dict of the last fold's first-seed model (trained on the most data) with everything needed
    to rebuild and apply it; plain tensors, lists and numbers only, so ``weights_only=True`` loads it."""
    fold = exp.folds[-1].number
    seed = exp.seeds[0]
    fd = exp.fold_data[-1]
    pre = fd.pre
    return {
        "state_dict": exp.models[(fold, seed)].state_dict(),
        "model_config": exp.model_config().to_dict(),
        "run_config": exp.cfg.to_dict(),
        "columns": list(exp.ws.columns),
        "fold": fold,
        "seed": seed,
        "preprocessor": {
            "scaler": pre.scaler, "log_columns": list(pre.log_columns), "clip_quantile": pre.clip_quantile,
            "center": torch.tensor(pre.center_), "scale": torch.tensor(pre.scale_),
            "low": None if pre.low_ is None else torch.tensor(pre.low_),
            "high": None if pre.high_ is None else torch.tensor(pre.high_),
        },
        "y_mean": torch.tensor(fd.y_mean), "y_std": torch.tensor(fd.y_std),
    }


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items() if k not in ("curves", "curve", "curve_dates")}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def write_run(exp: Experiment, metrics: dict, out_dir: Path, extra_writers=()) -> Path:
    """Write every output into a temporary folder and rename it to ``out_dir`` when all succeeded."""
    cfg = exp.cfg
    run_id = out_dir.name
    created = datetime.now().isoformat(timespec="seconds")
    ws = exp.ws
    train_idx = np.concatenate([f.train for f in exp.folds])
    summary = {
        "run_id": run_id,
        "created": created,
        "target": cfg.target,
        "horizons": cfg.horizons,
        "symbols": list(exp.dataset.prices),
        "n_train": int(len(exp.folds[-1].train)),
        "n_train_per_fold": [int(len(f.train)) for f in exp.folds],
        "n_val_per_fold": [int(len(f.val)) for f in exp.folds],
        "n_test": int(len(exp.test_idx)),
        "n_samples": int(ws.n),
        "features": list(ws.columns),
        "groups": exp.dataset.groups,
        "feature_spec": exp.dataset.spec,
        "seeds": exp.seeds,
        "folds": [f.describe(ws.dates) for f in exp.folds],
        "test_start": str(np.datetime_as_string(ws.dates[exp.test_idx].min(), unit="D")),
        "test_end": str(np.datetime_as_string(ws.dates[exp.test_idx].max(), unit="D")),
        "train_start": str(np.datetime_as_string(ws.dates[train_idx].min(), unit="D")),
        "train_seconds": exp.train_seconds,
        **metrics,
    }
    config = {
        "config": cfg.to_dict(), "data_hash": exp.dataset.fingerprint(), "versions": package_versions(), "seeds": exp.seeds,
        "device": str(exp.device), "command": " ".join(sys.argv), "created": created,
    }
    from pipeline.reporting.index import index_href

    with atomic_dir(out_dir, "run", overwrite=cfg.overwrite) as tmp:
        (tmp / "config.json").write_text(json.dumps(_jsonable(config), indent=2))
        (tmp / "metrics.json").write_text(json.dumps(_jsonable(summary), indent=2))
        predictions_frame(exp).to_csv(tmp / "predictions.csv", index=False)
        torch.save(checkpoint(exp), tmp / "model.pt")
        for writer in extra_writers:
            writer(tmp)
        html = render_run_report(exp, metrics, run_id, created, importance_link=(tmp / "importance.html").exists(),
                                 index_href=index_href(out_dir))
        (tmp / "index.html").write_text(html)
    return out_dir


def load_checkpoint(path: str | Path) -> dict:
    """Load ``model.pt`` safely (``weights_only=True``)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def run(cfg: RunConfig, log=say, extra_stages=()) -> tuple[Path, Experiment, dict]:
    """The main job: prepare, train, evaluate, run ``extra_stages`` (explain), write the run folder."""
    t0 = time.perf_counter()
    if cfg.out:
        claim_dir(cfg.out, cfg.overwrite)
    exp = prepare(cfg)
    log(f"{', '.join(exp.dataset.prices)}: {exp.ws.n} windows of {cfg.window} days x {len(exp.ws.columns)} features; "
        f"target {cfg.target} h={','.join(map(str, cfg.horizons))}; device {exp.device}")
    train_and_predict(exp, log)
    t1 = time.perf_counter()
    metrics = evaluate(exp)
    progress_line(cfg.progress, f"evaluation (metrics, intervals, tests) in {time.perf_counter() - t1:.1f} s")
    writers = [stage(exp, metrics) for stage in extra_stages]
    out_dir = Path(cfg.out) if cfg.out else default_run_dir(cfg, list(exp.dataset.prices))
    t1 = time.perf_counter()
    write_run(exp, metrics, out_dir, [w for w in writers if w])
    progress_line(cfg.progress, f"reports written in {time.perf_counter() - t1:.1f} s")
    from pipeline.reporting.index import update_index

    update_index(out_dir.parent)
    metrics["wall_seconds"] = time.perf_counter() - t0
    return out_dir, exp, metrics
