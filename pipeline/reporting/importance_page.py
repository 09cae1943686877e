"""Render ``importance.html``, conclusions first (skill gate, agreement, how far back the model looks,
correlation clusters, sanity checks of the attributions, stability over test periods), then the detail:
the agreement table, Kendall tau between methods, stability, the group x lag-block chart, cluster and
period tables, and figures (importance by method, expected-gradients feature x lag heatmap and per-lag
profile, beeswarms). Also the detail tables written beside ``importance.csv``."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from explain import agreement, shap_lstm  # noqa: E402
from pipeline.reporting.figures import WIDE, text_colour, to_data_uri  # noqa: E402
from pipeline.labels import TEXT, label, model_label, symbols_text  # noqa: E402
from pipeline.stages.explain_summary import conclusions  # noqa: E402
from pipeline.labels import fmt as _fmt
from pipeline.reporting.run_page import render_template  # noqa: E402


def detail_tables(exp, res) -> dict[str, pd.DataFrame]:
    """The tables written beside ``importance.csv``: lag blocks, clusters, periods and attribution checks."""
    lags = pd.DataFrame(
        [
            {
                "horizon": i.horizon,
                "group": i.group,
                "block": i.block,
                "value": i.value,
                "ci_low": i.ci_low,
                "ci_high": i.ci_high,
                "p_holm": i.p_value,
                "clears_floor": i.clears,
            }
            for i in res.lag_items
        ]
    )
    members = res.clusters.members if res.clusters is not None else {}
    cols = list(exp.ws.columns)
    clusters = pd.DataFrame(
        [
            {
                "horizon": i.horizon,
                "cluster": i.group,
                "method": i.method,
                "groups": " ".join(res.clusters.groups[i.group]),
                "columns": " ".join(cols[c] for c in members[i.group]),
                "value": i.value,
                "ci_low": i.ci_low,
                "ci_high": i.ci_high,
                "p_holm": i.p_value,
                "clears_floor": i.clears,
            }
            for i in res.cluster_items
        ]
    )
    periods = pd.DataFrame(
        [
            {
                "horizon": i.horizon,
                "group": i.group,
                "method": i.method,
                "period": p,
                "value": v[0],
                "ci_low": v[1],
                "ci_high": v[2],
            }
            for i in res.items
            for p, v in i.periods.items()
        ]
    )
    return {
        "importance_lags.csv": lags,
        "importance_clusters.csv": clusters,
        "importance_periods.csv": periods,
        "attribution_checks.csv": pd.DataFrame(res.sanity),
    }


def _lag_chart(res, horizon: int) -> str | None:
    """Group x lag-block heatmap of the permutation loss increase (cells that clear the floor marked)."""
    part = [i for i in res.lag_items if i.horizon == horizon]
    if not part:
        return None
    blocks = [b.label for b in res.blocks]
    groups = list(dict.fromkeys(i.group for i in part))
    M = np.full((len(groups), len(blocks)), np.nan)
    marks = np.zeros_like(M, dtype=bool)
    for i in part:
        M[groups.index(i.group), blocks.index(i.block)] = i.value
        marks[groups.index(i.group), blocks.index(i.block)] = bool(i.clears)
    fig, ax = plt.subplots(figsize=(WIDE * 0.8, 0.36 * len(groups) + 1.8))
    lim = np.nanmax(np.abs(M)) or 1.0
    im = ax.imshow(M, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_yticks(range(len(groups)), groups)
    ax.set_xticks(range(len(blocks)), blocks)
    for r, c in zip(*np.nonzero(marks)):
        ax.text(c, r, "●", ha="center", va="center", fontsize=12, color=text_colour(im.cmap(im.norm(M[r, c]))))
    ax.set_title(f"{horizon}-day horizon: loss increase when a group's lag block is permuted (● clears the floor)")
    fig.colorbar(im, ax=ax)
    return to_data_uri(fig)


METHOD_ORDER = (
    "conditional_permutation",
    "ablation_retrain",
    "permutation",
    "lstm_shap",
    "integrated_gradients",
    "tree_shap",
    "lgbm_gain",
    "lgbm_split",
)


def rank_overview(table: pd.DataFrame, skill: dict) -> str | None:
    """The importance page's answer in one picture: per horizon, every group's rank under every method
    (1 = most important; darker = higher), ★ where the group clears that method's noise floor, and the
    skill gate in each panel's title. Rows: groups by mean rank over methods and horizons."""
    horizons = sorted(table.horizon.unique())
    if not horizons:
        return None
    methods = [m for m in METHOD_ORDER if m in set(table.method)]
    order = table.groupby("group")["rank"].mean().sort_values().index.tolist()
    n_groups = int(table.groupby("horizon")["group"].nunique().max())
    fig, axes = plt.subplots(1, len(horizons), figsize=(WIDE, 0.3 * len(order) + 2.2), sharey=True, squeeze=False)
    cmap = plt.get_cmap("Blues_r")
    for ax, h in zip(axes[0], horizons):
        part = table[table.horizon == h]
        R = part.pivot(index="group", columns="method", values="rank").reindex(index=order, columns=methods)
        C = part.pivot(index="group", columns="method", values="clears_floor").reindex(index=order, columns=methods)
        im = ax.imshow(R.to_numpy(dtype=float), aspect="auto", cmap=cmap, vmin=1, vmax=max(n_groups, 2) * 1.15)
        for r in range(len(order)):
            for c in range(len(methods)):
                v = R.iat[r, c]
                if pd.notna(v):
                    star = "★" if C.iat[r, c] is True or C.iat[r, c] == 1.0 else ""
                    ax.text(
                        c,
                        r,
                        f"{int(v)}{star}",
                        ha="center",
                        va="center",
                        fontsize=9,
                        color=text_colour(im.cmap(im.norm(v))),
                    )
        ax.set_xticks(range(len(methods)), [label(m) for m in methods], rotation=35, ha="right")
        ax.set_yticks(range(len(order)), order)
        ax.tick_params(length=0)
        gate = "model has skill" if skill.get(h, False) else "no skill: describes the model only"
        ax.set_title(
            f"{h}-day horizon\n({gate})", fontsize=11, color=TEXT["better" if skill.get(h, False) else "worse"]
        )
        for side in ax.spines.values():
            side.set_visible(False)
    fig.suptitle(
        "Rank of each feature group by method (1 = most important; ★ clears the method's noise floor)",
        x=0.01,
        ha="left",
    )
    fig.tight_layout()
    return to_data_uri(fig)


def _bars(table: pd.DataFrame, horizon: int) -> str:
    part = table[table.horizon == horizon].pivot(index="group", columns="method", values="value")
    norm = (part / part.abs().max().replace(0, 1)).rename(columns=label)
    fig, ax = plt.subplots(figsize=(WIDE, 0.22 * len(norm) * len(norm.columns) + 1.8))
    norm.sort_values(norm.columns[0]).plot.barh(ax=ax, width=0.85)
    ax.set_xlabel("importance, scaled to each method's maximum")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title="method")  # outside the axes: it covers no bar
    ax.set_title(f"{horizon}-day horizon: importance by group and method")
    return to_data_uri(fig)


def _shap_figures(res, columns: list[str], j: int, horizon: int) -> list[str]:
    import shap

    out = []
    heat = shap_lstm.heatmap(res.shap_results, j)
    T = heat.shape[1]
    top = np.argsort(-heat.sum(axis=1))[:20]
    fig, ax = plt.subplots(figsize=(WIDE * 0.8, 0.3 * len(top) + 1.6))
    im = ax.imshow(heat[top], aspect="auto", cmap="viridis")
    ax.set_yticks(range(len(top)), [columns[i] for i in top], fontsize=9)
    ticks = np.linspace(0, T - 1, min(T, 7)).astype(int)
    ax.set_xticks(ticks, [f"t-{T - 1 - t}" for t in ticks])
    ax.set_title(f"Expected gradients, {horizon}-day horizon: mean |φ| per feature and lag (top 20 features)")
    fig.colorbar(im, ax=ax)
    out.append(to_data_uri(fig))
    lag = shap_lstm.per_lag(res.shap_results, j)
    fig, ax = plt.subplots(figsize=(WIDE * 0.8, 3.0))
    ax.plot(np.arange(-T + 1, 1), lag, lw=1.8)
    ax.set_xlabel("lag (0 = the last day of the window)")
    ax.set_ylabel("mean |Σ_f φ|")
    ax.set_title(f"Expected gradients, {horizon}-day horizon: attribution by lag")
    out.append(to_data_uri(fig))
    phi_sum = np.concatenate([r.phi[..., j].sum(axis=1) for r in res.shap_results])
    last = np.concatenate([r.X[:, -1, :] for r in res.shap_results])
    plt.figure()
    with warnings.catch_warnings():  # shap's plot warns about numpy's legacy global RNG
        warnings.simplefilter("ignore", FutureWarning)
        shap.summary_plot(phi_sum, last, feature_names=columns, show=False, max_display=15, plot_size=(WIDE * 0.8, 6))
    plt.title(f"Expected gradients, {horizon}-day horizon: Σ_t φ per window, coloured by the feature's last value")
    out.append(to_data_uri(plt.gcf()))
    return out


def _tree_beeswarm(res, columns: list[str], horizon: int, lags: int) -> str | None:
    import shap

    rs = [r for r in res.lgbm_results if r.horizon == horizon]
    if not rs:
        return None
    names = [f"{c}@t-{k}" for k in range(lags - 1, -1, -1) for c in columns]
    F = len(columns)

    def real(a: np.ndarray) -> np.ndarray:  # drop the shadow columns (lag-major layout: real F, then shadows)
        return a.reshape(len(a), lags, -1)[:, :, :F].reshape(len(a), -1)

    plt.figure()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        shap.summary_plot(
            np.concatenate([real(r.shap) for r in rs]),
            np.concatenate([real(r.X_flat) for r in rs]),
            feature_names=names,
            show=False,
            max_display=15,
            plot_size=(WIDE * 0.8, 6),
        )
    plt.title(f"LightGBM TreeSHAP, {horizon}-day horizon")
    return to_data_uri(plt.gcf())


def _period_table(res, horizon: int) -> dict | None:
    """Group x test period values (permutation, else expected gradients) with their intervals."""
    for method in ("permutation", "lstm_shap"):
        part = [i for i in res.items if i.horizon == horizon and i.method == method and i.periods]
        if part:
            labels = list(part[0].periods)
            rows = [
                {
                    "group": i.group,
                    "cells": [
                        f"{_fmt(i.periods[p][0], 3)} [{_fmt(i.periods[p][1], 2)}, {_fmt(i.periods[p][2], 2)}]"
                        for p in labels
                    ],
                }
                for i in sorted(part, key=lambda i: -i.value)
            ]
            return {"method": method, "periods": labels, "rows": rows}
    return None


def _cluster_table(res, horizon: int, columns: list[str]) -> list[dict]:
    rows = []
    if res.clusters is None:
        return rows
    for name, idx in res.clusters.members.items():
        cells = {}
        for i in res.cluster_items:
            if i.horizon == horizon and i.group == name:
                cells[i.method] = {
                    "value": f"{_fmt(i.value, 3)} [{_fmt(i.ci_low, 2)}, {_fmt(i.ci_high, 2)}]",
                    "css": "above" if i.clears else "noise",
                }
        rows.append(
            {
                "cluster": name,
                "groups": ", ".join(res.clusters.groups[name]),
                "columns": ", ".join(columns[c] for c in idx[:8]) + (", ..." if len(idx) > 8 else ""),
                "cross": len(res.clusters.groups[name]) > 1,
                "cells": cells,
            }
        )
    return rows


def render_importance_report(exp, res, table: pd.DataFrame, note: str = "", nav: list[dict] | None = None) -> str:
    cfg = exp.cfg
    horizons = []
    lead = dict(res.conclusions) or conclusions(exp, res)
    summary = lead["skill"]
    stab = agreement.stability(res.items)
    for j, h in enumerate(cfg.horizons):
        part = table[table.horizon == h]
        if part.empty:
            continue
        methods = [
            m
            for m in (
                "conditional_permutation",
                "ablation_retrain",
                "permutation",
                "lgbm_gain",
                "lgbm_split",
                "tree_shap",
                "lstm_shap",
                "integrated_gradients",
            )
            if m in set(part.method)
        ]
        rows = []
        ranks = agreement.rank_matrix(table, h)
        order = ranks[methods].mean(axis=1).sort_values().index
        for g in order:
            cells = []
            for m in methods:
                r = part[(part.group == g) & (part.method == m)].iloc[0]
                if pd.notna(r.clears_floor):
                    mark = "above floor" if bool(r.clears_floor) else "at noise level"
                elif pd.notna(r.floor):  # a floor to compare with, but no calibrated test: descriptive only
                    mark = "above shadows (no test)" if r.value > r.floor else "below shadows"
                else:
                    mark = "no floor"
                cells.append(
                    {
                        "rank": int(r["rank"]),
                        "value": _fmt(r.value, 3),
                        "mark": mark,
                        "ci": f"[{_fmt(r.ci_low, 2)}, {_fmt(r.ci_high, 2)}]",
                        "floor": "" if pd.isna(r.floor) else f"floor {_fmt(r.floor, 2)}",
                        "css": "above"
                        if r.clears_floor is True or r.clears_floor == 1.0
                        else ("noise" if mark == "at noise level" else ""),
                    }
                )
            rows.append({"group": g, "cells": cells})
        corr = agreement.method_correlations(table, h).loc[methods, methods]
        tau = [{"name": a, "taus": [_fmt(corr.loc[a, b], 2) for b in methods]} for a in methods]
        st = stab[stab.horizon == h]
        figs = []
        if res.shap_results:
            figs += _shap_figures(res, exp.ws.columns, j, h)
        tb = _tree_beeswarm(res, exp.ws.columns, h, res.lgbm_lags)
        if tb:
            figs.append(tb)
        horizons.append(
            {
                "horizon": h,
                "target": f"{cfg.target}_h{h}",
                "methods": methods,
                "rows": rows,
                "tau": tau,
                "skill": res.skill.get(h, False),
                "stability": [
                    {"method": r.method, "units": int(r.units), "tau": _fmt(r.stability_tau, 2)}
                    for r in st.itertuples()
                ],
                "notes": agreement.disagreements(table, h, label),
                "bars": _bars(table, h),
                "figures": figs,
                "lag_chart": _lag_chart(res, h),
                "periods": _period_table(res, h),
                "clusters": _cluster_table(res, h, list(exp.ws.columns)),
            }
        )
    timings = [(k, f"{v:.1f} s") for k, v in res.seconds.items()]
    sanity = [
        {
            "method": label(r["method"]),
            "signed": _fmt(r["signed_rho"], 2),
            "abs": _fmt(r["abs_rho"], 2),
            "feature": _fmt(r["feature_rho"], 2),
            "infidelity": f"{r['infidelity']:.3g}",
            "verdict": "" if r["passed"] is None else ("passes" if r["passed"] else "FAILS"),
        }
        for r in res.sanity
    ]
    return render_template(
        "importance.html",
        title=f"{symbols_text(exp.dataset.prices)}: which feature groups carry the {model_label(exp.cfg.model, exp.cfg.skip)}?",
        model=model_label(exp.cfg.model, exp.cfg.skip),
        horizons=horizons,
        timings=timings,
        n_repeats=res.n_repeats,
        summary=summary,
        lead=lead,
        note=note,
        nav=nav or [],
        overview=rank_overview(table, res.skill),
        lag_repeats=res.lag_repeats,
        sanity=sanity,
        blocks=[b.label for b in res.blocks],
        loss_name="log loss" if exp.classification else "squared error",
    )
