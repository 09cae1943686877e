"""The one-screen answer of a finished run, read from its ``metrics.json``: the verdict table (one row per
horizon, for the Python API's ``RunResult.verdicts``) and the lines the command line prints by default. The full
sentences (the verdict, the power statement, every importance finding) stay in the report and ``metrics.json``,
and the command line prints them with ``-v``."""

from __future__ import annotations

import pandas as pd

from pipeline.evaluation.verdicts import short_verdict, window_sentence
from pipeline.labels import label


def verdict_table(metrics: dict) -> pd.DataFrame:
    """One row per horizon of a run's ``metrics.json``: the headline metric, the model's value, the comparator and
    its value, the edge with its unadjusted 95% interval, p, Holm p, the smallest edge the test detects at 80%
    power, the skill flag, the short verdict, and the sentences."""
    rows = []
    for e in metrics.get("horizon_results", []):
        head, comp = e["headline_metric"], e["comparator"]
        edge = e["edge"]
        rows.append(
            {
                "horizon": e["horizon"],
                "metric": head,
                "model": e["model"].get(head),
                "comparator": comp,
                "comparator_value": (e["baselines"].get(comp) or {}).get(head),
                "edge": edge["mean"],
                "ci_low": edge["ci_low"],
                "ci_high": edge["ci_high"],
                "p": edge["p_value"],
                "p_holm": edge.get("p_holm"),
                "detectable": edge.get("mde_family", edge.get("mde")),
                "skill": bool(e["skill"]),
                "answer": short_verdict(e),
                "verdict": e.get("verdict", ""),
                "power": e.get("power", ""),
            }
        )
    return pd.DataFrame(rows)


def _comparators(entries: list[dict]) -> tuple[dict[int, str], list[str]]:
    """Per horizon the comparator's short name, and the footnotes of per-fold comparators."""
    names, notes = {}, []
    for e in entries:
        by_fold = e.get("comparator_by_fold") or {}
        if e["comparator"] == "per_fold" and by_fold:
            notes.append(", ".join(f"{label(k)} ({f})" for f, k in by_fold.items()))
            names[e["horizon"]] = f"per fold [{len(notes)}]"
        else:
            names[e["horizon"]] = label(e["comparator"])
    return names, notes


def screen(metrics: dict) -> list[str]:
    """The default output of ``run`` after the report's path: a table of the verdicts, what it is measured in,
    then only what changes the reading (the window sentence, the ledger, covariate shift, the strategy, the
    importance findings where the model has skill)."""
    entries = list(metrics.get("horizon_results", []))
    if not entries:
        return []
    clf = entries[0]["headline_metric"] in ("accuracy",)
    scale = 100.0 if clf else 1.0
    names, notes = _comparators(entries)
    who = entries[0].get("model_name", "LSTM")
    head = entries[0]["headline_metric"]
    cw = max(len("comparator"), *(len(n) + 8 for n in names.values()))
    lines = [
        f"  {'h':>3}  {who:>{max(len(who), 7)}}  {'comparator':<{cw}}  {'edge [95% CI]':<23}  {'p':>6}  "
        f"{'Holm p':>6}  {'detects':>7}  answer"
    ]
    for e in entries:
        edge, b = e["edge"], e["baselines"][e["comparator"]][head]
        fmt = (lambda x: f"{scale * x:+.2f}") if clf else (lambda x: f"{x:+.3g}")
        ci = f"{fmt(edge['mean'])} [{fmt(edge['ci_low'])}, {fmt(edge['ci_high'])}]"
        holm = edge.get("p_holm", edge["p_value"])
        mde = edge.get("mde_family", edge.get("mde", float("nan")))
        lines.append(
            f"  {e['horizon']:>3}  {e['model'][head]:>{max(len(who), 7)}.4g}  "
            f"{f'{b:.4g} ' + names[e['horizon']]:<{cw}}  {ci:<23}  {edge['p_value']:>6.2g}  {holm:>6.2g}  "
            f"{'≥ ' + (f'{scale * mde:.1f}' if clf else f'{mde:.2g}'):>7}  {short_verdict(e)}"
        )
    n_days = entries[0].get("n_days")
    days = f" on {n_days:,} test days" if n_days else ""
    lines.append(
        f"  {label(head)}{days}; edge: {'accuracy points' if clf else 'MSE reduction'} over the comparator, the "
        "baseline best on each fold's validation days"
    )
    holm = (
        f"the CI is unadjusted and the answer follows the Holm p over the {len(entries)} horizons; "
        if len(entries) > 1
        else ""
    )
    lines.append(f"  {holm}detects: the smallest edge the test finds at 80% power")
    lines += [f"  [{i}] per fold: {n}" for i, n in enumerate(notes, 1)]
    for e in entries:
        window = window_sentence(e).strip()
        if window:
            lines.append(f"  h={e['horizon']}: {window}")
    return lines
