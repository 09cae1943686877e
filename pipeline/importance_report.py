"""Render ``importance.html``: the agreement table, Kendall tau between methods, stability, and figures
(importance by method, LSTM SHAP feature x lag heatmap and per-lag profile, beeswarms)."""
from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from explain import agreement, shap_lstm  # noqa: E402
from pipeline.figures import to_data_uri  # noqa: E402
from pipeline.report import _fmt, render_template  # noqa: E402


def _bars(table: pd.DataFrame, horizon: int) -> str:
    part = table[table.horizon == horizon].pivot(index="group", columns="method", values="value")
    norm = part / part.abs().max().replace(0, 1)
    fig, ax = plt.subplots(figsize=(9, 0.4 * len(norm) + 1.8))
    norm.sort_values(norm.columns[0]).plot.barh(ax=ax, width=0.8)
    ax.set_xlabel("importance, scaled to each method's maximum")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"h={horizon}: importance by group and method")
    return to_data_uri(fig)


def _shap_figures(res, columns: list[str], j: int, horizon: int) -> list[str]:
    import shap

    out = []
    heat = shap_lstm.heatmap(res.shap_results, j)
    T = heat.shape[1]
    top = np.argsort(-heat.sum(axis=1))[:20]
    fig, ax = plt.subplots(figsize=(7.5, 0.25 * len(top) + 1.5))
    im = ax.imshow(heat[top], aspect="auto", cmap="viridis")
    ax.set_yticks(range(len(top)), [columns[i] for i in top], fontsize=7)
    ticks = np.linspace(0, T - 1, min(T, 7)).astype(int)
    ax.set_xticks(ticks, [f"t-{T - 1 - t}" for t in ticks])
    ax.set_title(f"LSTM SHAP, h={horizon}: mean |φ| per feature and lag (top 20 features)")
    fig.colorbar(im, ax=ax)
    out.append(to_data_uri(fig))
    lag = shap_lstm.per_lag(res.shap_results, j)
    fig, ax = plt.subplots(figsize=(7.5, 2.6))
    ax.plot(np.arange(-T + 1, 1), lag)
    ax.set_xlabel("lag (0 = the last day of the window)"); ax.set_ylabel("mean |Σ_f φ|")
    ax.set_title(f"LSTM SHAP, h={horizon}: attribution by lag")
    out.append(to_data_uri(fig))
    phi_sum = np.concatenate([r.phi[..., j].sum(axis=1) for r in res.shap_results])
    last = np.concatenate([r.X[:, -1, :] for r in res.shap_results])
    plt.figure()
    with warnings.catch_warnings():  # shap's plot warns about numpy's legacy global RNG
        warnings.simplefilter("ignore", FutureWarning)
        shap.summary_plot(phi_sum, last, feature_names=columns, show=False, max_display=15, plot_size=(7.5, 5))
    plt.title(f"LSTM SHAP, h={horizon}: Σ_t φ per window, coloured by the feature's last value", fontsize=9)
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
        shap.summary_plot(np.concatenate([real(r.shap) for r in rs]), np.concatenate([real(r.X_flat) for r in rs]),
                          feature_names=names, show=False, max_display=15, plot_size=(7.5, 5))
    plt.title(f"LightGBM TreeSHAP, h={horizon}", fontsize=9)
    return to_data_uri(plt.gcf())


def render_importance_report(exp, res, table: pd.DataFrame) -> str:
    from pipeline.explain_stage import findings

    cfg = exp.cfg
    horizons = []
    summary = findings(exp, res)
    stab = agreement.stability(res.items)
    for j, h in enumerate(cfg.horizons):
        part = table[table.horizon == h]
        if part.empty:
            continue
        methods = [m for m in ("ablation_retrain", "permutation", "lgbm_gain", "lgbm_split", "tree_shap", "lstm_shap")
                   if m in set(part.method)]
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
                cells.append({"rank": int(r["rank"]), "value": _fmt(r.value, 3), "mark": mark,
                              "ci": f"[{_fmt(r.ci_low, 2)}, {_fmt(r.ci_high, 2)}]",
                              "floor": "" if pd.isna(r.floor) else f"floor {_fmt(r.floor, 2)}",
                              "css": "above" if r.clears_floor is True or r.clears_floor == 1.0 else ("noise" if mark == "at noise level" else "")})
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
        horizons.append({
            "horizon": h, "target": f"{cfg.target}_h{h}", "methods": methods, "rows": rows, "tau": tau,
            "skill": res.skill.get(h, False),
            "stability": [{"method": r.method, "units": int(r.units), "tau": _fmt(r.stability_tau, 2)} for r in st.itertuples()],
            "notes": agreement.disagreements(table, h), "bars": _bars(table, h), "figures": figs,
        })
    timings = [(k, f"{v:.1f} s") for k, v in res.seconds.items()]
    return render_template("importance.html", title=f"{', '.join(exp.dataset.prices)}: which feature groups carry the LSTM?",
                           horizons=horizons, timings=timings, n_repeats=res.n_repeats, summary=summary,
                           loss_name="log loss" if exp.classification else "squared error")
