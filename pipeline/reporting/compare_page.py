"""Render a comparison's ``index.html``: first the set x horizon matrix of differences against the
reference set (the first of ``--features``) with intervals and Holm significance marks, then the ranking
(baselines included) and one sentence per pair, then bar charts with intervals, per-fold lines, metric
tables per horizon (pooled and per symbol), and the paired tests."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.reporting.figures import BLUE, GREY, WIDE, to_data_uri  # noqa: E402
from pipeline.evaluation.inference import ALPHA, outcome  # noqa: E402
from pipeline.labels import label, target_label  # noqa: E402
from pipeline.io import atomic_dir
from pipeline.labels import fmt as _fmt, model_label
from pipeline.reporting.run_page import render_template  # noqa: E402


def difference_matrix(summary: dict) -> dict:
    """Rows: every set but the reference, then the comparator baseline; columns: horizons; cells: row −
    reference on the headline metric (accuracy points, or MSE), its 95% interval over test days, and ★
    when significant after Holm over every pair and horizon."""
    tests, sets = summary["tests"], summary["feature_sets"]
    ref, clf = sets[0], summary["headline_metric"] == "accuracy"
    scale = 100 if clf else 1
    num = (lambda x: f"{round(scale * x, 1) + 0.0:+.1f}") if clf else (lambda x: f"{x + 0.0:+.3g}")  # noqa: E731 (no "-0.0")

    def cell(row, sign: int) -> dict:
        d, lo, hi = sign * row["diff"], *sorted((sign * row["ci_low"], sign * row["ci_high"]))
        verdict = outcome(d if clf else -d, row["p_holm"])  # accuracy: higher is better; MSE: lower
        return {
            "value": num(d),
            "ci": f"[{num(lo)}, {num(hi)}]",
            "star": "" if verdict == "none" else "★",
            "css": {"better": "good", "worse": "bad", "none": ""}[verdict],
            "note": "",
            "p": f"p_holm = {row['p_holm']:.3g}",
        }

    rows = []
    for spec in sets[1:]:
        cells = [
            cell(tests[(tests.horizon == h) & (tests.set_a == spec) & (tests.set_b == ref)].iloc[0], 1)
            for h in summary["horizons"]
        ]
        rows.append({"name": spec, "cells": cells, "baseline": False})
    comps = summary["comparators"]
    described = summary.get("comparators_described", {})
    cells = []
    for h in summary["horizons"]:
        row = tests[(tests.horizon == h) & (tests.set_a == ref) & (tests.set_b == f"baseline:{comps[str(h)]}")].iloc[0]
        cells.append({**cell(row, -1), "note": described.get(str(h), label(comps[str(h)]))})
    names = sorted({described.get(str(h), label(comps[str(h)])) for h in summary["horizons"]})
    rows.append(
        {
            "name": f"comparator baseline, chosen per fold on validation days ({'; '.join(names)})",
            "cells": cells,
            "baseline": True,
        }
    )
    unit = "accuracy points, higher is better" if clf else "MSE, lower is better"
    stars = [
        (r["name"], h, c)
        for r in rows
        if not r["baseline"]
        for h, c in zip(summary["horizons"], r["cells"])
        if c["star"]
    ]
    vs_base = tests[tests.set_b.str.startswith("baseline:") & (tests.p_holm < ALPHA)]
    pts = "points" if clf else "in MSE"
    parts = []
    if stars:
        parts.append(
            f"against {ref}, significant after Holm: "
            + "; ".join(
                f"{name} at h={h} ({c['value']} {pts}, {'better' if c['css'] == 'good' else 'worse'})"
                for name, h, c in stars
            )
        )
    else:
        parts.append(f"no set differs significantly from {ref} at any horizon (Holm over every pair and horizon)")
    if len(vs_base):
        parts.append(
            "against the comparator baseline: "
            + "; ".join(
                f"{r.set_a} {outcome(r.diff if clf else -r.diff, r.p_holm)} at h={r.horizon}"
                for r in vs_base.itertuples()
            )
        )
    else:
        parts.append("no set differs significantly from the comparator baseline")
    headline = parts[0][0].upper() + "; ".join(parts)[1:] + "."
    return {
        "reference": ref,
        "rows": rows,
        "headline": headline,
        "horizons": [target_label(summary["target"], h) for h in summary["horizons"]],
        "unit": unit,
    }


def _bar(table, h: int, head: str) -> str:
    part = table[(table.horizon == h) & (table.metric == head) & (table.symbol == "all")]
    fig, ax = plt.subplots(figsize=(WIDE, 0.42 * len(part) + 1.3))
    y = np.arange(len(part))
    colors = [GREY if s.startswith("baseline:") else BLUE for s in part.feature_set]
    ax.barh(y, part["mean"], xerr=[part["mean"] - part.ci_low, part.ci_high - part["mean"]], color=colors, capsize=3)
    ax.set_yticks(y, [label(s) for s in part.feature_set])
    lo = min(part.ci_low.min(), part["mean"].min())
    hi = max(part.ci_high.max(), part["mean"].max())
    pad = (hi - lo) * 0.2 + 1e-9
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_xlabel(label(head))
    ax.set_title(f"{h}-day horizon: {label(head)} by feature set (grey: baselines), 95% intervals")
    return to_data_uri(fig)


def _lines(units: dict, sets: list[str], h: int, n_folds: int, n_seeds: int, head: str) -> str:
    fig, ax = plt.subplots(figsize=(WIDE, 3.2))
    for spec in sets:
        vals = np.array(units.get(f"all|{spec}|{h}", []))
        if len(vals) == n_folds * n_seeds:
            per_fold = vals.reshape(n_folds, n_seeds).mean(axis=1)
            ax.plot(range(1, n_folds + 1), per_fold, marker="o", label=spec)
    ax.set_xticks(range(1, n_folds + 1))
    ax.set_xlabel("fold")
    ax.set_ylabel(label(head))
    ax.set_title(f"{h}-day horizon: {label(head)} per fold (mean over seeds; stability, not evidence)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return to_data_uri(fig)


def render_compare_report(summary: dict, run_id: str, index_href: str | None = None, matrix: dict | None = None) -> str:
    """``matrix``: :func:`difference_matrix` of ``summary`` when the caller already has it."""
    table, tests, head = summary["table"], summary["tests"], summary["headline_metric"]
    clf = head == "accuracy"
    sets = summary["feature_sets"]
    metrics = list(dict.fromkeys(table.metric))
    blocks = []
    for h in summary["horizons"]:
        for scope in dict.fromkeys(table.symbol):
            part = table[(table.horizon == h) & (table.symbol == scope)]
            rows = []
            for name in dict.fromkeys(part.feature_set):
                cells = []
                for m in metrics:
                    r = part[(part.feature_set == name) & (part.metric == m)].iloc[0]
                    cells.append({"v": _fmt(r["mean"]), "ci": f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]"})
                rows.append({"name": name, "cells": cells})
            blocks.append(
                {
                    "title": f"{h}-day horizon, {'all symbols pooled' if scope == 'all' else 'symbol ' + scope}",
                    "metrics": metrics,
                    "rows": rows,
                }
            )
    n_folds, n_seeds = len(summary["folds"]), len(summary["seeds"])
    return render_template(
        "compare.html",
        title=(
            f"{', '.join(summary['symbols'])}: which model family does best on {summary['target']}?"
            if len(summary.get("models", [])) > 1 and len(summary.get("cells", [])) == len(summary["models"])
            else f"{', '.join(summary['symbols'])}: which feature set helps the "
            f"{' and the '.join(model_label(m) for m in summary.get('models', ['lstm']))} on {summary['target']}?"
        ),
        created=summary["created"],
        target=summary["target"],
        n_test=summary["n_test"],
        seeds=", ".join(map(str, summary["seeds"])),
        executor=summary["executor"],
        wall=f"{summary['wall_seconds']:.0f} s",
        ranking=[(h, order) for h, order in summary["ranking"].items()],
        head=head,
        matrix=matrix or difference_matrix(summary),
        verdicts=[
            {
                "text": v,
                "css": {"better": "good", "worse": "bad", "none": ""}[outcome(t.diff if clf else -t.diff, t.p_holm)],
            }  # one sentence per test row, in its order
            for v, t in zip(summary["verdicts"], tests.itertuples(), strict=True)
        ],
        nav=([{"href": index_href, "text": "all reports"}] if index_href else [])
        + [{"href": None, "text": "comparison"}],
        comparators=", ".join(
            f"h={h}: {summary.get('comparators_described', {}).get(h, label(c))}"
            for h, c in summary["comparators"].items()
        ),
        bars=[_bar(table, h, head) for h in summary["horizons"]],
        lines=[_lines(summary["units"], sets, h, n_folds, n_seeds, head) for h in summary["horizons"]],
        tables=blocks,
        folds=summary["folds"],
        ledger=[a["sentence"] for a in summary.get("ledger") or []],
        tests=[
            {
                "horizon": t.horizon,
                "set_a": t.set_a,
                "set_b": t.set_b,
                "test": t.test,
                "metric": t.metric,
                "diff": _fmt(t.diff, 3),
                "ci": f"[{_fmt(t.ci_low, 3)}, {_fmt(t.ci_high, 3)}]",
                "p": _fmt(t.p_value, 3),
                "ph": _fmt(t.p_holm, 3),
                "mde": _fmt(t.mde, 3),
            }
            for t in tests.itertuples()
        ],
    )


def write_compare(out_dir: Path, summary: dict, overwrite: bool = False, publication: str | None = None) -> None:
    """``compare.csv``, ``compare_tests.csv``, ``compare.json`` and ``index.html`` into ``out_dir``, atomically."""
    from pipeline.reporting.index import index_href, update_index

    table, tests = summary["table"], summary["tests"]
    with atomic_dir(out_dir, "compare", overwrite=overwrite, publication=publication) as tmp:
        table.to_csv(tmp / "compare.csv", index=False)
        tests[
            [
                "horizon",
                "set_a",
                "set_b",
                "metric",
                "diff",
                "p_value",
                "p_holm",
                "test",
                "ci_low",
                "ci_high",
                "mde",
                "n_days",
            ]
        ].to_csv(tmp / "compare_tests.csv", index=False)
        meta = {k: v for k, v in summary.items() if k not in ("table", "tests", "differentials", "dataset")}
        matrix = difference_matrix(summary)
        meta["headline"] = matrix["headline"]  # the page's one-sentence answer, for the index
        (tmp / "compare.json").write_text(json.dumps(meta, indent=2, default=float))
        (tmp / "index.html").write_text(render_compare_report(summary, out_dir.name, index_href(out_dir), matrix))
    update_index(out_dir.parent)
