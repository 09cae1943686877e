"""Default-run benchmark: ``python -m pipeline run --target direction`` on the embedded sample (SP500,
1999-2018, ``all`` features, window 60, LSTM hidden 32, 3 folds, 1 seed, horizons 1, 5, 10).

Prints the wall time of training + evaluation (intervals, tests, the comparator, power) + report — the
explain stage is skipped, as in earlier figures; it has its own benchmark — and the peak resident memory
of the process. With ``--full``, also the whole default run with its explain stage (permutation,
LightGBM with shadows, LSTM SHAP and its shadow twin). Targets: under 3 minutes and under 3 GB on 2 cores.
Run it on a quiet machine.

    python benchmarks/bench_run.py [--full]
"""
from __future__ import annotations

import resource
import sys
import tempfile
import time

from pipeline.cli.main import main


def timed(args: list[str]) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rc = main(["run", "--target", "direction", "--no-progress", *args, "--out", f"{tmp}/run"])
        return rc, time.perf_counter() - t0


def run() -> None:
    rc, wall = timed(["--ablation", "none", "--no-explain"])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"default run (train + evaluate + report): exit {rc}, wall {wall:.1f} s (target < 180 s), "
          f"peak RSS {peak_mb:.0f} MB (target < 3072 MB)")
    if "--full" in sys.argv[1:] and rc == 0:
        rc, wall = timed([])
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"default run with its explain stage: exit {rc}, wall {wall:.1f} s, peak RSS {peak_mb:.0f} MB")
    sys.exit(rc)


if __name__ == "__main__":
    run()
