"""Default-run benchmark: ``python -m pipeline run --target direction`` on the embedded sample (SP500,
``all`` features, window 60, LSTM hidden 32, 3 folds, 1 seed, horizons 1, 5, 10, the default explain stage).

Runs the whole process (imports included) three times and prints each wall time, the median, and where
the time goes (training with the baselines, evaluation, explain, from ``metrics.json``; the rest is imports,
data, features and writing the reports), plus the peak resident memory of the run processes.
Target: median <= 25 s on 2 quiet cores. Run it on a quiet machine.

    python benchmarks/bench_run.py [--repeats 3] [--no-explain]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--no-explain", action="store_true", help="skip the explain stage (--ablation none --no-explain)"
    )
    args = parser.parse_args()
    extra = ["--ablation", "none", "--no-explain"] if args.no_explain else []
    walls = []
    for k in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            t0 = time.perf_counter()
            rc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pipeline",
                    "run",
                    "--target",
                    "direction",
                    "--no-progress",
                    "-q",
                    *extra,
                    "--out",
                    str(out),
                ],
                capture_output=True,
                text=True,
            ).returncode
            wall = time.perf_counter() - t0
            if rc != 0:
                sys.exit(f"run {k + 1} failed with exit {rc}")
            m = json.loads((out / "metrics.json").read_text())
        walls.append(wall)
        staged = m["train_seconds"] + m["evaluation_seconds"] + m.get("explain_seconds", 0.0)
        print(
            f"run {k + 1}: {wall:.1f} s = training and baselines {m['train_seconds']:.1f} s + evaluation "
            f"{m['evaluation_seconds']:.1f} s + explain {m.get('explain_seconds', 0.0):.1f} s + imports, data, "
            f"features and reports {wall - staged:.1f} s"
        )
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"default run{' without explain' if extra else ''}: median {statistics.median(walls):.1f} s of {len(walls)} "
        f"(target <= 25 s), peak RSS {peak_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
