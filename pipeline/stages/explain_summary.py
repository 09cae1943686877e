"""The explain stage's conclusions in words: the skill gate and the groups that clear their floors
(:func:`findings`, also in ``metrics.json``), and the lead of ``importance.html`` (:func:`conclusions`):
agreement between methods, how far back the model looks, correlation clusters, the sanity checks of the
gradient attributions and importance by test period."""
from __future__ import annotations

import numpy as np
import pandas as pd

from explain import agreement, clusters as clustering, temporal
from pipeline.evaluation.importance_tests import period_sentences
from pipeline.labels import label
from pipeline.labels import fmt as _fmt
from pipeline.stages.results import Explanation, Prepared


def lag_shares(res: Explanation, j: int) -> np.ndarray | None:
    """(T,) expected-gradients mass per lag for horizon index ``j`` over every explained window."""
    if not res.shap_results:
        return None
    return temporal.lag_mass(np.concatenate([r.phi[..., j:j + 1] for r in res.shap_results]), 0)


def block_totals(res: Explanation, h: int) -> dict[str, float]:
    """Lag block -> permutation loss increase summed over groups at horizon ``h``."""
    out: dict[str, float] = {}
    for i in res.lag_items:
        if i.horizon == h:
            out[i.block] = out.get(i.block, 0.0) + i.value
    return out


def findings(exp: Prepared, res: Explanation) -> list[str]:
    """The CLI's and the report's summary, skill gate first: per horizon, whether importances may be read
    as findings about the market, and which groups clear the floor under which methods."""
    table = res.table()
    lines = []
    for h in exp.cfg.horizons:
        part = table[table.horizon == h]
        if part.empty:
            continue
        floored = [m for m in part.method.unique() if part[part.method == m]["clears_floor"].notna().any()]
        cleared = {m: sorted(part[(part.method == m) & (part.clears_floor == True)]["group"]) for m in floored}  # noqa: E712
        tested = [m for m in ("permutation", "ablation_retrain") if m in cleared]
        over = "; ".join(f"{label(m)}: {', '.join(g) if g else 'none'}" for m, g in cleared.items())
        if not res.skill.get(h, False):
            lines.append(f"h={h}: no skill over the comparator, so these importances describe what the model uses, not what "
                         f"predicts the market. Above the noise floor — {over}.")
            continue
        agreed = set.intersection(*(set(cleared[m]) for m in tested)) if tested else set()
        lines.append(f"h={h}: the model has skill. Groups above the noise floor — {over}."
                     + (f" Confirmed on test days by {' and '.join(map(label, tested))}: {', '.join(sorted(agreed))}." if agreed else
                        " No group clears the floor of the test-day ablations." if tested else ""))
    return lines


def conclusions(exp: Prepared, res: Explanation) -> dict[str, list[str]]:
    """The report's lead, in sentences: ``skill`` (the gate and the groups that clear their floors),
    ``agreement``, ``lags``, ``clusters``, ``sanity``, ``periods``."""
    table = res.table()
    out: dict[str, list[str]] = {"skill": findings(exp, res), "agreement": [], "lags": [], "clusters": [],
                                 "sanity": [], "periods": []}
    for j, h in enumerate(exp.cfg.horizons):
        out["agreement"] += _agreement_line(table, h)
        line = temporal.reliance_sentence(h, lag_shares(res, j), block_totals(res, h) or None)
        if line:
            out["lags"].append(line)
        for method in ("permutation", "ablation_retrain"):  # the methods whose floor is a loss, testable per period
            out["periods"] += period_sentences(res.items, method, h)
    if res.clusters is not None:
        cl = res.clusters
        out["clusters"].append(f"{len(exp.ws.columns)} features form {cl.k} correlation clusters on the training rows "
                               f"(silhouette {_fmt(cl.silhouette, 2)}); {len(cl.cross_group())} of them span several groups.")
        out["clusters"] += clustering.cluster_sentences(cl, list(exp.ws.columns))
        cleared = []
        for h in exp.cfg.horizons:
            for method in ("permutation", "lstm_shap"):
                above = [i.group for i in sorted(res.cluster_items, key=lambda i: -i.value)
                         if i.horizon == h and i.method == method and i.clears]
                if above:
                    cleared.append(f"h={h}, {label(method)}: {', '.join(above)}")
        if res.cluster_items:
            out["clusters"].append("Clusters above their floor — " + "; ".join(cleared) + "." if cleared else
                                   "No cluster clears its floor under permutation or expected gradients at any horizon.")
    for row in res.sanity:
        name = label(row["method"])
        if row["passed"] is None:
            continue
        verdict = ("passes the model-randomisation check" if row["passed"] else
                   "FAILS the model-randomisation check: its attributions barely change when the weights are re-initialised")
        ref = next((r["infidelity"] for r in res.sanity if r["passed"] is None), float("nan"))
        out["sanity"].append(f"{name} {verdict} (signed rank correlation with a re-initialised LSTM {_fmt(row['signed_rho'], 2)}, "
                             f"{row['windows']} windows); infidelity {row['infidelity']:.3g} vs {ref:.3g} for random attributions "
                             f"({'more' if row['infidelity'] < ref else 'not more'} faithful than random).")
    return out


def _agreement_line(table: pd.DataFrame, h: int) -> list[str]:
    """One sentence: which group the methods put first, and their mean rank agreement (Kendall tau)."""
    ranks = agreement.rank_matrix(table, h)
    if ranks.empty:
        return []
    tops = pd.Series({m: ranks[m].idxmin() for m in ranks.columns})
    counts = tops.value_counts()
    corr = agreement.method_correlations(table, h).to_numpy()
    off = corr[~np.eye(len(corr), dtype=bool)]
    tau = f"; mean Kendall τ between methods {np.nanmean(off):.2f}" if np.isfinite(off).any() else ""
    if len(counts) == 1:
        return [f"h={h}: every method ranks {counts.index[0]} first{tau}."]
    return [f"h={h}: the methods disagree on the top group ({', '.join(f'{g}: {n}' for g, n in counts.items())} of "
            f"{len(tops)} methods){tau}; see the horizon's section."]
