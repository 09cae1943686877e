"""The evaluate stage: ``evaluate(prepared, fitted) -> Evaluation``. From out-of-sample predictions to
the numbers of ``metrics.json``: per horizon, the metrics of the seed
ensemble and of every baseline with intervals over test days, the comparator (per fold, the baseline that
did best on validation days before that fold's test block, which no baseline was fitted or early-stopped
on: :class:`Comparator`), the test of the model against it with its power, tests against every baseline
(Holm), a plain-words verdict, and the long/flat strategy view.

All inference goes through :mod:`pipeline.evaluation.inference`; nothing here is chosen on test data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from pipeline.evaluation import inference
from pipeline.evaluation.cross_section import cross_section, horizon_family as xs_family, sentence
from pipeline.evaluation.metrics import compute_metrics
from pipeline.evaluation.strategy import long_flat
from pipeline.evaluation.tables import headline_loss, headline_metric, metric_table
from pipeline.evaluation.verdicts import power_sentence, verdict
from pipeline.labels import label, model_label
from pipeline.stages.results import Evaluation, Fitted, Prepared, frozen_map
from pipeline.targets.core import RETURN_LIKE


UNITS = {
    "close": "the h-day log return implied by the predicted close, log(predicted close[t+h] / close[t]): "
    "scale-free, so every symbol and day weighs the same (price levels would let high-priced symbols and "
    "late days dominate); the comparator is chosen, the tests are made and compare works in this unit",
    "return": "the h-day log return",
}


def report_units(exp: Prepared, fitted: Fitted) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """(truth (n, H), model (S, n, H), baselines name -> (n, H), persistence reference (n, H)) in the one unit
    every metric, choice and test of the run uses: model units (probability of up; target units for
    regression; for ``close`` the log return it is trained on, see :data:`UNITS`). ``compare`` uses the same."""
    ws, idx = exp.ws, exp.test_idx
    return ws.y[idx], fitted.model_pred, dict(fitted.baseline_pred), ws.persist[idx]


def price_levels(exp: Prepared, log_return: np.ndarray) -> np.ndarray:
    """``close`` targets: (n, H) log returns of the test samples -> the prices close[t] * exp(r), for
    ``predictions.csv`` and nothing else (no test is made on price levels)."""
    return exp.ws.extra["close_t"][exp.test_idx][:, None] * np.exp(log_return)


PER_FOLD = "per_fold"  # the comparator's key when the folds chose different baselines


@dataclass(frozen=True)
class Comparator:
    """One horizon's comparator: per fold, the baseline with the lowest headline loss (per-day mean) on that
    fold's choice days, the later half of its validation block: days before its test block that no
    baseline was fitted or early-stopped on. Nothing about the test days enters the choice."""

    by_fold: Mapping[int, str]  # fold -> baseline
    val_loss: Mapping[int, Mapping[str, float]]  # fold -> baseline -> loss on the fold's choice days
    choice_days: Mapping[int, int]  # fold -> number of choice days

    @property
    def name(self) -> str:
        """The baseline's key when every fold chose the same one, else :data:`PER_FOLD`."""
        names = set(self.by_fold.values())
        return names.pop() if len(names) == 1 else PER_FOLD

    def prediction(self, base: Mapping[str, np.ndarray], test_fold: np.ndarray) -> np.ndarray:
        """(n_test, ...) the comparator's test predictions: each fold's rows from the baseline it chose."""
        out = np.array(base[self.by_fold[int(test_fold[0])]], dtype=float, copy=True)
        for f, b in self.by_fold.items():
            rows = test_fold == f
            out[rows] = base[b][rows]
        return out

    def describe(self) -> str:
        """The one baseline's label, or ``the per-fold comparator (previous move in fold 1, majority class in
        folds 2 and 3)``."""
        groups: dict[str, list[int]] = {}
        for f, b in sorted(self.by_fold.items()):
            groups.setdefault(b, []).append(f)
        if len(groups) == 1:
            return label(next(iter(groups)))
        folds = lambda fs: f"fold {fs[0]}" if len(fs) == 1 else f"folds {', '.join(map(str, fs[:-1]))} and {fs[-1]}"  # noqa: E731
        return "the per-fold comparator (" + ", ".join(f"{label(b)} in {folds(fs)}" for b, fs in groups.items()) + ")"

    def to_dict(self) -> dict:
        return {
            "by_fold": {str(f): b for f, b in self.by_fold.items()},
            "validation_loss": {str(f): dict(v) for f, v in self.val_loss.items()},
            "choice_days": {str(f): n for f, n in self.choice_days.items()},
            "rule": COMPARATOR_RULE,
        }


COMPARATOR_RULE = (
    "per fold, the baseline with the lowest headline loss on the later half of that fold's validation "
    "days (before its test block; LightGBM early-stops on the earlier half)"
)


def choose_comparator(exp: Prepared, fitted: Fitted, j: int) -> Comparator:
    """The comparator of horizon index ``j`` (see :class:`Comparator`). Ties go to the simplest baseline
    (the first listed)."""
    loss = headline_loss(exp.classification)
    by_fold, val_loss, days = {}, {}, {}
    for b in fitted.baselines:
        rows = exp.fold(b.fold).fold.val[b.choice]
        y, dates = exp.ws.y[rows][:, j], exp.ws.dates[rows]
        scores = {
            name: float(inference.per_day(loss(y, pred[b.choice, j]), dates).mean()) for name, pred in b.val.items()
        }
        order = list(scores)
        by_fold[b.fold] = min(scores, key=lambda n: (np.nan_to_num(scores[n], nan=np.inf), order.index(n)))
        val_loss[b.fold], days[b.fold] = frozen_map(scores), int(len(np.unique(dates)))
    return Comparator(frozen_map(by_fold), frozen_map(val_loss), frozen_map(days))


def headline_differentials(exp: Prepared, fitted: Fitted) -> list[pd.Series]:
    """Per horizon, the per-day differential behind the headline test: the comparator's headline loss minus
    the seed ensemble's, symbols of a day averaged (positive: the model better), indexed by test date. The
    ledger keeps them to count every configuration judged on the same days."""
    loss = headline_loss(exp.classification)
    truth, model, base, _ = report_units(exp, fitted)
    ensemble, dates = model.mean(axis=0), exp.ws.dates[exp.test_idx]
    out = []
    for j in range(len(exp.cfg.horizons)):
        comp = choose_comparator(exp, fitted, j).prediction(base, exp.test_fold)[:, j]
        d = loss(truth[:, j], comp) - loss(truth[:, j], ensemble[:, j])
        out.append(inference.day_series(d, dates))
    return out


def evaluate(exp: Prepared, fitted: Fitted) -> Evaluation:
    """Per horizon: metrics of the seed ensemble and of every baseline with intervals, the comparator
    (chosen per fold on validation days: :func:`choose_comparator`), the headline test with its power, tests
    against every baseline; then one family over the run's horizons (:func:`horizon_family`: Holm, the skill
    flag), the verdicts, and the strategy, cross-section and covariate-shift views."""
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
            base_metrics[name], base_ci[name] = metric_table(
                clf, y, pred[:, j], r, dates, h, cfg.bootstrap, cfg.seed, cfg.block, draws
            )
        chosen = choose_comparator(exp, fitted, j)
        comparator, comp, choice = chosen.name, chosen.prediction(base, exp.test_fold)[:, j], chosen.to_dict()
        if comparator == PER_FOLD:  # the folds chose different baselines: the comparator is their composite
            base_metrics[PER_FOLD], base_ci[PER_FOLD] = metric_table(
                clf, y, comp, r, dates, h, cfg.bootstrap, cfg.seed, cfg.block, draws
            )
        base_j = {name: pred[:, j] for name, pred in base.items()} | (
            {PER_FOLD: comp} if comparator == PER_FOLD else {}
        )
        # the headline test: per-day loss of the ensemble minus the comparator's; positive edge = model better
        diff = inference.paired_loss_test(loss(y, comp), loss(y, p), dates, h)
        against = {}
        for name, pred in base_j.items():
            t = inference.paired_loss_test(loss(y, pred), loss(y, p), dates, h)
            against[name] = {"edge": t.mean, "ci": [t.ci_low, t.ci_high], "p_value": t.p_value}
        tests = {}
        if clf and inference.iid_tests_valid(h, n_symbols):
            tests["pesaran_timmermann"] = inference.pesaran_timmermann(p > 0.5, y > 0.5)
            tests["mcnemar_vs_comparator"] = {
                **inference.mcnemar_binomial((p > 0.5) == (y > 0.5), (comp > 0.5) == (y > 0.5)),
                "baseline": comparator,
            }
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
            "stability": {
                "seed_values": per_seed,
                "seed_sd": float(np.std(per_seed)),
                "fold_values": {
                    int(f): compute_metrics(clf, y[folds == f], p[folds == f], r[folds == f])[head]
                    for f in np.unique(folds)
                },
            },
            "baselines": base_metrics,
            "baselines_ci": base_ci,
            "comparator": comparator,
            "comparator_by_fold": choice["by_fold"],
            "comparator_described": chosen.describe(),
            "comparator_choice": choice,
            "headline_metric": head,
            "edge": {
                **diff.to_dict(),
                "loss": "misclassification" if clf else "squared error",
                "units": "accuracy points" if clf else "MSE",
            },
            "unit": "probability of up" if clf else UNITS.get(cfg.target, f"the {cfg.target} target"),
            "model_family": cfg.model,
            "model_name": model_label(cfg.model, cfg.skip),
            "against_baselines": against,
            "tests": tests,
            "window_information": window_information(base_j, loss, y, dates, h, clf, len(cfg.horizons)),
        }
        entry["edge"]["mde_family"] = inference.min_detectable(diff, inference.ALPHA / len(cfg.horizons))
        if clf:  # the test can only speak about the samples on which the two make different calls
            entry["edge"]["disagreement"] = float(np.mean((p > 0.5) != (comp > 0.5)))
        if clf:
            entry["up_rate"] = float(y.mean())
        if n_symbols > 1:  # pooled model: the headline metric on each symbol's test days
            entry["per_symbol"] = {
                str(s): {
                    "n_test": int(len(rows)),
                    "model": compute_metrics(clf, y[rows], p[rows], r[rows])[head],
                    "baselines": {n: compute_metrics(clf, y[rows], b[rows], r[rows])[head] for n, b in base_j.items()},
                }
                for s, rows in by_symbol.items()
            }
        results.append(entry)
    horizon_family(results)
    for entry in results:
        entry["verdict"] = verdict(entry, clf)
        entry["power"] = power_sentence(entry, clf)
    xs = cross_section_view(exp, ensemble, base)
    return Evaluation(
        tuple(frozen_map(e) for e in results),
        strategy_view(exp, truth, model),
        shift_summary(exp),
        None if xs is None else tuple(xs),
        time.perf_counter() - t0,
    )


def window_information(
    base_j: dict[str, np.ndarray], loss, y: np.ndarray, dates: np.ndarray, h: int, clf: bool, n_horizons: int
) -> dict | None:
    """Does the window hold information at all? Ridge on the whole window against the baseline that reads nothing
    (majority class; persistence for regression): a one-sided HAR test, significant below ALPHA / n_horizons
    (Bonferroni over the run's horizons). Only then may a report say that the window holds what a network missed."""
    blind = base_j.get("majority" if clf else "persistence")
    if "window_ridge" not in base_j or blind is None:
        return None
    t = inference.paired_loss_test(loss(y, blind), loss(y, base_j["window_ridge"]), dates, h, alternative="greater")
    return {
        "edge": t.mean,
        "p_value": t.p_value,
        "significant": bool(t.p_value < inference.ALPHA / n_horizons),
        "against": "majority" if clf else "persistence",
    }


FAMILY = (
    "the run's horizons: the headline test of every horizon is Holm-adjusted over the horizons, the tests "
    "against every baseline over baselines x horizons; a verdict, the skill flag and the explain stage's skill "
    "gate read the adjusted p-values"
)


def horizon_family(entries: list[dict]) -> None:
    """One family per run: its horizons. Adds ``edge.p_holm`` (Holm over the horizons' headline tests) and
    ``against_baselines[*].p_holm`` (Holm over every baseline x horizon), and sets ``skill`` (the model beats
    its comparator after the correction), in place, before the entries are frozen. ``compare`` makes its
    family the same way (every pair x horizon)."""
    for entry, p in zip(entries, inference.holm(np.array([e["edge"]["p_value"] for e in entries]))):
        entry["edge"]["p_holm"] = float(p)
        entry["skill"] = bool(p < inference.ALPHA and entry["edge"]["mean"] > 0)
        entry["family"] = {"horizons": [e["horizon"] for e in entries], "rule": FAMILY}
    rows = [v for e in entries for v in e["against_baselines"].values()]
    for v, p in zip(rows, inference.holm(np.array([v["p_value"] for v in rows]))):
        v["p_holm"] = float(p)


def cross_section_view(exp: Prepared, ensemble: np.ndarray, base: dict[str, np.ndarray]) -> list[dict] | None:
    """Per horizon, for runs with several symbols per date and a target that ranks returns: IC, Rank IC,
    quantile portfolios and the long-short book of the model and of the reference scores (reversal,
    momentum, LightGBM), and the model's Rank IC against each (see :mod:`pipeline.evaluation.cross_section`)."""
    ws, idx, cfg = exp.ws, exp.test_idx, exp.cfg
    if cfg.target not in RETURN_LIKE or "xs_reversal" not in ws.extra:
        return None
    dates, symbols = ws.dates[idx], ws.symbols[idx]
    out = []
    for j, h in enumerate(cfg.horizons):
        scores = {
            model_label(cfg.model, cfg.skip): ensemble[:, j],
            "reversal": ws.extra["xs_reversal"][idx],
            "momentum": ws.extra["xs_momentum"][idx],
        }
        if "lightgbm" in base:
            scores["lightgbm"] = base["lightgbm"][:, j]
        xs = cross_section(
            dates,
            symbols,
            scores,
            ws.extra[f"fwd_return_h{h}"][idx],
            ws.extra["next_return"][idx],
            h,
            cfg.quantiles,
            cfg.top_k,
            cfg.cost_bps,
        )
        xs["horizon"] = h
        out.append(xs)
    xs_family(out)
    for xs in out:
        xs["sentence"] = sentence(xs["horizon"], xs)
    return out


SHIFT_WARN = 0.10  # warn when at least this share of a fold's test days lies outside the training range


def shift_summary(exp: Prepared) -> dict:
    """Per group: the worst fold's share of test days with a value outside the training range, and warnings."""
    groups = list(exp.dataset.groups)
    shift = {fd.fold.number: dict(fd.shift) for fd in exp.fold_data}
    worst = {g: max(shift[f][g] for f in shift) for g in groups} if shift else {}
    warnings = []
    for g, share in worst.items():
        if share >= SHIFT_WARN:
            fold = max(shift, key=lambda f: shift[f][g])
            warnings.append(
                f"covariate shift: in fold {fold}, {100 * share:.0f}% of test days have a '{g}' value outside its "
                "training range; the model, the baselines and the importance methods extrapolate there"
            )
    return {"per_fold": {str(f): v for f, v in shift.items()}, "worst": worst, "warnings": warnings}


def strategy_view(exp: Prepared, truth: np.ndarray, model: np.ndarray) -> dict | None:
    """Long/flat on the shortest horizon's ensemble signal, for direction, return and close targets."""
    if exp.cfg.target not in ("direction", "return", "close"):
        return None
    ws, idx = exp.ws, exp.test_idx
    pred = model.mean(axis=0)[:, 0]
    if exp.cfg.target == "direction":
        signal = pred > 0.5
    else:  # return and close: a predicted log return above 0 (for close: a predicted close above today's)
        signal = pred > 0
    nxt = ws.extra["next_return"][idx]
    ok = np.isfinite(nxt)
    view = long_flat(ws.dates[idx][ok], ws.symbols[idx][ok], signal[ok], nxt[ok], exp.cfg.cost_bps)
    view["horizon"] = exp.cfg.horizons[0]
    return view


def predictions_frame(exp: Prepared, fitted: Fitted) -> pd.DataFrame:
    """One row per test sample, horizon and seed: date, symbol, horizon, prediction, truth, fold, seed, in the
    run's unit (:func:`report_units`); for ``close`` also the predicted and realised prices."""
    truth, model, _, _ = report_units(exp, fitted)
    ws, idx = exp.ws, exp.test_idx
    close = exp.cfg.target == "close"
    parts = []
    for k, seed in enumerate(fitted.seeds):
        for j, h in enumerate(exp.cfg.horizons):
            frame = pd.DataFrame(
                {
                    "date": pd.DatetimeIndex(ws.dates[idx]).strftime("%Y-%m-%d"),
                    "symbol": ws.symbols[idx],
                    "horizon": h,
                    "prediction": model[k, :, j],
                    "truth": truth[:, j],
                    "fold": exp.test_fold,
                    "seed": seed,
                }
            )
            if close:
                frame["predicted_close"] = price_levels(exp, model[k])[:, j]
                frame["close"] = price_levels(exp, truth)[:, j]
            parts.append(frame)
    return pd.concat(parts, ignore_index=True)
