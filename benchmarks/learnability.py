"""Learnability: does each network (and each baseline) find a signal its window holds?

featureproof calibrates its false alarms; this measures its misses. Planted data: daily OHLCV plus a user
column ``signal`` (standard normal); the return from t to t+1 is ``strength * signal[t - lag + 1] + noise``
with noise N(0, 0.7%) (:func:`pipeline.calibration.simulate.planted_signal_frame`), so the signal ``lag`` days
back sets the next day's direction with accuracy ceiling ``1/2 + arcsin(rho)/pi``, ``rho`` the correlation of
the return with the signal. Every cell runs the real command (``run --features ohlcv+extra --horizons 1``, one
walk-forward fold whose training block has ``--train-days`` days, ``--fresh-ledger``: each family is judged as
the only configuration) and reads ``metrics.json``: the family's accuracy, whether it claims skill over the
comparator (Holm), and the baselines' accuracies on the same test days.

``tcn@1`` is the TCN as it was before its levels came from the window (``--layers 1
--partial-receptive-field``: a receptive field of 5 steps). A ``+staged`` suffix (``lstm+staged``) trains the
family with ``--skip-fit staged``: the linear skip path alone first, then the network.

    python benchmarks/learnability.py [--lags 1,4,12,30] [--strengths 0.55,0.3] [--train-days 1000,2500]
                                      [--models lstm,gru,...,tcn@1,lstm+staged] [--seeds 1] [--first-seed 1]
                                      [--window 30] [--jobs 2]

Prints a markdown table (one row per cell and data seed) and the share of runs with skill per family.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

NOISE = 0.007  # daily noise of the planted returns
TEST_FRACTION, VAL_FRACTION = 0.3, 0.15
MODELS = ("lstm", "gru", "alstm", "transformer", "tcn", "mlp", "linear", "tcn@1")
BASELINES = ("majority", "logistic", "lightgbm", "window_ridge")


def ceiling(strength: float) -> float:
    """Accuracy of the rule ``sign(signal)`` on ``strength * signal + N(0, NOISE)``."""
    rho = strength / np.hypot(strength, NOISE)
    return 0.5 + float(np.arcsin(rho)) / np.pi


def cell(job: tuple[str, int, float, int, int, int]) -> dict:
    """One run of ``model`` on planted data: its accuracy, skill flag and the baselines' accuracies."""
    from pipeline.calibration.simulate import planted_signal_frame
    from pipeline.cli.main import main

    model, lag, strength, train_days, window, seed = job
    n_days = int(np.ceil(train_days / ((1 - TEST_FRACTION) * (1 - VAL_FRACTION)))) + window + 30
    family, flags = model.removesuffix("+staged"), ["--skip-fit", "staged"] if model.endswith("+staged") else []
    if "@" in family:
        family, layers = family.split("@")
        flags += ["--layers", layers, "--partial-receptive-field"]
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "planted.csv"
        planted_signal_frame(n_days, seed=seed, strength=strength / 100, noise=NOISE, lag=lag).to_csv(csv, index=False)
        out = Path(tmp) / "run"
        with contextlib.redirect_stdout(io.StringIO()):  # the report's path
            rc = main(
                [
                    "run",
                    "--source",
                    "csv",
                    "--data",
                    str(csv),
                    "--features",
                    "ohlcv+extra",
                    "--target",
                    "direction",
                    "--horizons",
                    "1",
                    "--window",
                    str(window),
                    "--folds",
                    "1",
                    "--test-fraction",
                    str(TEST_FRACTION),
                    "--val-fraction",
                    str(VAL_FRACTION),
                    "--model",
                    family,
                    *flags,
                    "--no-explain",
                    "--ablation",
                    "none",
                    "--bootstrap",
                    "0",
                    "--fresh-ledger",
                    "--threads",
                    "1",
                    "--jobs",
                    "1",
                    "-q",
                    "--no-progress",
                    "--out",
                    str(out),
                ]
            )
        if rc != 0:
            return {
                "model": model,
                "lag": lag,
                "strength": strength,
                "train_days": train_days,
                "seed": seed,
                "error": rc,
            }
        e = json.loads((out / "metrics.json").read_text())["horizon_results"][0]
    row = {
        "model": model,
        "lag": lag,
        "strength": strength,
        "train_days": train_days,
        "seed": seed,
        "ceiling": ceiling(strength / 100),
        "accuracy": e["model"]["accuracy"],
        "skill": bool(e["skill"]),
        "comparator": e["comparator"],
        "n_test": e["n_test"],
    }
    for b in BASELINES:
        row[b] = e["baselines"].get(b, {}).get("accuracy", np.nan)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ints = lambda s: [int(x) for x in s.split(",")]  # noqa: E731
    ap.add_argument("--lags", type=ints, default=[1, 4, 12, 30])
    ap.add_argument(
        "--strengths",
        type=lambda s: [float(x) for x in s.split(",")],
        default=[0.55, 0.3],
        help="signal strength in %% of price per unit of signal (noise 0.7%%)",
    )
    ap.add_argument("--train-days", type=ints, default=[1000, 2500])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--seeds", type=int, default=1, help="data seeds per cell")
    ap.add_argument("--first-seed", type=int, default=1, help="the first data seed")
    ap.add_argument("--window", type=int, default=30)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--csv", type=Path, help="also write every row to this CSV")
    args = ap.parse_args()
    jobs = [
        (m, lag, s, d, args.window, seed)
        for d in args.train_days
        for s in args.strengths
        for lag in args.lags
        for m in args.models.split(",")
        for seed in range(args.first_seed, args.first_seed + args.seeds)
        if lag <= args.window
    ]
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        rows = list(pool.map(cell, jobs))
    table = pd.DataFrame(rows)
    if args.csv:
        table.to_csv(args.csv, index=False)
    cols = ["train_days", "strength", "lag", "model", "seed", "ceiling", "accuracy", "skill", *BASELINES]
    print(f"learnability: window {args.window}, h = 1, ohlcv+extra, one fold; accuracy against the ceiling\n")
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    failed = table[table.accuracy.isna()] if "accuracy" in table else table
    for r in failed.itertuples():
        print(f"| {r.train_days} | {r.strength} | {r.lag} | {r.model} | {r.seed} | exit {r.error} |")
    ok = table.dropna(subset=["accuracy"])
    for r in ok.sort_values(["train_days", "strength", "lag", "model"]).itertuples():
        print(
            f"| {r.train_days} | {r.strength} | {r.lag} | {r.model} | {r.seed} | {r.ceiling:.3f} | {r.accuracy:.3f} | "
            f"{'yes' if r.skill else 'no'} | " + " | ".join(f"{getattr(r, b):.3f}" for b in BASELINES) + " |"
        )
    print(
        "\nshare of runs with skill per family: "
        + ", ".join(f"{m} {v:.0%}" for m, v in ok.groupby("model")["skill"].mean().items())
    )


if __name__ == "__main__":
    main()
