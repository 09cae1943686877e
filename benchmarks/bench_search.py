"""Wall time of ``python -m pipeline search --trials 30`` on the embedded sample (SP500 direction, h = 1, 5, 10).

What it measures: the whole command in this process, as a user runs it: loading the data and features once,
the reference preparation with the comparator of the search days (every baseline, LightGBM included, on 3
folds), 30 Optuna trials of the default space (every family; windows 20-120; layers 1-3; hidden up to 128;
every training and preprocessing knob; 1 seed, 3 walk-forward folds each, pruned per fold), the final run of
the chosen configuration on the held-back days with the default explain stage, the search report. One worker
(``--workers 1``), CPU; run it on a quiet machine. Prints the wall time, the trials by state and the median
seconds of a complete trial.

    python benchmarks/bench_search.py [--trials 30] [--workers 1] [--out reports/bench-search]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from pipeline.cli.main import main as cli


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", default="30")
    parser.add_argument("--workers", default="1")
    parser.add_argument("--out", default="reports/bench-search")
    args = parser.parse_args()
    t0 = time.perf_counter()
    rc = cli(
        [
            "search",
            "--trials",
            args.trials,
            "--workers",
            args.workers,
            "--out",
            args.out,
            "--overwrite",
            "--no-progress",
        ]
    )
    wall = time.perf_counter() - t0
    if rc:
        raise SystemExit(rc)
    out = Path(args.out)
    trials = pd.read_csv(out / "trials.csv")
    summary = json.loads((out / "search.json").read_text())
    done = trials[trials.state == "complete"]
    print(
        f"search --trials {args.trials} --workers {args.workers}: {wall:.0f} s wall; trials by state "
        f"{trials.state.value_counts().to_dict()}; median complete trial {done.seconds.median():.1f} s "
        f"(max {done.seconds.max():.1f} s); chosen trial {summary['best_trial']} ({summary['best_params'].get('model')}), "
        f"held-back verdicts: {' | '.join(summary['holdout_verdicts'])}"
    )


if __name__ == "__main__":
    main()
