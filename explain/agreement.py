"""Agreement between methods: each group's rank under every method, Kendall's tau between methods'
rankings, and each method's stability (mean Kendall tau between its rankings from different folds and
seeds). Rank 1 = most important."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from explain.common import Importance


def importance_table(items: list[Importance]) -> pd.DataFrame:
    """Rows ``horizon, group, method, value, ci_low, ci_high, rank, floor, p_holm, clears_floor, basis``
    (rank within horizon and method)."""
    cols = [
        "horizon",
        "group",
        "method",
        "value",
        "ci_low",
        "ci_high",
        "rank",
        "floor",
        "p_holm",
        "clears_floor",
        "basis",
    ]
    df = pd.DataFrame(
        [
            {
                "horizon": i.horizon,
                "group": i.group,
                "method": i.method,
                "value": i.value,
                "ci_low": i.ci_low,
                "ci_high": i.ci_high,
                "floor": i.floor,
                "p_holm": i.p_value,
                "clears_floor": i.clears,
                "basis": i.basis,
            }
            for i in items
        ]
    )
    if df.empty:
        return pd.DataFrame(columns=cols)
    df["rank"] = df.groupby(["horizon", "method"])["value"].rank(ascending=False, method="min").astype(int)
    return df.sort_values(["horizon", "method", "rank", "group"]).reset_index(drop=True)[cols]


def rank_matrix(table: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """group x method ranks for one horizon."""
    part = table[table["horizon"] == horizon]
    return part.pivot(index="group", columns="method", values="rank")


def method_correlations(table: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Kendall tau between every pair of methods' values on one horizon."""
    part = table[table["horizon"] == horizon].pivot(index="group", columns="method", values="value")
    methods = list(part.columns)
    out = pd.DataFrame(np.eye(len(methods)), index=methods, columns=methods)
    for a, b in combinations(methods, 2):
        tau = kendalltau(part[a], part[b]).statistic if len(part) > 1 else np.nan
        out.loc[a, b] = out.loc[b, a] = tau
    return out


def stability(items: list[Importance]) -> pd.DataFrame:
    """Per method and horizon: mean Kendall tau between the group rankings of its (fold, seed) units."""
    rows = []
    keyed: dict[tuple[str, int], dict[str, dict[str, float]]] = {}
    for i in items:
        for unit, v in i.units.items():
            keyed.setdefault((i.method, i.horizon), {}).setdefault(unit, {})[i.group] = v
    for (method, h), units in keyed.items():
        frames = pd.DataFrame(units)  # group x unit
        taus = [kendalltau(frames[a], frames[b]).statistic for a, b in combinations(frames.columns, 2)]
        taus = [t for t in taus if np.isfinite(t)]
        rows.append(
            {
                "method": method,
                "horizon": h,
                "units": frames.shape[1],
                "stability_tau": float(np.mean(taus)) if taus else np.nan,
            }
        )
    return pd.DataFrame(rows)


def disagreements(table: pd.DataFrame, horizon: int, name=str) -> list[str]:
    """Plain sentences about where methods disagree on the top group; ``name`` maps a method's key to the
    words a report shows (e.g. ``lstm_shap`` -> "expected gradients")."""
    ranks = rank_matrix(table, horizon)
    if ranks.empty:
        return []
    tops = {m: ranks[m].idxmin() for m in ranks.columns}
    distinct = sorted(set(tops.values()))
    if len(distinct) == 1:
        return [f"h={horizon}: every method ranks '{distinct[0]}' first."]
    lines = [
        f"h={horizon}: the methods disagree on the most important group: "
        + "; ".join(f"{name(m)} → {g}" for m, g in tops.items())
        + "."
    ]
    corr = method_correlations(table, horizon)
    low = [
        (a, b, corr.loc[a, b])
        for a, b in combinations(corr.columns, 2)
        if np.isfinite(corr.loc[a, b]) and corr.loc[a, b] < 0.2
    ]
    if low:
        lines.append(
            "Weak or negative rank agreement (Kendall τ < 0.2) between: "
            + ", ".join(f"{name(a)} and {name(b)} (τ={t:.2f})" for a, b, t in low)
            + "."
        )
    return lines
