"""Render a comparison's ``index.html``: ranking and verdicts, bar chart with intervals, per-fold lines,
metric tables per horizon (pooled and per symbol), and the paired tests."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.figures import to_data_uri  # noqa: E402
from pipeline.report import _fmt, render_template  # noqa: E402


def _bar(table, h: int, head: str) -> str:
    part = table[(table.horizon == h) & (table.metric == head) & (table.symbol == "all")]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(part) + 1.2))
    y = np.arange(len(part))
    colors = ["#999" if s.startswith("baseline:") else "tab:blue" for s in part.feature_set]
    ax.barh(y, part["mean"], xerr=[part["mean"] - part.ci_low, part.ci_high - part["mean"]], color=colors, capsize=3)
    ax.set_yticks(y, part.feature_set)
    lo = min(part.ci_low.min(), part["mean"].min())
    hi = max(part.ci_high.max(), part["mean"].max())
    pad = (hi - lo) * 0.2 + 1e-9
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_xlabel(head); ax.set_title(f"h={h}: {head} by feature set (grey: baselines)")
    return to_data_uri(fig)


def _lines(units: dict, sets: list[str], h: int, n_folds: int, n_seeds: int, head: str) -> str:
    fig, ax = plt.subplots(figsize=(7, 2.8))
    for spec in sets:
        vals = np.array(units.get(f"all|{spec}|{h}", []))
        if len(vals) == n_folds * n_seeds:
            per_fold = vals.reshape(n_folds, n_seeds).mean(axis=1)
            ax.plot(range(1, n_folds + 1), per_fold, marker="o", label=spec)
    ax.set_xticks(range(1, n_folds + 1)); ax.set_xlabel("fold"); ax.set_ylabel(head)
    ax.set_title(f"h={h}: {head} per fold (mean over seeds)"); ax.legend(fontsize=7)
    return to_data_uri(fig)


def render_compare_report(summary: dict, run_id: str) -> str:
    table, tests, head = summary["table"], summary["tests"], summary["headline_metric"]
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
            blocks.append({"title": f"h={h}, {'all symbols pooled' if scope == 'all' else 'symbol ' + scope}",
                           "metrics": metrics, "rows": rows})
    n_folds, n_seeds = len(summary["folds"]), len(summary["seeds"])
    return render_template(
        "compare.html", title=f"{', '.join(summary['symbols'])}: which feature set helps the LSTM on {summary['target']}?",
        created=summary["created"], target=summary["target"], n_test=summary["n_test"],
        seeds=", ".join(map(str, summary["seeds"])), executor=summary["executor"], wall=f"{summary['wall_seconds']:.0f} s",
        ranking=[(h, " > ".join(order)) for h, order in summary["ranking"].items()], head=head,
        verdicts=[{"text": v, "css": "sig" if v.endswith("significantly better.") else ""} for v in summary["verdicts"]],
        comparators=", ".join(f"h={h}: {c}" for h, c in summary["comparators"].items()),
        bars=[_bar(table, h, head) for h in summary["horizons"]],
        lines=[_lines(summary["units"], sets, h, n_folds, n_seeds, head) for h in summary["horizons"]],
        tables=blocks, folds=summary["folds"],
        tests=[{"horizon": t.horizon, "set_a": t.set_a, "set_b": t.set_b, "test": t.test, "metric": t.metric,
                "diff": _fmt(t.diff, 3), "ci": f"[{_fmt(t.ci_low, 3)}, {_fmt(t.ci_high, 3)}]", "p": _fmt(t.p_value, 3),
                "ph": _fmt(t.p_holm, 3), "mde": _fmt(t.mde, 3)} for t in tests.itertuples()],
    )
