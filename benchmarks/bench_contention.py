"""Contention benchmark: the default run (``run --target direction``, explain stage included) on a quiet
machine, then beside a CPU hog (one other process spinning on one core for the whole run) and beside a
second default run (started with it), each in a fresh process. Prints
the wall times and the slowdowns. Target: at most 2.5x the quiet time on 2 cores.

What it measures: featureproof's thread policy (``pipeline/threads.py``: one torch thread per training model,
idle OpenMP threads sleep). Run it on an otherwise quiet machine.

    python benchmarks/bench_contention.py [--no-explain]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import subprocess
import sys
import tempfile
import time


def _spin(seconds: float) -> None:
    end = time.time() + seconds
    while time.time() < end:
        sum(i * i for i in range(10_000))


def timed_run(extra: list[str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline",
                "run",
                "--target",
                "direction",
                "--no-progress",
                *extra,
                "--out",
                f"{tmp}/run",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-explain", action="store_true", help="time the run without the explain stage")
    extra = ["--no-explain", "--ablation", "none"] if ap.parse_args().no_explain else []
    quiet = timed_run(extra)
    hog = mp.Process(target=_spin, args=(3600,), daemon=True)
    hog.start()
    try:
        loaded = timed_run(extra)
    finally:
        hog.terminate()
    with tempfile.TemporaryDirectory() as tmp:
        other = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipeline",
                "run",
                "--target",
                "direction",
                "--no-progress",
                *extra,
                "--out",
                f"{tmp}/other",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            beside_run = timed_run(extra)
        finally:
            other.kill()
            other.wait()
    name = "default run" + (" (no explain)" if extra else " with the explain stage")
    print(
        f"{name}: quiet {quiet:.1f} s; beside one CPU hog {loaded:.1f} s ({loaded / quiet:.2f}x); beside a second "
        f"default run {beside_run:.1f} s ({beside_run / quiet:.2f}x); target <= 2.5x"
    )


if __name__ == "__main__":
    main()
