"""Render ``index.html`` for a run: one self-contained file (figures inline), every data string escaped."""
from __future__ import annotations

from importlib import resources

import jinja2
import numpy as np
import pandas as pd

from pipeline import __version__, figures
from pipeline.evaluate import report_units
from pipeline.experiment import Experiment
from pipeline.metrics import DIRECTION_METRICS, REGRESSION_METRICS


def render_template(name: str, **context) -> str:
    text = resources.files("pipeline").joinpath("templates").joinpath(name).read_text()
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(text).render(**context)


def _fmt(x, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    return f"{x:.{digits}g}"


def _pct(x) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{100 * x:.1f}%"


def render_run_report(exp: Experiment, metrics: dict, run_id: str, created: str, importance_link: bool = False) -> str:
    cfg, ws, idx = exp.cfg, exp.ws, exp.test_idx
    clf = exp.classification
    names = DIRECTION_METRICS if clf else REGRESSION_METRICS
    horizons = []
    verdicts = []
    for entry in metrics["horizon_results"]:
        rows = [{"name": "LSTM" + (f" (mean of {cfg.seeds} seeds ± sd)" if cfg.seeds > 1 else ""), "cells": [
            {"value": _fmt(entry["model"][m]) + (f" ± {_fmt(entry['model_seed_std'][m], 2)}" if cfg.seeds > 1 else ""),
             "ci": f"[{_fmt(entry['model_ci'][m][0])}, {_fmt(entry['model_ci'][m][1])}]"} for m in names]}]
        for b, vals in entry["baselines"].items():
            ci = entry["baselines_ci"][b]
            rows.append({"name": b + (" (best)" if b == entry["best_baseline"] else ""), "cells": [
                {"value": _fmt(vals[m]), "ci": f"[{_fmt(ci[m][0])}, {_fmt(ci[m][1])}]"} for m in names]})
        tests = [{"name": k, "baseline": v.get("baseline", "independence"), "statistic": _fmt(v["statistic"], 3),
                  "p_value": _fmt(v["p_value"], 3), "sig": "significant" if v["p_value"] < 0.05 else "not significant"}
                 for k, v in entry["tests"].items()]
        per_symbol = [{"symbol": sym, "n": v["n_test"], "model": _fmt(v["model"]),
                       "baselines": [_fmt(v["baselines"][b]) for b in entry["baselines"]]}
                      for sym, v in entry.get("per_symbol", {}).items()]
        horizons.append({"target": entry["target"], "n_test": entry["n_test"], "up_rate": entry.get("up_rate"),
                         "rows": rows, "tests": tests, "per_symbol": per_symbol, "head": entry["headline_metric"],
                         "baseline_names": list(entry["baselines"])})
        text = entry["verdict"]
        css = "good" if "beats" in text and "does not" not in text else ("bad" if "worse" in text or "does not" in text else "meh")
        verdicts.append({"text": text, "css": css})

    truth, model, _, _ = report_units(exp)
    mean_pred = model.mean(axis=0)
    dates = ws.dates[idx]
    pred_figs, roc_figs = [], []
    first_symbol = ws.symbols[idx][0]
    mask = ws.symbols[idx] == first_symbol
    unit = {"direction": "P(up)", "close": "price", "return": "log return"}.get(cfg.target, cfg.target)
    for j, h in enumerate(cfg.horizons):
        pred_figs.append(figures.predicted_vs_true(
            dates[mask], truth[mask, j], mean_pred[mask, j], clf, f"{first_symbol}: {cfg.target}_h{h}, predicted vs true (test folds)", unit))
        if clf:
            roc_figs.append(figures.confusion_and_roc(truth[:, j], mean_pred[:, j], f"{cfg.target}_h{h}"))
    fig = {"learning": figures.learning_curves(exp.histories), "pred": pred_figs, "roc": roc_figs}
    strategy = None
    if metrics.get("strategy"):
        s = metrics["strategy"]
        fig["equity"] = figures.equity_curves(s["curves"], f"Long/flat on the LSTM vs buy and hold (h={s['horizon']})")
        strategy = {
            "horizon": s["horizon"], "cost_bps": s["cost_bps"], "time_in_market": _pct(s["time_in_market"]),
            "s": {"annual_return": _pct(s["strategy"]["annual_return"]), "sharpe": _fmt(s["strategy"]["sharpe"], 3),
                  "max_drawdown": _pct(s["strategy"]["max_drawdown"])},
            "b": {"annual_return": _pct(s["buy_and_hold"]["annual_return"]), "sharpe": _fmt(s["buy_and_hold"]["sharpe"], 3),
                  "max_drawdown": _pct(s["buy_and_hold"]["max_drawdown"])},
        }
    symbols = ", ".join(exp.dataset.prices)
    first = min(pd.Timestamp(t.frame.index[0]) for t in exp.dataset.tables.values()).date()
    last = max(pd.Timestamp(t.frame.index[-1]) for t in exp.dataset.tables.values()).date()
    setup = [
        ("symbols", symbols), ("source", cfg.data or cfg.source), ("data range (after feature warm-up)", f"{first} .. {last}"),
        ("target", f"{cfg.target}, horizons {', '.join(map(str, cfg.horizons))}"), ("window", cfg.window),
        ("features", exp.dataset.spec), ("folds", f"{len(exp.folds)} walk-forward, purge {max(cfg.horizons)} dates"),
        ("preprocessing", f"{cfg.scaler} scaler, log of price levels: {cfg.log_transform}, clip quantile {cfg.clip_quantile}"),
        ("model", f"LSTM hidden {cfg.hidden}, layers {cfg.layers}, dropout {cfg.dropout}, norm {cfg.norm}, "
                  f"bidirectional {cfg.bidirectional}, pool {cfg.pool}"),
        ("training", f"AdamW lr {cfg.lr} (scaling {cfg.lr_scaling}), batch {cfg.batch_size}, max {cfg.epochs} epochs, "
                     f"patience {cfg.patience}, seeds {', '.join(map(str, exp.seeds))}, device {exp.device}"),
        ("samples", f"{ws.n} windows; {len(idx)} out-of-sample test samples"),
    ]
    title = f"{symbols}: does the LSTM beat simple baselines on {cfg.target}?"
    return render_template(
        "report.html", title=title, run_id=run_id, created=created, version=__version__, verdicts=verdicts,
        main_test="exact McNemar binomial test" if clf else "Diebold–Mariano test", setup=setup,
        metric_names=list(names), horizons=horizons, strategy=strategy, figures=fig,
        folds=[f.describe(ws.dates) for f in exp.folds], purge=max(cfg.horizons), n_features=len(ws.columns),
        groups=[(g, ", ".join(c)) for g, c in exp.dataset.groups.items()], importance_link=importance_link,
    )
