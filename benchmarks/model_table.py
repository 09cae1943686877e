"""The model table of docs/models.md: does the LSTM beat other networks, on this project's own data?

Like Qlib's benchmark tables (every model on the same data, several seeds), but through featureproof's
``compare --models``: every family on the same features, purged walk-forward folds, seeds and test days,
seed ensembles, the same baselines and comparator rule as ``run``, Diebold-Mariano tests with one Holm
family over every pair and every family against the comparator x horizons. Two panels:

* SP500, ``--target direction``, h = 1, 5, 10: accuracy of the seed ensemble with its 95% interval over
  test days; the verdict against the comparator (compare's Holm family); the DM test against the LSTM.
* SP20 (close-only panel of 20 stocks), ``--target xs_direction``, h = 5: accuracy, and the daily Rank IC
  of each family's score with its 95% interval (HAR over dates).

Training time: seconds summed over fold x seed units (CPU, one thread per job); on a busy machine it says
little (``benchmarks/bench_trainer.py`` measures each family's throughput on a quiet one). Writes both
comparisons under ``reports/`` and prints the markdown table.

    python benchmarks/model_table.py [--seeds 5] [--jobs 2] [--models lstm,gru,...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from pipeline.cli.main import main as cli
from pipeline.config.schema import FAMILY_NAMES
from pipeline.evaluation.inference import ALPHA
from pipeline.labels import label, model_label

PANELS = {
    "sp500": (["--source", "sample", "--target", "direction", "--horizons", "1,5,10"], "SP500 direction"),
    "sp20": (
        [
            "--source",
            "sample",
            "--symbols",
            "SP20",
            "--target",
            "xs_direction",
            "--horizons",
            "5",
            "--start",
            "2014-01-01",
        ],
        "SP20 xs_direction",
    ),
}


def verdict(tests: pd.DataFrame, name: str, h: int) -> str:
    row = tests[(tests.horizon == h) & (tests.set_a == name) & tests.set_b.str.startswith("baseline:")].iloc[0]
    comp = label(row.set_b.split(":", 1)[1])
    if row.p_holm < ALPHA:
        better = "better" if row["diff"] > 0 else "worse"
        return f"{better} than {comp} (p_holm {row.p_holm:.2g})"
    return f"no skill over {comp} (p_holm {row.p_holm:.2g})"


def versus_lstm(tests: pd.DataFrame, name: str, h: int) -> str:
    if name == "lstm":
        return "—"
    row = tests[
        (tests.horizon == h)
        & (((tests.set_a == name) & (tests.set_b == "lstm")) | ((tests.set_a == "lstm") & (tests.set_b == name)))
    ].iloc[0]
    diff = 100 * (row["diff"] if row.set_a == name else -row["diff"])
    return f"{diff:+.2f} pts, p_holm {row.p_holm:.2g}" + (" ★" if row.p_holm < ALPHA else "")


def table(folder: Path, panel: str) -> list[str]:
    meta = json.loads((folder / "compare.json").read_text())
    tests = pd.read_csv(folder / "compare_tests.csv")
    cdf = pd.read_csv(folder / "compare.csv")
    lines = []
    for h in meta["horizons"]:
        for name in meta["feature_sets"]:
            acc = cdf[
                (cdf.feature_set == name) & (cdf.symbol == "all") & (cdf.horizon == h) & (cdf.metric == "accuracy")
            ].iloc[0]
            ric = ""
            xs = meta["views"][name].get("cross_section") or []
            xs = next((x for x in xs if x["horizon"] == h), None)
            if xs:
                r = xs["scores"][xs["model"]]["rank_ic"]
                ric = f"{r['mean']:+.4f} [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]"
            lines.append(
                f"| {panel} | {h} | {model_label(name)} | {acc['mean']:.4f} [{acc.ci_low:.4f}, {acc.ci_high:.4f}] | "
                f"{ric or '—'} | {verdict(tests, name, h)} | {versus_lstm(tests, name, h)} | "
                f"{meta['cell_seconds'][name]:.0f} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="5")
    parser.add_argument("--jobs", default="2")
    parser.add_argument("--models", default=",".join(FAMILY_NAMES))
    parser.add_argument("--panels", default="sp500,sp20")
    parser.add_argument("--out", default="reports")
    args = parser.parse_args()
    rows = [
        "| data | h | family | accuracy [95% CI] | Rank IC [95% CI] | against the comparator | against the LSTM (DM) | "
        "training s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in args.panels.split(","):
        flags, panel = PANELS[key]
        folder = Path(args.out) / f"model-table-{key}"
        rc = cli(
            [
                "compare",
                *flags,
                "--models",
                args.models,
                "--seeds",
                args.seeds,
                "--jobs",
                args.jobs,
                "--no-progress",
                "--out",
                str(folder),
                "--overwrite",
            ]
        )
        if rc:
            raise SystemExit(rc)
        rows += table(folder, panel)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
