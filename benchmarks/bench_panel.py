"""Panel benchmark: 500 symbols x 20 years (about 2.5 M rows), cross-sectional target, end to end.

What it runs: the stages of ``python -m pipeline run --target xs_direction --horizons 1,5 --features
ohlcv+technical --folds 1 --epochs 1`` on a synthetic panel (each symbol a 20-day block bootstrap of the
real SP500 / NASDAQ bars, see ``bench_features.py``), with the default model (LSTM hidden 32, 1 layer,
window 60, batch 128) and every default baseline (majority, previous, logistic, LightGBM on 5 lags,
reversal, momentum) and evaluation (intervals, cross-section: IC, quantiles, long-short book), and writes
the report. It prints the wall time of each stage (features, windows and folds, training with the
baselines, evaluation, report) and the peak resident memory of this process and of the feature workers.

    python benchmarks/bench_panel.py [--symbols 500] [--years 20] [--epochs 1] [--device auto]

Run it on a quiet machine. Targets (2 cores, 24 GB): peak RSS <= 6 GB; features <= 5 s.

A speed and memory benchmark only: the printed IC and Sharpe figures mean nothing. Each synthetic symbol
strings together 20-day blocks of real index history, so within a block the trend persists and past
returns predict the next days across symbols (a Rank IC of 0.2-0.5). On a panel of independent random
walks the same run finds nothing (``tests/test_cross_section.py`` and the calibration study check that).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_features import synthetic_universe  # noqa: E402

from features import FeatureInput  # noqa: E402
from pipeline.config.schema import ExplainConfig, RunConfig  # noqa: E402
from pipeline.data.dataset import Dataset, build_feature_tables  # noqa: E402
from pipeline.reporting.run_folder import write_run  # noqa: E402
from pipeline.stages.evaluate import evaluate  # noqa: E402
from pipeline.stages.explain import explain  # noqa: E402
from pipeline.stages.fit import fit  # noqa: E402
from pipeline.stages.prepare import prepare  # noqa: E402


def peak_gb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1e6  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--years", type=int, default=20, help="years of daily bars (at most 20: the sample's length)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--bootstrap", type=int, default=500)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="also the default explain stage (permutation, lag blocks, "
        "clusters, LightGBM with shadows, expected and integrated gradients), timed per method",
    )
    parser.add_argument(
        "--perm-windows",
        type=int,
        default=ExplainConfig().perm_windows,
        help="test windows per fold scored by the permutation methods and TreeSHAP (0: all)",
    )
    args = parser.parse_args()

    universe = synthetic_universe(args.symbols)
    days = min(len(universe[0]), 252 * args.years)
    universe = [f.iloc[-days:] for f in universe]
    for f, name in zip(universe, [f.attrs["symbol"] for f in universe]):
        f.attrs["symbol"] = name
    rows = sum(len(f) for f in universe)
    print(
        f"panel: {args.symbols} symbols x {days} days = {rows:,} rows; run --target xs_direction --horizons 1,5 "
        f"--features ohlcv+technical --folds 1 --epochs {args.epochs} --device {args.device}"
    )
    times = {}

    t0 = time.perf_counter()
    prices = {f.attrs["symbol"]: f for f in universe}
    tables = build_feature_tables({s: FeatureInput(f) for s, f in prices.items()}, "ohlcv+technical", jobs=2)
    dataset = Dataset(prices, tables, "ohlcv+technical")
    times["features"] = time.perf_counter() - t0

    cfg = RunConfig(
        target="xs_direction",
        horizons=[1, 5],
        features="ohlcv+technical",
        folds=1,
        epochs=args.epochs,
        bootstrap=args.bootstrap,
        device=args.device,
        progress=True,
    ).validate()
    t0 = time.perf_counter()
    prepared = prepare(cfg, dataset)
    times["windows, folds and scaling"] = time.perf_counter() - t0
    print(
        f"{prepared.ws.n:,} windows of {cfg.window} x {len(prepared.ws.columns)} features (never materialised: rows "
        f"{prepared.ws.rows.nbytes / 1e9:.2f} GB)"
    )

    t0 = time.perf_counter()
    fitted = fit(prepared, log=lambda *a: None)
    times["training (LSTM + baselines)"] = time.perf_counter() - t0
    speed = [h.samples_per_s for h in fitted.histories.values()]

    t0 = time.perf_counter()
    evaluation = evaluate(prepared, fitted)
    times["evaluation"] = time.perf_counter() - t0

    explanation = None
    if args.explain:
        t0 = time.perf_counter()
        explanation = explain(
            prepared, fitted, evaluation, ExplainConfig(perm_windows=args.perm_windows), log=lambda *a: None
        )
        times["explain stage"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        write_run(prepared, fitted, evaluation, explanation, Path(tmp) / "run")
    times["report"] = time.perf_counter() - t0

    for stage, seconds in times.items():
        print(f"  {stage:<30} {seconds:8.1f} s")
    print(f"  {'total':<30} {sum(times.values()):8.1f} s")
    print(f"  LSTM training: {sum(speed) / len(speed):,.0f} samples/s (the trainer's own count, batches only)")
    print(
        f"peak RSS: this process {peak_gb():.2f} GB, feature workers {peak_gb(resource.RUSAGE_CHILDREN):.2f} GB (target <= 6 GB)"
    )
    if explanation is not None:
        print("  explain stage by method: " + ", ".join(f"{k} {v:.1f} s" for k, v in explanation.seconds.items()))
        for line in explanation.findings:  # the conclusions, to compare settings (e.g. --perm-windows 0)
            print("  " + line)
        called = sorted({(i.method, i.horizon, i.group) for i in explanation.items if i.clears})
        print("  groups clearing their floor (method, h): " + "; ".join(f"{m} h={h} {g}" for m, h, g in called))
    for xs in evaluation.cross_section or []:
        print("  " + xs["sentence"])


if __name__ == "__main__":
    main()
