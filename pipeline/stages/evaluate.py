"""The evaluate stage: ``evaluate(prepared, fitted) -> Evaluation``. From out-of-sample predictions to
the numbers of ``metrics.json``: per horizon, the metrics of the seed
ensemble and of every baseline with intervals over test days, the comparator (the baseline that did best
on the *validation* days), the test of the model against it with its power, tests against every baseline
(Holm), a plain-words verdict, and the long/flat strategy view.

All inference goes through :mod:`pipeline.evaluation.inference`; nothing here is chosen on test data.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from pipeline.evaluation import inference
from pipeline.evaluation.cross_section import cross_section, sentence
from pipeline.evaluation.metrics import compute_metrics
from pipeline.evaluation.strategy import long_flat
from pipeline.evaluation.tables import headline_loss, headline_metric, metric_table
from pipeline.evaluation.verdicts import power_sentence, verdict
from pipeline.stages.results import Evaluation, Fitted, Prepared, frozen_map
from pipeline.targets.core import RETURN_LIKE


def report_units(exp: Prepared, fitted: Fitted) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """(truth, model (S, n, H), baselines, persistence reference) in the units the report shows.

    ``close`` is trained as a log return and reported as the price close[t+h]; everything else as is.
    """
    ws, idx = exp.ws, exp.test_idx
    truth, ref = ws.y[idx], ws.persist[idx]
    model, base = fitted.model_pred, dict(fitted.baseline_pred)
    if exp.cfg.target == "close":
        c = ws.extra["close_t"][idx][:, None]
        level = lambda r: c * np.exp(r)  # noqa: E731
        truth, ref = level(truth), np.repeat(c, truth.shape[1], axis=1)
        model = np.stack([level(m) for m in model])
        base = {k: level(v) for k, v in base.items()}
    return truth, model, base, ref


def choose_comparator(exp: Prepared, val_pred: dict[str, np.ndarray], j: int) -> tuple[str, dict[str, float]]:
    """The baseline with the lowest headline loss on the validation days of every fold (per-day means),
    and every baseline's validation loss; ``val_pred``: name -> (n_val, H) in ``exp.val_idx`` order.
    Ties go to the simplest baseline (the first listed)."""
    loss = headline_loss(exp.classification)
    y, dates = exp.ws.y[exp.val_idx][:, j], exp.ws.dates[exp.val_idx]
    scores = {name: float(inference.per_day(loss(y, pred[:, j]), dates).mean()) for name, pred in val_pred.items()}
    best = min(scores, key=lambda n: (np.nan_to_num(scores[n], nan=np.inf), list(scores).index(n)))
    return best, scores


def evaluate(exp: Prepared, fitted: Fitted) -> Evaluation:
    """Per horizon: metrics of the seed ensemble and of every baseline with intervals, the comparator
    (chosen on validation days), the headline test with its power, tests against every baseline (Holm),
    the verdict; then the strategy, cross-section and covariate-shift views."""
    t0 = time.perf_counter()
    cfg, ws, idx = exp.cfg, exp.ws, exp.test_idx
    clf = exp.classification
    head = headline_metric(clf)
    loss = headline_loss(clf)
    truth, model, base, ref = report_units(exp, fitted)
    ensemble = model.mean(axis=0)
    dates, symbols = ws.dates[idx], ws.symbols[idx]
    names_, codes = np.unique(symbols.astype(str), return_inverse=True)
    order = np.argsort(codes, kind="stable")
    by_symbol = dict(zip(names_, np.split(order, np.cumsum(np.bincount(codes))[:-1])))  # symbol -> its test rows
    n_symbols = len(names_)
    results = []
    for j, h in enumerate(cfg.horizons):
        y, r, p = truth[:, j], ref[:, j], ensemble[:, j]
        draws = inference.BlockDraws(dates, h, cfg.bootstrap, cfg.seed, cfg.block or None)  # shared by every prediction
        model_metrics, model_ci = metric_table(clf, y, p, r, dates, h, cfg.bootstrap, cfg.seed, cfg.block, draws)
        base_metrics, base_ci = {}, {}
        for name, pred in base.items():
            base_metrics[name], base_ci[name] = metric_table(clf, y, pred[:, j], r, dates, h, cfg.bootstrap, cfg.seed,
                                                             cfg.block, draws)
        comparator, val_scores = choose_comparator(exp, fitted.baseline_val_pred, j)
        # the headline test: per-day loss of the ensemble minus the comparator's; positive edge = model better
        diff = inference.paired_loss_test(loss(y, base[comparator][:, j]), loss(y, p), dates, h)
        against = {}
        for name, pred in base.items():
            t = inference.paired_loss_test(loss(y, pred[:, j]), loss(y, p), dates, h)
            against[name] = {"edge": t.mean, "ci": [t.ci_low, t.ci_high], "p_value": t.p_value}
        adjusted = inference.holm(np.array([v["p_value"] for v in against.values()]))
        for v, ph in zip(against.values(), adjusted):
            v["p_holm"] = float(ph)
        tests = {}
        if clf and inference.iid_tests_valid(h, n_symbols):
            tests["pesaran_timmermann"] = inference.pesaran_timmermann(p > 0.5, y > 0.5)
            tests["mcnemar_vs_comparator"] = {**inference.mcnemar_binomial((p > 0.5) == (y > 0.5), (base[comparator][:, j] > 0.5) == (y > 0.5)),
                                              "baseline": comparator}
        per_seed = [compute_metrics(clf, y, m[:, j], r)[head] for m in model]
        folds = exp.test_fold
        entry = {
            "horizon": h,
            "target": f"{cfg.target}_h{h}",
            "n_test": int(len(y)),
            "n_days": diff.n_days,
            "n_symbols": n_symbols,
            "model": model_metrics,
            "model_ci": model_ci,
            "stability": {"seed_values": per_seed, "seed_sd": float(np.std(per_seed)),
                          "fold_values": {int(f): compute_metrics(clf, y[folds == f], p[folds == f], r[folds == f])[head]
                                          for f in np.unique(folds)}},
            "baselines": base_metrics,
            "baselines_ci": base_ci,
            "comparator": comparator,
            "comparator_validation_loss": val_scores,
            "headline_metric": head,
            "edge": {**diff.to_dict(), "loss": "misclassification" if clf else "squared error",
                     "units": "accuracy points" if clf else "MSE"},
            "against_baselines": against,
            "tests": tests,
        }
        entry["skill"] = bool(diff.significant and diff.mean > 0)
        if clf:  # the test can only speak about the samples on which the two make different calls
            entry["edge"]["disagreement"] = float(np.mean((p > 0.5) != (base[comparator][:, j] > 0.5)))
        if clf:
            entry["up_rate"] = float(y.mean())
        if n_symbols > 1:  # pooled model: the headline metric on each symbol's test days
            entry["per_symbol"] = {
                str(s): {"n_test": int(len(rows)),
                         "model": compute_metrics(clf, y[rows], p[rows], r[rows])[head],
                         "baselines": {n: compute_metrics(clf, y[rows], b[rows, j], r[rows])[head] for n, b in base.items()}}
                for s, rows in by_symbol.items()}
        entry["verdict"] = verdict(entry, clf)
        entry["power"] = power_sentence(entry, clf)
        results.append(frozen_map(entry))
    xs = cross_section_view(exp, ensemble, base)
    return Evaluation(tuple(results), strategy_view(exp, truth, model), shift_summary(exp),
                      None if xs is None else tuple(xs), time.perf_counter() - t0)


def cross_section_view(exp: Prepared, ensemble: np.ndarray, base: dict[str, np.ndarray]) -> list[dict] | None:
    """Per horizon, for runs with several symbols per date and a target that ranks returns: IC, Rank IC,
    quantile portfolios and the long-short book of the LSTM and of the reference scores (reversal,
    momentum, LightGBM), and the LSTM's Rank IC against each (see :mod:`pipeline.evaluation.cross_section`)."""
    ws, idx, cfg = exp.ws, exp.test_idx, exp.cfg
    if cfg.target not in RETURN_LIKE or "xs_reversal" not in ws.extra:
        return None
    dates, symbols = ws.dates[idx], ws.symbols[idx]
    out = []
    for j, h in enumerate(cfg.horizons):
        scores = {"LSTM": ensemble[:, j], "reversal": ws.extra["xs_reversal"][idx], "momentum": ws.extra["xs_momentum"][idx]}
        if "lightgbm" in base:
            scores["lightgbm"] = base["lightgbm"][:, j]
        xs = cross_section(dates, symbols, scores, ws.extra[f"fwd_return_h{h}"][idx], ws.extra["next_return"][idx], h,
                           cfg.quantiles, cfg.top_k, cfg.cost_bps)
        xs["horizon"] = h
        xs["sentence"] = sentence(h, xs)
        out.append(xs)
    return out


SHIFT_WARN = 0.10   # warn when at least this share of a fold's test days lies outside the training range


def shift_summary(exp: Prepared) -> dict:
    """Per group: the worst fold's share of test days with a value outside the training range, and warnings."""
    groups = list(exp.dataset.groups)
    shift = {fd.fold.number: dict(fd.shift) for fd in exp.fold_data}
    worst = {g: max(shift[f][g] for f in shift) for g in groups} if shift else {}
    warnings = []
    for g, share in worst.items():
        if share >= SHIFT_WARN:
            fold = max(shift, key=lambda f: shift[f][g])
            warnings.append(f"covariate shift: in fold {fold}, {100 * share:.0f}% of test days have a '{g}' value outside its "
                            "training range; the model, the baselines and the importance methods extrapolate there")
    return {"per_fold": {str(f): v for f, v in shift.items()}, "worst": worst, "warnings": warnings}


def strategy_view(exp: Prepared, truth: np.ndarray, model: np.ndarray) -> dict | None:
    """Long/flat on the shortest horizon's ensemble signal, for direction, return and close targets."""
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


def predictions_frame(exp: Prepared, fitted: Fitted) -> pd.DataFrame:
    """One row per test sample, horizon and seed: date, symbol, horizon, prediction, truth, fold, seed."""
    truth, model, _, _ = report_units(exp, fitted)
    ws, idx = exp.ws, exp.test_idx
    parts = []
    for k, seed in enumerate(fitted.seeds):
        for j, h in enumerate(exp.cfg.horizons):
            parts.append(pd.DataFrame({
                "date": pd.DatetimeIndex(ws.dates[idx]).strftime("%Y-%m-%d"), "symbol": ws.symbols[idx], "horizon": h,
                "prediction": model[k, :, j], "truth": truth[:, j], "fold": exp.test_fold, "seed": seed,
            }))
    return pd.concat(parts, ignore_index=True)
