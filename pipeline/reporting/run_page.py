"""Render ``index.html`` for a run: one self-contained file (figures inline), every data string escaped."""

from __future__ import annotations

from importlib import resources

import jinja2
import numpy as np
import pandas as pd

from pipeline import __version__
from pipeline.reporting import figures
from pipeline.stages.evaluate import report_units
from pipeline.stages.results import Fitted, Prepared
from pipeline.evaluation.inference import outcome
from pipeline.evaluation.verdicts import comparator_name, family_p
from pipeline.config.schema import MODEL_FAMILIES, MODEL_SETTINGS
from pipeline.labels import fmt as _fmt, label, label_html, model_label, seeds_text, symbols_text, target_label
from pipeline.evaluation.metrics import DIRECTION_METRICS, REGRESSION_METRICS


def _load(name: str) -> str:
    return resources.files("pipeline.reporting").joinpath("templates").joinpath(name).read_text()


_ENV = jinja2.Environment(loader=jinja2.FunctionLoader(_load), autoescape=True, undefined=jinja2.StrictUndefined)
_ENV.filters["label"] = label_html


def render_template(name: str, **context) -> str:
    """Render ``templates/<name>`` (which may include the shared ``_style.html`` and ``_nav.html``); every
    data string is escaped, and ``{{ key|label }}`` shows a raw key's human label with the key as tooltip."""
    return _ENV.get_template(name).render(**context)


def _pct(x) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{100 * x:.1f}%"


def _ci(pair) -> str:
    return f"[{_fmt(pair[0])}, {_fmt(pair[1])}]" if pair else ""


def horizon_view(entry: dict, names: list[str], n_seeds: int) -> dict:
    """One horizon's tables for the template: metrics with intervals, tests against every baseline."""
    clf = entry["headline_metric"] == "accuracy"
    who = entry.get("model_name", "LSTM")
    model_name = who + (f" (ensemble of {n_seeds} seeds)" if n_seeds > 1 else "")
    rows = [
        {
            "label": model_name,
            "css": "model",
            "cells": [{"value": _fmt(entry["model"][m]), "ci": _ci(entry["model_ci"].get(m))} for m in names],
        }
    ]
    for b, vals in entry["baselines"].items():
        ci = entry["baselines_ci"][b]
        name = entry["comparator_described"] if b == "per_fold" else label_html(b)
        rows.append(
            {
                "label": name + (" (comparator)" if b == entry["comparator"] and b != "per_fold" else ""),
                "css": "",
                "cells": [{"value": _fmt(vals[m]), "ci": _ci(ci.get(m))} for m in names],
            }
        )
    scale = 100 if clf else 1
    against = [
        {
            "name": b,
            "edge": _fmt(scale * v["edge"], 3),
            "ci": f"[{_fmt(scale * v['ci'][0], 3)}, {_fmt(scale * v['ci'][1], 3)}]",
            "p": _fmt(v["p_value"], 3),
            "p_holm": _fmt(v["p_holm"], 3),
            "sig": {"better": f"{who} better", "worse": f"{who} worse", "none": "not significant"}[
                outcome(v["edge"], v["p_holm"])
            ],
        }
        for b, v in entry["against_baselines"].items()
    ]
    extra = [
        {
            "name": k,
            "baseline": v.get("baseline", "independence"),
            "statistic": _fmt(v["statistic"], 3),
            "p_value": _fmt(v["p_value"], 3),
        }
        for k, v in entry["tests"].items()
    ]
    per_symbol = [
        {
            "symbol": sym,
            "n": v["n_test"],
            "model": _fmt(v["model"]),
            "baselines": [_fmt(v["baselines"][b]) for b in entry["baselines"]],
        }
        for sym, v in entry.get("per_symbol", {}).items()
    ]
    st = entry["stability"]
    stability = (
        "per fold: "
        + ", ".join(f"fold {f} {_fmt(v)}" for f, v in st["fold_values"].items())
        + (
            f"; per seed: {', '.join(_fmt(v) for v in st['seed_values'])} (sd {_fmt(st['seed_sd'], 2)})"
            if n_seeds > 1
            else ""
        )
    )
    choice = entry["comparator_choice"]
    val = "; ".join(
        f"fold {f} ({choice['choice_days'][f]} days): "
        + ", ".join(f"{label(b)} {_fmt(v)}" + (" ✓" if b == choice["by_fold"][f] else "") for b, v in losses.items())
        for f, losses in choice["validation_loss"].items()
    )
    return {
        "target": entry["target"],
        "n_test": entry["n_test"],
        "n_days": entry["n_days"],
        "up_rate": entry.get("up_rate"),
        "rows": rows,
        "against": against,
        "extra_tests": extra,
        "per_symbol": per_symbol,
        "head": entry["headline_metric"],
        "baseline_names": list(entry["baselines"]),
        "stability": stability,
        "validation": val,
        "edge_units": "accuracy points" if clf else "MSE reduction",
        "unit": entry.get("unit", ""),
    }


def _test_ci(test: dict, scale: float = 1.0) -> str:
    lo, hi = test.get("ci_low"), test.get("ci_high")
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return ""
    return f"[{scale * lo:+.4g}, {scale * hi:+.4g}]"


def answer_sentence(entry: dict, classification: bool, kind: str) -> str:
    """The run's answer for one horizon in one sentence: the verdict against the comparator, its interval,
    and the power (the smallest edge the test finds 80% of the time)."""
    t = entry["edge"]
    if classification:
        num, unit = (lambda x, sign="+": f"{100 * x:{sign}.1f}"), " accuracy points"  # noqa: E731
    else:
        num, unit = (lambda x, sign="+": f"{x:{sign}.3g}"), f" (baseline MSE − {entry.get('model_name', 'LSTM')} MSE)"  # noqa: E731
    what, comp = target_label(kind, entry["horizon"]), comparator_name(entry)
    comp = comp if comp.startswith("the ") else f"the {comp} baseline"
    ci = f"95% CI [{num(t['ci_low'])}, {num(t['ci_high'])}], {family_p(entry)}"
    verdict = outcome(t["mean"], t.get("p_holm", t["p_value"]))
    if verdict != "none":
        how = "beats" if verdict == "better" else "is worse than"
        return f"{what}: the {entry.get('model_name', 'LSTM')} {how} {comp} by {num(abs(t['mean']), '')}{unit} ({ci})."
    mde = t.get("mde_family", t.get("mde", np.nan))
    power = f"; the test finds an edge of {num(mde, '')}{unit} 80% of the time" if np.isfinite(mde) else ""
    return f"{what}: no evidence that the {entry.get('model_name', 'LSTM')} beats {comp}; edge {num(t['mean'])}{unit} ({ci}){power}."


def verdict_css(entry: dict) -> str:
    return {"better": "good", "worse": "bad", "none": "meh"}[
        outcome(entry["edge"]["mean"], entry["edge"].get("p_holm", entry["edge"]["p_value"]))
    ]


def run_nav(page: str, index_href: str | None, importance: bool) -> list[dict]:
    """The links at the top of a run's pages: the reports index, the run report, its importance report
    (``page``: "index", "importance" or another page's stem, e.g. "importance_lastfold")."""
    items = [{"href": index_href, "text": "all reports"}] if index_href else []
    items.append({"href": None if page == "index" else "index.html", "text": "run report"})
    if importance:
        items.append({"href": None if page == "importance" else "importance.html", "text": "feature importance"})
    if page not in ("index", "importance"):
        items.append(
            {"href": None, "text": page.replace("importance_lastfold", "feature importance, last fold (rerun)")}
        )
    return items


def render_run_report(
    exp: Prepared,
    fitted: Fitted,
    metrics: dict,
    run_id: str,
    created: str,
    importance_link: bool = False,
    index_href: str | None = None,
) -> str:
    cfg, ws, idx = exp.cfg, exp.ws, exp.test_idx
    clf = exp.classification
    who = model_label(cfg.model, cfg.skip)
    names = list(DIRECTION_METRICS if clf else REGRESSION_METRICS)
    horizons = [horizon_view(e, names, cfg.seeds) for e in metrics["horizon_results"]]
    verdicts = [{"text": e["verdict"], "power": e["power"], "css": verdict_css(e)} for e in metrics["horizon_results"]]
    answers = [{"text": answer_sentence(e, clf, cfg.target), "css": verdict_css(e)} for e in metrics["horizon_results"]]
    ledger_lines = [a["sentence"] for a in metrics.get("ledger") or []]
    truth, model, _, _ = report_units(exp, fitted)
    mean_pred = model.mean(axis=0)
    dates = ws.dates[idx]
    pred_figs, roc_figs = [], []
    first_symbol = ws.symbols[idx][0]
    mask = ws.symbols[idx] == first_symbol
    unit = {"direction": "P(up)", "close": "log return implied by the predicted close", "return": "log return"}.get(
        cfg.target, cfg.target
    )
    for j, h in enumerate(cfg.horizons):
        pred_figs.append(
            figures.predicted_vs_true(
                dates[mask],
                truth[mask, j],
                mean_pred[mask, j],
                clf,
                f"{first_symbol}: {target_label(cfg.target, h)}, predicted vs true (test folds)",
                unit,
            )
        )
        if clf:
            roc_figs.append(figures.confusion_and_roc(truth[:, j], mean_pred[:, j], target_label(cfg.target, h), who))
    fig = {"learning": figures.learning_curves(fitted.histories), "pred": pred_figs, "roc": roc_figs}
    strategy = None
    if metrics.get("strategy"):
        s = metrics["strategy"]
        fig["equity"] = figures.equity_curves(s["curves"], f"Long/flat on the {who} vs buy and hold (h={s['horizon']})")
        strategy = {
            "horizon": s["horizon"],
            "cost_bps": s["cost_bps"],
            "time_in_market": _pct(s["time_in_market"]),
            "s": {
                "annual_return": _pct(s["strategy"]["annual_return"]),
                "sharpe": _fmt(s["strategy"]["sharpe"], 3),
                "max_drawdown": _pct(s["strategy"]["max_drawdown"]),
            },
            "b": {
                "annual_return": _pct(s["buy_and_hold"]["annual_return"]),
                "sharpe": _fmt(s["buy_and_hold"]["sharpe"], 3),
                "max_drawdown": _pct(s["buy_and_hold"]["max_drawdown"]),
            },
        }
    cross = []
    for xs in metrics.get("cross_section") or []:
        rows = []
        for name, r in xs["scores"].items():
            a = xs["against"].get(name)
            rows.append(
                {
                    "name": name,
                    "ic": _fmt(r["ic"]["mean"], 4),
                    "ic_ci": _test_ci(r["ic"]),
                    "ric": _fmt(r["rank_ic"]["mean"], 4),
                    "ric_ci": _test_ci(r["rank_ic"]),
                    "icir": _fmt(r["rank_ic"]["ir"], 3),
                    "ric_p": _fmt(r["rank_ic"]["p_value"], 3),
                    "spread": _fmt(1e4 * r["spread"]["mean"], 3),
                    "spread_ci": _test_ci(r["spread"], 1e4),
                    "sharpe": _fmt(r["book"]["sharpe"], 3),
                    "cum": _pct(r["book"]["cumulative_return"]),
                    "turnover": _fmt(r["book"]["turnover"], 3),
                    "ic_t": _fmt(r["rank_ic"].get("t", float("nan")), 3),
                    "ic_skew": _fmt(r["rank_ic"].get("skew", float("nan")), 3),
                    "ic_kurt": _fmt(r["rank_ic"].get("kurtosis", float("nan")), 3),
                    "autocorr": _fmt((r.get("stability") or {}).get("rank_autocorrelation", float("nan")), 3),
                    "top_turn": _pct((r.get("stability") or {}).get("top_quantile_turnover", float("nan"))),
                    "bottom_turn": _pct((r.get("stability") or {}).get("bottom_quantile_turnover", float("nan"))),
                    "alpha": _pct(r["book"].get("alpha", float("nan"))),
                    "beta": _fmt(r["book"].get("beta", float("nan")), 3),
                    "vs": ""
                    if a is None
                    else f"{a['mean']:+.4f} [{a['ci_low']:+.4f}, {a['ci_high']:+.4f}], p_holm={a['p_holm']:.3g}",
                }
            )
        cross.append(
            {
                "horizon": xs["horizon"],
                "sentence": xs["sentence"],
                "rows": rows,
                "chart": figures.cross_section_chart(xs),
                "k": xs["scores"][xs["model"]]["book"]["k"],
                "quantiles": xs["quantiles"],
                "per_date": xs["scores"][xs["model"]]["symbols_per_date"],
            }
        )
    symbols = ", ".join(exp.dataset.prices)
    first = min(pd.Timestamp(t.frame.index[0]) for t in exp.dataset.tables.values()).date()
    last = max(pd.Timestamp(t.frame.index[-1]) for t in exp.dataset.tables.values()).date()
    setup = [
        ("symbols", symbols),
        ("source", cfg.data or cfg.source),
        ("data range (after feature warm-up)", f"{first} .. {last}"),
        ("target", f"{cfg.target}, horizons {', '.join(map(str, cfg.horizons))}"),
        ("window", cfg.window),
        ("features", exp.dataset.spec),
        ("folds", f"{len(exp.folds)} walk-forward, purge {max(cfg.horizons)} dates"),
        (
            "preprocessing",
            f"{cfg.scaler} scaler, log of price levels: {cfg.log_transform}, clip quantile {cfg.clip_quantile}",
        ),
        (
            "model",
            f"{who}: "
            + ", ".join(
                f"{k.replace('_', ' ')} {getattr(cfg, k)}" for k in MODEL_SETTINGS if k in MODEL_FAMILIES[cfg.model]
            ),
        ),
        (
            "training",
            f"AdamW lr {cfg.lr} (scaling {cfg.lr_scaling}), batch {cfg.batch_size}, max {cfg.epochs} epochs, "
            f"patience {cfg.patience}, {seeds_text(fitted.seeds)}, device {fitted.device}",
        ),
        ("samples", f"{ws.n} windows; {len(idx)} out-of-sample test samples"),
    ]
    title = f"{symbols_text(exp.dataset.prices)}: does the {who} beat simple baselines on {cfg.target}?"
    shift = metrics.get("covariate_shift", {})
    return render_template(
        "report.html",
        title=title,
        run_id=run_id,
        created=created,
        version=__version__,
        verdicts=verdicts,
        answers=answers,
        ledger=ledger_lines,
        nav=run_nav("index", index_href, importance_link),
        n_test_days=f"{metrics['horizon_results'][0]['n_days']:,}",
        setup_line=f"{len(exp.folds)} walk-forward folds, {seeds_text(fitted.seeds)}, features {exp.dataset.spec}",
        forest=figures.forest_plot(metrics["horizon_results"], clf, cfg.target, who),
        setup=setup,
        model=who,
        shift_warnings=shift.get("warnings", []),
        survivorship=exp.dataset.survivorship,
        shift_rows=[(g, f"{100 * v:.0f}%") for g, v in sorted(shift.get("worst", {}).items(), key=lambda kv: -kv[1])],
        metric_names=list(names),
        horizons=horizons,
        strategy=strategy,
        figures=fig,
        cross=cross,
        folds=[f.describe(ws.dates) for f in exp.folds],
        purge=max(cfg.horizons),
        n_features=len(ws.columns),
        groups=[(g, ", ".join(c)) for g, c in exp.dataset.groups.items()],
    )
