"""From out-of-sample predictions to the numbers of ``metrics.json``: per horizon, the model's metrics
(mean and spread over seeds) and every baseline's, block-bootstrap intervals over test days, tests
against the best simple baseline, a plain-words verdict, and the long/flat strategy view."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.experiment import Experiment
from pipeline.metrics import DIRECTION_METRICS, HIGHER_IS_BETTER, REGRESSION_METRICS, compute_metrics
from pipeline.stats import block_bootstrap, diebold_mariano, mcnemar_binomial, per_date_mean, pesaran_timmermann
from pipeline.strategy import long_flat

ALPHA = 0.05


def headline_metric(classification: bool) -> str:
    return "accuracy" if classification else "rmse"


def report_units(exp: Experiment) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """(truth, model (S, n, H), baselines, persistence reference) in the units the report shows.

    ``close`` is trained as a log return and reported as the price close[t+h]; everything else as is.
    """
    ws, idx = exp.ws, exp.test_idx
    truth, ref = ws.y[idx], ws.persist[idx]
    model, base = exp.model_pred, dict(exp.baseline_pred)
    if exp.cfg.target == "close":
        c = ws.extra["close_t"][idx][:, None]
        level = lambda r: c * np.exp(r)  # noqa: E731
        truth, ref = level(truth), np.repeat(c, truth.shape[1], axis=1)
        model = np.stack([level(m) for m in model])
        base = {k: level(v) for k, v in base.items()}
    return truth, model, base, ref


def evaluate(exp: Experiment) -> dict:
    cfg, ws, idx = exp.cfg, exp.ws, exp.test_idx
    clf = exp.classification
    names = DIRECTION_METRICS if clf else REGRESSION_METRICS
    head = headline_metric(clf)
    truth, model, base, ref = report_units(exp)
    dates = ws.dates[idx]
    results = []
    for j, h in enumerate(cfg.horizons):
        y, r = truth[:, j], ref[:, j]
        per_seed = [compute_metrics(clf, y, m[:, j], r) for m in model]
        model_mean = {k: float(np.mean([p[k] for p in per_seed])) for k in names}
        model_std = {k: float(np.std([p[k] for p in per_seed])) for k in names}
        base_metrics = {name: compute_metrics(clf, y, pred[:, j], r) for name, pred in base.items()}
        sign = 1 if HIGHER_IS_BETTER[head] else -1
        best = max(base_metrics, key=lambda n: sign * np.nan_to_num(base_metrics[n][head], nan=-np.inf * sign))

        def statistic(sample: np.ndarray) -> dict[str, float]:
            out: dict[str, float] = {}
            ms = [compute_metrics(clf, y[sample], m[sample, j], r[sample]) for m in model]
            for k in names:
                out[f"model:{k}"] = float(np.mean([x[k] for x in ms]))
            for name, pred in base.items():
                bm = compute_metrics(clf, y[sample], pred[sample, j], r[sample])
                for k in names:
                    out[f"{name}:{k}"] = bm[k]
            out["diff"] = out[f"model:{head}"] - out[f"{best}:{head}"]
            return out

        ci = block_bootstrap(statistic, dates, n_boot=cfg.bootstrap, block=cfg.block, seed=cfg.seed)
        mean_pred = model.mean(axis=0)[:, j]
        tests = {}
        if clf:
            tests["pesaran_timmermann"] = pesaran_timmermann(mean_pred > 0.5, y > 0.5)
            right = (mean_pred > 0.5) == (y > 0.5)
            base_right = (base[best][:, j] > 0.5) == (y > 0.5)
            tests["mcnemar_vs_best"] = {**mcnemar_binomial(right, base_right), "baseline": best}
        loss_m, loss_b = (mean_pred - y) ** 2, (base[best][:, j] - y) ** 2  # Brier for direction
        dm = diebold_mariano(per_date_mean(loss_m, dates), per_date_mean(loss_b, dates), h)
        tests["diebold_mariano_vs_best"] = {**dm, "baseline": best, "loss": "brier" if clf else "squared error"}
        if not clf and best != "persistence":
            loss_p = (base["persistence"][:, j] - y) ** 2
            tests["diebold_mariano_vs_persistence"] = {
                **diebold_mariano(per_date_mean(loss_m, dates), per_date_mean(loss_p, dates), h), "baseline": "persistence"}
        entry = {
            "horizon": h,
            "target": f"{cfg.target}_h{h}",
            "n_test": int(len(y)),
            "model": model_mean,
            "model_seed_std": model_std,
            "model_ci": {k: list(ci[f"model:{k}"]) for k in names},
            "baselines": base_metrics,
            "baselines_ci": {n: {k: list(ci[f"{n}:{k}"]) for k in names} for n in base},
            "best_baseline": best,
            "headline_metric": head,
            "difference_vs_best": {"value": model_mean[head] - base_metrics[best][head], "ci": list(ci["diff"])},
            "tests": tests,
        }
        if clf:
            entry["up_rate"] = float(y.mean())
        symbols = ws.symbols[idx]
        if len(set(symbols)) > 1:  # pooled model: the headline metric on each symbol's test days
            entry["per_symbol"] = {
                str(s): {"n_test": int((symbols == s).sum()),
                         "model": float(np.mean([compute_metrics(clf, y[symbols == s], m[symbols == s, j], r[symbols == s])[head]
                                                 for m in model])),
                         "baselines": {n: compute_metrics(clf, y[symbols == s], p[symbols == s, j], r[symbols == s])[head]
                                       for n, p in base.items()}}
                for s in sorted(set(symbols))}
        entry["verdict"] = verdict(entry, clf)
        results.append(entry)
    return {"horizon_results": results, "strategy": strategy_view(exp, truth, model)}


def verdict(entry: dict, clf: bool) -> str:
    """One honest sentence: does the model beat the best simple baseline on this horizon?"""
    head, best = entry["headline_metric"], entry["best_baseline"]
    m, b = entry["model"][head], entry["baselines"][best][head]
    lo, hi = entry["difference_vs_best"]["ci"]
    p_dm = entry["tests"]["diebold_mariano_vs_best"]["p_value"]
    p_main = entry["tests"]["mcnemar_vs_best"]["p_value"] if clf else p_dm
    better = (m > b) if HIGHER_IS_BETTER[head] else (m < b)
    interval_excludes_zero = (lo > 0 or hi < 0)
    sig = p_main < ALPHA and interval_excludes_zero
    text = f"h={entry['horizon']}: LSTM {head} {m:.4g} vs {best} {b:.4g} (difference {m - b:+.4g}, 95% CI [{lo:+.4g}, {hi:+.4g}], p={p_main:.3g})."
    if better and sig:
        return text + " The LSTM beats the best simple baseline, and the difference is significant."
    if better:
        return text + " The LSTM is ahead of the best simple baseline, but the difference is not significant."
    if sig:
        return text + f" The LSTM is significantly worse than the {best} baseline."
    return text + " The LSTM does not beat the best simple baseline (not significant)."


def strategy_view(exp: Experiment, truth: np.ndarray, model: np.ndarray) -> dict | None:
    """Long/flat on the shortest horizon's signal, for direction, return and close targets."""
    if exp.cfg.target not in ("direction", "return", "close"):
        return None
    ws, idx = exp.ws, exp.test_idx
    pred = model.mean(axis=0)[:, 0]
    if exp.cfg.target == "direction":
        signal = pred > 0.5
    elif exp.cfg.target == "return":
        signal = pred > 0
    else:
        signal = pred > ws.extra["close_t"][idx]
    nxt = ws.extra["next_return"][idx]
    ok = np.isfinite(nxt)
    view = long_flat(ws.dates[idx][ok], ws.symbols[idx][ok], signal[ok], nxt[ok], exp.cfg.cost_bps)
    view["horizon"] = exp.cfg.horizons[0]
    return view


def predictions_frame(exp: Experiment) -> pd.DataFrame:
    """One row per test sample, horizon and seed: date, symbol, horizon, prediction, truth, fold, seed."""
    truth, model, _, _ = report_units(exp)
    ws, idx = exp.ws, exp.test_idx
    parts = []
    for k, seed in enumerate(exp.seeds):
        for j, h in enumerate(exp.cfg.horizons):
            parts.append(pd.DataFrame({
                "date": pd.DatetimeIndex(ws.dates[idx]).strftime("%Y-%m-%d"), "symbol": ws.symbols[idx], "horizon": h,
                "prediction": model[k, :, j], "truth": truth[:, j], "fold": exp.test_fold, "seed": seed,
            }))
    return pd.concat(parts, ignore_index=True)
