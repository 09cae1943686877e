"""The explain stage's conclusions in words: the skill gate and the groups that clear their floors
(:func:`findings`, also in ``metrics.json``), and the lead of ``importance.html`` (:func:`conclusions`):
agreement between methods, how far back the model looks, correlation clusters, the sanity checks of the
gradient attributions and importance by test period."""

from __future__ import annotations

import numpy as np
import pandas as pd

from explain import agreement, clusters as clustering, temporal
from pipeline.evaluation.importance_tests import period_sentences
from pipeline.labels import label, model_label
from pipeline.labels import fmt as _fmt
from pipeline.stages.results import Explanation, Prepared


def lag_shares(res: Explanation, j: int) -> np.ndarray | None:
    """(T,) expected-gradients mass per lag for horizon index ``j`` over every explained window."""
    if not res.shap_results:
        return None
    return temporal.lag_mass(np.concatenate([r.phi[..., j : j + 1] for r in res.shap_results]), 0)


def block_totals(res: Explanation, h: int) -> dict[str, float]:
    """Lag block -> permutation loss increase summed over groups at horizon ``h``."""
    out: dict[str, float] = {}
    for i in res.lag_items:
        if i.horizon == h:
            out[i.block] = out.get(i.block, 0.0) + i.value
    return out


CLAIMS = ("conditional_permutation", "ablation_retrain")  # "carries information the other groups do not"
# the rest describe the model: what it relies on (permutation), where its attributions align with outcomes
MEASURES = {
    "conditional_permutation": "carries information the other groups do not (the loss rises when only the part of the "
    "group that the other groups do not predict is shuffled)",
    "ablation_retrain": "carries information the other groups do not (a model retrained without it loses)",
    "permutation": "the model relies on it (the loss rises when its windows are shuffled; a correlated group the model "
    "offsets against it clears this too, so it is no evidence about the market)",
    "lstm_shap": "its expected-gradient attributions move with the outcomes",
    "integrated_gradients": "its integrated-gradient attributions move with the outcomes",
    "tree_shap": "LightGBM's TreeSHAP attributions for it move with the outcomes and beat its shadows",
}


def findings(exp: Prepared, res: Explanation) -> list[str]:
    """The CLI's and the report's summary, skill gate first. Per horizon: the groups that carry information
    the other groups do not (conditional permutation, drop-and-retrain: the only claims about the market,
    and only where the model has skill), then what the model relies on (the other methods' groups above
    their floors: a description of the model)."""
    table = res.table()
    lines = []
    for h in exp.cfg.horizons:
        part = table[table.horizon == h]
        if part.empty:
            continue
        floored = [m for m in part.method.unique() if part[part.method == m]["clears_floor"].notna().any()]
        cleared = {m: sorted(part[(part.method == m) & (part.clears_floor == True)]["group"]) for m in floored}  # noqa: E712
        claims = [m for m in CLAIMS if m in cleared]
        names = lambda ms: "; ".join(f"{label(m)}: {', '.join(cleared[m]) if cleared[m] else 'none'}" for m in ms)  # noqa: E731
        relies = [m for m in cleared if m not in CLAIMS]
        described = f" The model relies on — {names(relies)}." if relies else ""
        if not res.skill.get(h, False):
            lines.append(
                f"h={h}: no skill over the comparator, so no group is a finding about the market; these importances "
                f"describe what the model uses, not what predicts the market. Beyond the other groups — "
                f"{names(claims) if claims else 'not tested'}.{described}"
            )
            continue
        agreed = set.intersection(*(set(cleared[m]) for m in claims)) if claims else set()
        found = (
            f"Carries information the other groups do not — {names(claims)}."
            if claims
            else "No test of what a group holds beyond the others was run (use --ablation permute or both)."
        )
        both = f" Confirmed by both: {', '.join(sorted(agreed))}." if len(claims) > 1 and agreed else ""
        lines.append(f"h={h}: the model has skill. {found}{both}{described}")
    return lines


def conclusions(exp: Prepared, res: Explanation) -> dict[str, list[str]]:
    """The report's lead, in sentences: ``skill`` (the gate and the groups that clear their floors),
    ``agreement``, ``lags``, ``clusters``, ``sanity``, ``periods``."""
    table = res.table()
    out: dict[str, list[str]] = {
        "skill": findings(exp, res),
        "agreement": [],
        "lags": [],
        "clusters": [],
        "sanity": [],
        "periods": [],
    }
    for j, h in enumerate(exp.cfg.horizons):
        out["agreement"] += _agreement_line(table, h)
        line = temporal.reliance_sentence(h, lag_shares(res, j), block_totals(res, h) or None)
        if line:
            out["lags"].append(line)
        for method in (
            "conditional_permutation",
            "permutation",
            "ablation_retrain",
        ):  # floors that are losses: per period
            out["periods"] += period_sentences(res.items, method, h)
    if res.clusters is not None:
        cl = res.clusters
        out["clusters"].append(
            f"{len(exp.ws.columns)} features form {cl.k} correlation clusters on the training rows "
            f"(silhouette {_fmt(cl.silhouette, 2)}); {len(cl.cross_group())} of them span several groups."
        )
        out["clusters"] += clustering.cluster_sentences(cl, list(exp.ws.columns))
        cleared = []
        for h in exp.cfg.horizons:
            for method in ("permutation", "lstm_shap"):
                above = [
                    i.group
                    for i in sorted(res.cluster_items, key=lambda i: -i.value)
                    if i.horizon == h and i.method == method and i.clears
                ]
                if above:
                    cleared.append(f"h={h}, {label(method)}: {', '.join(above)}")
        if res.cluster_items:
            out["clusters"].append(
                "Clusters above their floor — " + "; ".join(cleared) + "."
                if cleared
                else "No cluster clears its floor under permutation or expected gradients at any horizon."
            )
    for row in res.sanity:
        name = label(row["method"])
        if row["passed"] is None:
            continue
        verdict = (
            "passes the model-randomisation check"
            if row["passed"]
            else "FAILS the model-randomisation check: its attributions barely change when the weights are re-initialised"
        )
        ref = next((r["infidelity"] for r in res.sanity if r["passed"] is None), float("nan"))
        out["sanity"].append(
            f"{name} {verdict} (signed rank correlation with a re-initialised {model_label(exp.cfg.model, exp.cfg.skip)} {_fmt(row['signed_rho'], 2)}, "
            f"{row['windows']} windows); infidelity {row['infidelity']:.3g} vs {ref:.3g} for random attributions "
            f"({'more' if row['infidelity'] < ref else 'not more'} faithful than random)."
        )
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
    return [
        f"h={h}: the methods disagree on the top group ({', '.join(f'{g}: {n}' for g, n in counts.items())} of "
        f"{len(tops)} methods){tau}; see the horizon's section."
    ]
