"""Explain-stage benchmark: the default run on the embedded sample (SP500, 3 folds x 1 seed, LSTM 60 days
x 27 features, hidden 32, 3 horizons) with the default explain stage, every method on: group permutation
(5 repeats) and lag-block permutation (4 blocks x 11 groups, 2 repeats), correlation clusters and their
permutation, LightGBM with a shadow of every group (gain, split, TreeSHAP), expected gradients on 500
test windows (8 points each), integrated gradients on 100 (16 steps), model-randomisation and infidelity
checks. All judged over test days. Prints each part's wall time. Target: the explain stage (not the
report's figures) at most 10 s on a quiet 2-core machine. Run the whole run once before, so the data
and the LightGBM fits are not cold.

    python benchmarks/bench_explain.py
"""

from __future__ import annotations

import json
import resource
import tempfile
import time

from pipeline.cli.main import main


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rc = main(["run", "--target", "direction", "--no-progress", "--out", f"{tmp}/run"])
        wall = time.perf_counter() - t0
        m = json.loads(open(f"{tmp}/run/metrics.json").read()) if rc == 0 else {}
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in m.get("explain_timings", {}).items())
    print(
        f"explain stage of the default run: {m.get('explain_seconds', float('nan')):.1f} s (target ≤ 10 s): {timings}"
    )
    print(
        f"whole run incl. explain: {wall:.1f} s; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )


if __name__ == "__main__":
    run()
