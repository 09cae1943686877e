"""Pinned numbers: small runs whose metrics, tests, importances and comparisons were recorded before the
stage redesign (CPU, fixed seeds, one thread) and must come out the same, to the digit, after it.

The figures live in ``tests/pinned_metrics.json``. Regenerate them only for a deliberate change of
numbers, and say which and why in the commit: ``python -m tests.test_pinned --write``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipeline.cli.main import main

PINNED = Path(__file__).with_name("pinned_metrics.json")

ONE_THREAD = ["--threads", "1", "--no-progress", "--jobs", "1"]
RUNS = {
    # the default job's shape, small: one symbol, direction, three horizons, two seeds, every explain method
    "direction": [
        "run",
        "--target",
        "direction",
        "--start",
        "2008-01-01",
        "--end",
        "2014-12-31",
        "--features",
        "ohlcv+technical",
        "--window",
        "20",
        "--hidden",
        "8",
        "--epochs",
        "3",
        "--patience",
        "2",
        "--bootstrap",
        "100",
        "--folds",
        "2",
        "--seeds",
        "2",
        "--lgbm-lags",
        "2",
        "--shap-windows",
        "40",
        "--ig-windows",
        "20",
        "--ablation",
        "both",
    ],
    # a regression target with its own baselines (persistence, momentum) and units
    "return": [
        "run",
        "--target",
        "return",
        "--horizons",
        "1,5",
        "--start",
        "2010-01-01",
        "--end",
        "2014-12-31",
        "--features",
        "ohlcv",
        "--window",
        "10",
        "--hidden",
        "6",
        "--epochs",
        "2",
        "--bootstrap",
        "100",
        "--folds",
        "2",
        "--lgbm-lags",
        "2",
        "--no-explain",
        "--ablation",
        "none",
    ],
    # a close-only panel of the SP20 sample, cross-sectional target (cross-section view, reversal, momentum)
    "panel": [
        "run",
        "--source",
        "sample",
        "--symbols",
        "AAPL,MSFT,JNJ,KO,PG,XOM",
        "--target",
        "xs_direction",
        "--horizons",
        "1,5",
        "--start",
        "2012-01-01",
        "--end",
        "2016-12-31",
        "--window",
        "10",
        "--hidden",
        "6",
        "--epochs",
        "2",
        "--bootstrap",
        "100",
        "--folds",
        "2",
        "--lgbm-lags",
        "2",
        "--no-explain",
        "--ablation",
        "permute",
        "--permutation-repeats",
        "2",
        "--lag-repeats",
        "1",
    ],
}
COMPARE = [
    "compare",
    "--start",
    "2011-01-01",
    "--end",
    "2014-12-31",
    "--features",
    "ohlcv,ohlcv+technical",
    "--horizons",
    "1,5",
    "--window",
    "10",
    "--hidden",
    "6",
    "--epochs",
    "2",
    "--folds",
    "2",
    "--seeds",
    "2",
    "--bootstrap",
    "100",
]


def _numbers(obj, prefix: str, out: dict) -> None:
    """Flatten every number of ``obj`` into ``out`` under a dotted path (sentences are checked separately)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            _numbers(v, f"{prefix}.{k}", out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _numbers(v, f"{prefix}[{i}]", out)
    elif isinstance(obj, bool) or isinstance(obj, str):
        out[prefix] = obj
    elif isinstance(obj, (int, float)) or obj is None:
        out[prefix] = obj


def collect(tmp: Path) -> dict:
    """Run every pinned configuration into ``tmp`` and gather what must not change."""
    got: dict = {}
    for name, argv in RUNS.items():
        out = tmp / name
        assert main([*argv, *ONE_THREAD, "--out", str(out)]) == 0
        m = json.loads((out / "metrics.json").read_text())
        flat: dict = {}
        for entry in m["horizon_results"]:
            keep = {
                k: entry[k]
                for k in (
                    "model",
                    "model_ci",
                    "baselines",
                    "baselines_ci",
                    "comparator",
                    "comparator_choice",
                    "edge",
                    "against_baselines",
                    "tests",
                    "skill",
                )
            }
            _numbers(keep, f"h{entry['horizon']}", flat)
        _numbers(m.get("strategy") or {}, "strategy", flat)
        for xs in m.get("cross_section") or []:
            _numbers({k: v for k, v in xs.items() if k != "sentence"}, f"xs{xs['horizon']}", flat)
        preds = pd.read_csv(out / "predictions.csv")
        flat["predictions.sum"] = float(preds["prediction"].sum())
        flat["predictions.rows"] = int(len(preds))
        imp = out / "importance.csv"
        if imp.exists():
            for r in pd.read_csv(imp).itertuples():
                flat[f"importance.{r.method}.{r.group}.h{r.horizon}"] = [r.value, r.ci_low, r.ci_high, r.p_holm]
        got[name] = flat
    out = tmp / "compare"
    assert main([*COMPARE, *ONE_THREAD, "--out", str(out)]) == 0
    table = pd.read_csv(out / "compare.csv")
    sets = table[~table.feature_set.str.startswith("baseline:")]
    got["compare_sets"] = {
        f"{r.feature_set}|{r.symbol}|h{r.horizon}|{r.metric}": [r.mean, r.ci_low, r.ci_high] for r in sets.itertuples()
    }
    tests = pd.read_csv(out / "compare_tests.csv")
    pairs = tests[~tests.set_b.str.startswith("baseline:")]
    got["compare_pairs"] = {
        f"{r.set_a}-{r.set_b}|h{r.horizon}": [r.diff, r.ci_low, r.ci_high, r.p_value] for r in pairs.itertuples()
    }
    return got


# Figures that come out of an iterative solver whose last digits follow the CPU's BLAS kernels (the same package
# versions give logistic-regression coefficients about 1e-4 apart on two machines, so a few of its calls near 0.5
# flip): compared at a tolerance that reflects them; every other figure to the digit.
SOLVER_TOLERANCE = {
    "logistic": dict(rel_tol=0.0, abs_tol=0.05),  # lbfgs: a few flipped calls
    "per_fold": dict(rel_tol=0.0, abs_tol=0.01),  # the comparator, logistic in a fold
    "conditional_permutation": dict(rel_tol=1e-5, abs_tol=1e-9),
}  # its least-squares map


def _same(a, b, key: str = "") -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y, key) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) and math.isnan(b):
            return True
        tol = next((t for part, t in SOLVER_TOLERANCE.items() if part in key), dict(rel_tol=1e-9, abs_tol=1e-12))
        return math.isclose(a, b, **tol)
    return a == b


def _normalise(obj):
    return json.loads(json.dumps(obj, default=float).replace("NaN", "null"))


@pytest.mark.skipif(not PINNED.exists(), reason="no pinned figures yet: python -m tests.test_pinned --write")
def test_pinned_numbers_unchanged(tmp_path):
    pinned = json.loads(PINNED.read_text())
    got = _normalise(collect(tmp_path))
    for part, values in pinned.items():
        if part.startswith("_"):
            continue
        assert part in got, part
        differ = {k: (v, got[part].get(k)) for k, v in values.items() if not _same(v, got[part].get(k), k)}
        assert not differ, f"{part}: {len(differ)} pinned figures changed, e.g. {list(differ.items())[:5]}"


if __name__ == "__main__":  # python -m tests.test_pinned --write
    import tempfile

    import torch

    torch.set_num_threads(1)
    if "--write" in sys.argv:
        with tempfile.TemporaryDirectory() as d:
            figures = _normalise(collect(Path(d)))
        figures["_about"] = (
            "figures of tests/test_pinned.py's runs, recorded on CPU with one thread; "
            "regenerate only for a deliberate change of numbers"
        )
        PINNED.write_text(json.dumps(figures, indent=1, sort_keys=True))
        print(f"wrote {PINNED}: {sum(len(v) for k, v in figures.items() if not k.startswith('_'))} figures")
