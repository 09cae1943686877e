"""A search's folder: ``search.html`` (the answer first: what the search found and whether the chosen
configuration beats its comparator on the held-back days; then the optimism, PBO and the deflated Sharpe ratio in
words; then the charts), ``trials.csv`` (every trial: complete, pruned, failed) and ``search.json``. The chosen
configuration's run report lives in ``run/`` and is linked."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.evaluation.inference import ALPHA  # noqa: E402
from pipeline.evaluation.selection import deflated_sharpe, pbo  # noqa: E402
from pipeline.io import atomic_path  # noqa: E402
from pipeline.labels import label, model_label  # noqa: E402
from pipeline.reporting.index import index_href  # noqa: E402
from pipeline.reporting.figures import BLUE, GREY, WIDE, to_data_uri  # noqa: E402
from pipeline.reporting.run_page import render_template  # noqa: E402
from pipeline.stages.search import trials_frame  # noqa: E402


def _points(x: float, clf: bool) -> str:
    return f"{100 * x:+.2f} accuracy points" if clf else f"{x:+.3g} in MSE"


def history_figure(trials: pd.DataFrame, clf: bool) -> str:
    """Every complete trial's edge on the search days (pruned ones at their last fold: grey) and the running best."""
    scale = 100 if clf else 1
    fig, ax = plt.subplots(figsize=(WIDE, 3.4))
    done = trials[trials.state == "complete"]
    ax.scatter(done.trial, scale * done.edge, s=18, color=BLUE, label="complete trial")
    best = (scale * done.edge).cummax()
    ax.step(done.trial, best, where="post", color="black", lw=1.2, label="best so far")
    ax.axhline(0, color=GREY, lw=0.8)
    ax.set_xlabel("trial")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel("edge over the comparator" + (" (points)" if clf else " (MSE)"))
    ax.legend(frameon=False, fontsize=8)
    return to_data_uri(fig)


def importance_figure(importances: dict[str, float]) -> str | None:
    if not importances:
        return None
    items = sorted(importances.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(WIDE, 0.28 * len(items) + 1))
    ax.barh([k for k, _ in items], [v for _, v in items], color=BLUE)
    ax.set_xlabel("share of the edge's variance (fANOVA)")
    return to_data_uri(fig)


def param_importances(study) -> dict[str, float]:
    """Optuna's fANOVA importances of the parameters (empty when too few complete trials vary)."""
    import optuna

    try:
        return {
            k: float(v)
            for k, v in optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0)
            ).items()
        }
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}


def selection_stats(study, best) -> dict:
    """PBO over the complete trials' per-day edges (pruned trials have no score on every search day: they are
    left out and counted); the DSR of the chosen trial's excess over random timing with its exposure, deflated
    among every trial *attempted* (complete and pruned, each with its excess Sharpe ratio over the folds it ran)."""
    complete = [t for t in study.trials if t.state.name == "COMPLETE" and "day_edge" in t.user_attrs]
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    out: dict = {"n_complete": len(complete), "n_pruned": len(pruned)}
    if len(complete) >= 2:
        perf = np.array([t.user_attrs["day_edge"] for t in complete], dtype=float).T  # (days, trials)
        perf = perf[np.isfinite(perf).all(axis=1)]
        if len(perf) >= 16:
            res = pbo(perf)
            out["pbo"] = {k: v for k, v in res.items() if k != "logits"}
            out["pbo"]["median_logit"] = float(np.median(res["logits"]))
            out["pbo"]["pruned_left_out"] = len(pruned)
    attempted = [t for t in [*complete, *pruned] if "excess_sharpe" in t.user_attrs]
    sharpes = [t.user_attrs["excess_sharpe"] for t in attempted]
    if "excess" in best.user_attrs and len(sharpes) >= 2:
        out["dsr"] = deflated_sharpe(np.array(best.user_attrs["excess"], dtype=float), np.array(sharpes))
        out["dsr"]["n_pruned"] = sum(t.state.name == "PRUNED" for t in attempted)
        out["dsr"]["null"] = "excess over random timing with the same exposure"
        out["dsr"]["raw_sharpe"] = best.user_attrs.get("sharpe")
        out["dsr"]["buy_and_hold_sharpe"] = best.user_attrs.get("buy_and_hold_sharpe")
    return out


def _sentences(
    ctx,
    trials: pd.DataFrame,
    best,
    metrics: dict,
    stats: dict,
    clf: bool,
    held_edge: float,
    judgements: list[dict] | None = None,
) -> dict:
    states = trials.state.value_counts()
    n = len(trials)
    params = ", ".join(
        f"{k.split(':', 1)[1]} {v}"
        if k.startswith("group:")
        else f"{k} {v:.3g}"
        if isinstance(v, float)
        else f"{k} {v}"
        for k, v in best.params.items()
        if not (k.startswith("group:") and v == "in")
    )
    entries = metrics["horizon_results"]
    skill = [e for e in entries if e.get("skill")]
    worse = [e for e in entries if e["edge"]["p_holm"] < ALPHA and e["edge"]["mean"] < 0]
    if skill:
        verdict = (
            "beats its comparator on the held-back days at h = "
            + ", ".join(str(e["horizon"]) for e in skill)
            + " (Holm over the horizons)"
        )
    elif worse:
        verdict = (
            "does <b>not</b> beat its comparator on the held-back days; it is significantly worse at h = "
            + ", ".join(str(e["horizon"]) for e in worse)
        )
    else:
        verdict = "does <b>not</b> beat its comparator on the held-back days (no horizon significant after Holm)"
    model = model_label(best.params.get("model", ctx.base.model))
    lead = (
        f"The search tried {n} configurations ({states.get('complete', 0)} complete, {states.get('pruned', 0)} "
        f"pruned, {states.get('fail', 0)} failed) on {len(ctx.days)} search days and chose trial {best.number} "
        f"({model}; {params or 'the run settings'}). Refit on every day before {ctx.holdout_start} and judged once on "
        f"the {ctx.n_holdout_days} held-back days, it {verdict}."
    )
    k = len(judgements or [])
    if k > 1:  # --resume --rejudge: the held-back days were looked at before; the ledger counts every look
        earlier = ", ".join(f"trial {j['trial']}" for j in judgements[:-1])
        ledger = " ".join(a["sentence"] for a in metrics.get("ledger") or [])
        lead = (
            f"<b>These held-back days were judged {k} times</b> (earlier: {earlier}; --rejudge): a verdict on them is "
            f"no longer a first look. The ledger's answer, counting every configuration judged on them: {ledger} "
            + lead.replace("judged once on", "judged again on")
        )
    search_edge = float(best.value)
    gap = search_edge - held_edge
    optimism = (
        f"Optimism: its edge over the comparator was {_points(search_edge, clf)} on the search days, where it was "
        f"chosen as the best of {states.get('complete', 0)}, and {_points(held_edge, clf)} on the held-back days "
        "(mean over horizons). "
        + (
            f"Choosing the best trial overstated its edge by {_points(gap, clf).lstrip('+')}."
            if gap > 0
            else "The held-back edge is no lower than the search edge: no optimism shows this time (one draw; "
            "selection still inflates the search score on average)."
        )
    )
    p = stats.get("pbo")
    if p:
        pbo_text = (
            f"Probability of backtest overfitting (CSCV, {p['n_splits']:,} splits of the search days into "
            f"{p['n_blocks']} blocks): {p['pbo']:.2f}. In {100 * p['pbo']:.0f}% of the splits, the configuration "
            "best on one half of the days ranked at or below the median on the other half"
            + (": the search picks noise more often than skill." if p["pbo"] >= 0.5 else ".")
            + (
                f" Computed over the {stats['n_complete']} complete trials; the {p['pruned_left_out']} pruned ones "
                "have no score on every search day and are left out (they were among the worst when pruned)."
                if p.get("pruned_left_out")
                else ""
            )
        )
    else:
        pbo_text = "Probability of backtest overfitting: not computed (it needs at least two complete trials)."
    d = stats.get("dsr")
    if d and math.isfinite(d["dsr"]):
        pruned = f", {d['n_pruned']} of them pruned" if d.get("n_pruned") else ""
        dsr_text = (
            f"Deflated Sharpe ratio of the chosen trial's long/flat strategy on the search days, in excess of random "
            f"timing with the same time in the market (what no skill earns on this market's drift): {d['dsr']:.2f} "
            f"(daily excess Sharpe {d['sharpe']:.3f} against {d['benchmark']:.3f}, the maximum expected from "
            f"{d['n_trials']} no-skill trials{pruned} with the trials' Sharpe variance). "
            + (
                "At or above 0.95: its timing beats chance even after the search."
                if d["dsr"] >= 0.95
                else "Below 0.95: its timing does not beat chance after the number of trials that found it."
            )
        )
        bh, raw = d.get("buy_and_hold_sharpe"), d.get("raw_sharpe")
        if bh is not None and raw is not None:
            dsr_text += f" Its raw daily Sharpe ratio was {raw:.3f}; buy-and-hold had {bh:.3f} on the same days" + (
                ", as high or higher." if bh >= raw else "."
            )
    else:
        dsr_text = "Deflated Sharpe ratio: not computed (a strategy view needs a direction, return or close target)."
    return {"lead": lead, "optimism": optimism, "pbo": pbo_text, "dsr": dsr_text}


def write_search(
    out_dir: Path,
    ctx,
    study,
    best,
    final_cfg,
    metrics: dict,
    all_on_test: dict | None,
    storage: str,
    wall_seconds: float,
    judgements: list[dict] | None = None,
    run_name: str = "run",
) -> dict:
    """Write ``trials.csv``, ``search.json`` and ``search.html`` into ``out_dir`` (each file atomically);
    ``judgements``: every judgement of the held-back days so far (this one last), ``run_name`` its run folder."""
    clf = metrics["horizon_results"][0]["headline_metric"] == "accuracy"
    trials = trials_frame(study)
    stats = selection_stats(study, best)
    held_edge = float(np.mean([e["edge"]["mean"] for e in metrics["horizon_results"]]))
    importances = param_importances(study)
    text = _sentences(ctx, trials, best, metrics, stats, clf, held_edge, judgements)
    naive = [t for t in study.trials if t.number == best.number][0].user_attrs.get("p_value")
    summary = {
        "kind": "search",
        "created": datetime.now().isoformat(timespec="seconds"),
        "target": ctx.base.target,
        "horizons": list(ctx.base.horizons),
        "symbols": list(ctx.dataset.prices),
        "holdout_start": ctx.holdout_start,
        "n_holdout_days": ctx.n_holdout_days,
        "n_search_days": len(ctx.days),
        "search_comparator": ctx.comparator,
        "trials": int(len(trials)),
        "states": trials.state.value_counts().to_dict(),
        "best_trial": best.number,
        "best_params": best.params,
        "search_edge": float(best.value),
        "holdout_edge": held_edge,
        "naive_p_value": naive,
        "holdout_skill": [bool(e.get("skill")) for e in metrics["horizon_results"]],
        "holdout_verdicts": [e["verdict"] for e in metrics["horizon_results"]],
        "selection": stats,
        "importances": importances,
        "space": ctx.space.to_dict(),
        "fingerprint": ctx.fingerprint(),
        "storage": storage if not storage.startswith("sqlite:///") else "search.db",
        "score_all_on_test": all_on_test,
        "final_config": final_cfg.to_dict(),
        "wall_seconds": wall_seconds,
        "sentences": text,
        "holdout_judgements": judgements or [],
        "run": run_name,
    }
    with atomic_path(out_dir / "trials.csv") as tmp:
        trials.to_csv(tmp, index=False)
    with atomic_path(out_dir / "search.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=str))
    reality = None
    if all_on_test:
        sup = all_on_test["stepm_superior"]
        reality = (
            f"Every one of the {len(all_on_test['trials'])} complete trials was also refit and scored on the "
            f"held-back days (--score-all-on-test): <b>these days are no longer untouched</b>. Hansen's studentised SPA "
            f"over all of them, each against its own comparator (the differentials the ledger counts, averaged over "
            f"the horizons): p = {all_on_test['spa_p']:.3g}; Romano–Wolf StepM finds "
            + (
                f"trial(s) {', '.join(map(str, sup))} better than their comparators"
                if sup
                else "no trial better than its comparator"
            )
            + f" (family-wise 5%, stationary bootstrap, block {all_on_test['block']} days)."
        )
    html = render_template(
        "search.html",
        title=f"search: {', '.join(summary['symbols'][:4])}{' …' if len(summary['symbols']) > 4 else ''} · "
        f"{label(ctx.base.target)}",
        nav=([{"href": index_href(out_dir), "text": "all reports"}] if index_href(out_dir) else [])
        + [{"href": None, "text": "search"}, {"href": f"{run_name}/index.html", "text": "the chosen run"}],
        created=summary["created"],
        text=text,
        reality=reality,
        run_name=run_name,
        history=history_figure(trials, clf),
        importance=importance_figure(importances),
        best=best.params,
        space=[(k.name, k.describe()) for k in ctx.space.knobs],
        trials=trials.head(200).to_dict("records"),
        columns=list(trials.columns),
        naive=naive,
        verdicts=summary["holdout_verdicts"],
        wall=f"{wall_seconds:.0f} s",
        holdout_start=ctx.holdout_start,
        comparator="; ".join(f"h={h}: {c}" for h, c in ctx.comparator.items()),
    )
    with atomic_path(out_dir / "search.html") as tmp:
        tmp.write_text(html)
    return summary
