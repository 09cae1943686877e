"""Default-run benchmark: ``python -m pipeline run --target direction`` on the embedded sample.

Prints the wall time of training + evaluation (the explain stage is skipped: it has its own benchmark)
and the peak resident memory of the process. Targets: under 3 minutes and under 3 GB on 2 cores.

    python benchmarks/bench_run.py
"""
from __future__ import annotations

import resource
import sys
import tempfile
import time

from pipeline.cli import main


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rc = main(["run", "--target", "direction", "--no-progress", "--ablation", "none", "--no-explain",
                   "--out", f"{tmp}/run"])
        wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"default run (train + evaluate + report): exit {rc}, wall {wall:.1f} s (target < 180 s), "
          f"peak RSS {peak_mb:.0f} MB (target < 3072 MB)")
    sys.exit(rc)


if __name__ == "__main__":
    run()
