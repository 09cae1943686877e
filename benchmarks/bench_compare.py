"""Compare benchmark: three feature sets x 3 seeds on the embedded sample (default folds and model),
local process pool with 2 jobs against 1 job. Prints both wall times, the speed-up, and checks that the
two give identical numbers.

    python benchmarks/bench_compare.py [--sets ohlcv,ohlcv+technical,all] [--seeds 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import pandas as pd

from pipeline.cli.main import main


def timed(sets: str, seeds: str, jobs: int, tmp: str) -> tuple[float, pd.DataFrame]:
    out = f"{tmp}/jobs{jobs}"
    t0 = time.perf_counter()
    rc = main(
        [
            "compare",
            "--features",
            sets,
            "--target",
            "direction",
            "--seeds",
            seeds,
            "--jobs",
            str(jobs),
            "--no-progress",
            "--out",
            out,
        ]
    )
    if rc != 0:
        raise SystemExit(rc)
    return time.perf_counter() - t0, pd.read_csv(f"{out}/compare.csv")


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="ohlcv,ohlcv+technical,all")
    parser.add_argument("--seeds", default="3")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one, a = timed(args.sets, args.seeds, 1, tmp)
        two, b = timed(args.sets, args.seeds, 2, tmp)
    same = a.equals(b)
    print(
        f"compare {args.sets} x {args.seeds} seeds on the sample: 1 job {one:.1f} s, 2 jobs {two:.1f} s, "
        f"speed-up {one / two:.2f}x; identical numbers: {same}"
    )


if __name__ == "__main__":
    run()
