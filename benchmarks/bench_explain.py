"""Explain-stage benchmark: the default run on the embedded sample with the default explain stage
(group permutation x 10 repeats judged over test days + LightGBM with a shadow of every group: gain,
split, TreeSHAP + LSTM SHAP over 500 test windows and the shadow twin per fold for its noise floor).
Prints each method's wall time. Target: the explain stage under 90 s on a 2-core machine.

    python benchmarks/bench_explain.py
"""
from __future__ import annotations

import json
import resource
import tempfile
import time

from pipeline.cli import main


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rc = main(["run", "--target", "direction", "--no-progress", "--out", f"{tmp}/run"])
        wall = time.perf_counter() - t0
        m = json.loads(open(f"{tmp}/run/metrics.json").read()) if rc == 0 else {}
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in m.get("explain_timings", {}).items())
    print(f"explain stage of the default run: {m.get('explain_seconds', float('nan')):.1f} s (target < 90 s): {timings}")
    print(f"whole run incl. explain: {wall:.1f} s; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    run()
