"""``python -m pipeline compare``: which feature sets, and which model families, are worth having?

Every cell — a feature set, a model family (``--models``), or every model x feature set — trains on
identical folds, seeds and test days (the sets' samples are aligned on the
first date every set can fill). Each set's seeds are averaged into one ensemble prediction. Per set and
horizon: metrics of the ensemble with intervals over test days (:mod:`pipeline.evaluation.inference`), and the
spread over seeds x folds as stability. The feature-free baselines once; the comparator among them is the
one best on the validation days. Paired comparisons of every pair of sets and of every set against the
comparator: Diebold-Mariano on per-day loss differentials (HAR variance), Holm-corrected over all pairs x
horizons. A ranking, and one sentence per pair, always in the order "A − B".
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime
from itertools import combinations

import numpy as np
import pandas as pd

import torch

from pipeline.config.schema import RunConfig
from pipeline.errors import InputError
from pipeline.evaluation import inference
from pipeline.evaluation.inference import ALPHA, holm
from pipeline.evaluation.metrics import HIGHER_IS_BETTER, compute_metrics
from pipeline.evaluation.tables import headline_loss, headline_metric, metric_table
from pipeline.models.device import inference_threads
from pipeline.labels import symbols_text
from pipeline.progress import say
from pipeline.stages.evaluate import (
    choose_comparator,
    cross_section_view,
    headline_differentials,
    report_units,
    strategy_view,
)
from pipeline.stages.fit import fit_units, fold_baselines, job_device
from pipeline.stages.prepare import prepare
from pipeline.stages.results import Fitted, Prepared


@dataclasses.dataclass(frozen=True)
class SetResult:
    """One feature set of a comparison: its preparation and its fit (the networks; the baselines are the
    reference set's, the same for every set)."""

    name: str
    exp: Prepared
    fitted: Fitted

    @property
    def pred(self) -> np.ndarray:
        """(S, n_test, H) model units, in the run's test order."""
        return self.fitted.model_pred

    @property
    def seconds(self) -> float:
        return sum(u.seconds for u in self.fitted.units)


def _align(base: RunConfig, sets: list[str]) -> dict[str, Prepared]:
    """Prepare every set on the same samples: start at the first date every set can fill."""
    first = {spec: prepare(dataclasses.replace(base, features=spec, sample_start=None)) for spec in sets}
    start = str(pd.Timestamp(max(exp.ws.dates.min() for exp in first.values())).date())
    # same data and features, only the samples before ``start`` dropped: reuse each set's dataset
    exps = {
        spec: prepare(dataclasses.replace(base, features=spec, sample_start=start), dataset=first[spec].dataset)
        for spec in sets
    }
    ref = next(iter(exps.values()))
    for spec, exp in exps.items():
        same = (
            len(exp.ws.dates) == len(ref.ws.dates)
            and (exp.ws.dates == ref.ws.dates).all()
            and (exp.ws.symbols == ref.ws.symbols).all()
        )
        if not same:
            raise InputError(
                f"feature set {spec!r} yields other sample days than {ref.cfg.features!r} (gaps in a macro "
                "series?); compare sets that cover the same days"
            )
    return exps


def cell_names(sets: list[str], models: list[str]) -> list[tuple[str, str, str]]:
    """The compared cells ``(name, feature set, model)``: the feature sets (one model), the models (one
    feature set), or every model x feature set (named ``model|features``), the reference first."""
    if len(models) == 1:
        return [(spec, spec, models[0]) for spec in sets]
    if len(sets) == 1:
        return [(m, sets[0], m) for m in models]
    return [(f"{m}|{spec}", spec, m) for m in models for spec in sets]


def compare_sets(
    base: RunConfig,
    sets: list[str],
    executor: str = "local",
    n_jobs: int = 1,
    ray_address: str | None = None,
    log=say,
    gpus_per_job: float = 0.0,
    models: list[str] | None = None,
) -> dict:
    """prepare every feature set on the same samples -> fit every cell's networks (feature set x model; fold x
    seed units, through the executor) and the baselines once (the registry of ``run``, on the reference set)
    -> the summary. ``models``: the families to compare (default: the run's one)."""
    from tqdm.auto import tqdm

    models = list(models or [base.model])
    if gpus_per_job and executor != "ray":
        raise InputError("--gpus-per-job needs --executor ray (local workers are forked and train on CPU)")
    if len(set(sets)) != len(sets):
        raise InputError("each feature set may appear once in --features")
    if len(set(models)) != len(models):
        raise InputError("each model may appear once in --models")
    if len(sets) * len(models) < 2:
        raise InputError(
            "compare needs at least two feature sets or two models, e.g. --features ohlcv,ohlcv+technical "
            "or --models lstm,gru"
        )
    cells = cell_names(sets, models)
    t0 = time.perf_counter()
    torch.set_num_threads(inference_threads(base.threads))
    prepared = _align(base, sets)
    # one preparation per feature set; a cell is that preparation with its model family (shared data and folds)
    exps = {
        name: dataclasses.replace(prepared[spec], cfg=dataclasses.replace(prepared[spec].cfg, model=m))
        for name, spec, m in cells
    }
    sets = [name for name, _, _ in cells]
    ref = exps[sets[0]]
    seeds = ref.seeds
    what = (
        f"{len(sets)} feature sets"
        if len(models) == 1
        else f"{len(models)} models"
        if len(cells) == len(models)
        else f"{len(models)} models x {len(cells) // len(models)} feature sets"
    )
    log(
        f"{symbols_text(ref.dataset.prices)}: {what} x {len(ref.folds)} folds x {len(seeds)} seeds; "
        f"{len(ref.test_idx)} test samples per set; executor {executor}"
        + (f" ({n_jobs} jobs)" if executor == "local" else "")
    )
    bar = tqdm(
        total=len(sets) * len(ref.folds) * len(seeds),
        desc="compare jobs",
        unit="job",
        disable=None if base.progress else True,
    )
    units = [(f.number, s, None) for f in ref.folds for s in seeds]
    fitted_units = {
        spec: fit_units(exps[spec], units, executor, n_jobs, ray_address, gpus_per_job, progress=lambda: bar.update(1))
        for spec in sets
    }
    bar.close()
    t_base = time.perf_counter()
    base_folds = tuple(fold_baselines(ref, fd) for fd in ref.fold_data)  # the registry run uses: one comparator rule
    train_wall = time.perf_counter() - t0
    device = job_device(base.device, executor, gpus_per_job)
    set_results = {
        spec: SetResult(
            spec,
            exps[spec],
            Fitted(tuple(fitted_units[spec]), base_folds, tuple(seeds), device, time.perf_counter() - t_base),
        )
        for spec in sets
    }
    ref_fit = set_results[sets[0]].fitted
    summary = summarise(set_results, ref_fit, ref)
    summary["views"] = views(set_results)
    summary.update(
        {
            "kind": "compare",
            "created": datetime.now().isoformat(timespec="seconds"),
            "target": base.target,
            "horizons": base.horizons,
            "symbols": list(ref.dataset.prices),
            "feature_sets": sets,
            "seeds": seeds,
            "cells": [{"name": n, "features": f, "model": m} for n, f, m in cells],
            "models": models,
            "folds": [f.describe(ref.ws.dates) for f in ref.folds],
            "n_test": int(len(ref.test_idx)),
            "executor": executor,
            "jobs": n_jobs,
            "wall_seconds": time.perf_counter() - t0,
            "train_wall_seconds": train_wall,
            "job_seconds": sum(r.seconds for r in set_results.values()),
            "cell_seconds": {name: r.seconds for name, r in set_results.items()},  # training, summed over fold x seed
            "config": {k: v for k, v in base.to_dict().items() if k not in ("features", "model")},
        }
    )
    return summary


def views(set_results: dict[str, SetResult]) -> dict[str, dict]:
    """Per set, the views of ``run`` that depend on the cost, quantile and book settings: the long/flat
    strategy (``--cost-bps``) and, for a panel, the cross-section (``--quantiles``, ``--top-k``, ``--cost-bps``)."""
    out = {}
    for spec, r in set_results.items():
        truth, model, base, _ = report_units(r.exp, r.fitted)
        out[spec] = _without_curves(
            {
                "strategy": strategy_view(r.exp, truth, model),
                "cross_section": cross_section_view(r.exp, model.mean(axis=0), base),
            }
        )
    return out


def _without_curves(obj):
    """The numbers of a view without its per-day curves (those are for figures, not for compare.json)."""
    if isinstance(obj, dict):
        return {k: _without_curves(v) for k, v in obj.items() if k not in ("curves", "curve", "curve_dates")}
    if isinstance(obj, list):
        return [_without_curves(v) for v in obj]
    return obj


def _unit_values(exp: Prepared, pred: np.ndarray, j: int) -> np.ndarray:
    """Headline metric per (fold, seed) unit: stability across training runs, never a test."""
    y, ref = exp.ws.y[exp.test_idx][:, j], exp.ws.persist[exp.test_idx][:, j]
    head = headline_metric(exp.classification)
    return np.array(
        [
            compute_metrics(exp.classification, y[rows], pred[k, rows, j], ref[rows])[head]
            for fold in exp.folds
            for rows in [exp.test_fold == fold.number]
            for k in range(len(pred))
        ]
    )


def summarise(set_results: dict[str, SetResult], ref_fit: Fitted, ref: Prepared) -> dict:
    """The compare table (every set and baseline, every metric with its interval, pooled and per symbol),
    the paired tests (:func:`pair_tests`), the ranking and the comparator per horizon (chosen per fold as
    ``run`` chooses it: :func:`~pipeline.stages.evaluate.choose_comparator`)."""
    base_test = dict(ref_fit.baseline_pred)
    clf = ref.classification
    head = headline_metric(clf)
    cfg = ref.cfg
    symbols = list(ref.dataset.prices)
    ws, idx = ref.ws, ref.test_idx
    dates_all, syms = ws.dates[idx], ws.symbols[idx]
    scopes = [("all", np.ones(len(idx), bool))]
    if len(symbols) > 1:
        scopes += [(s, syms == s) for s in symbols]
    preds = {spec: r.pred.mean(axis=0) for spec, r in set_results.items()}  # seed ensembles (n, H)
    rows = []
    units: dict[tuple[str, str, int], np.ndarray] = {}
    comparators, chosen = {}, {}
    for j, h in enumerate(cfg.horizons):
        y_all, r_all = ws.y[idx][:, j], ws.persist[idx][:, j]
        chosen[h] = choose_comparator(ref, ref_fit, j)
        comparators[str(h)] = chosen[h].name
        for spec, r in set_results.items():
            units[("all", spec, h)] = _unit_values(ref, r.pred, j)
        for scope, mask in scopes:
            y, r, d = y_all[mask], r_all[mask], dates_all[mask]
            entries = [(spec, p[mask, j]) for spec, p in preds.items()] + [
                (f"baseline:{n}", p[mask, j]) for n, p in base_test.items()
            ]
            draws = inference.BlockDraws(d, h, cfg.bootstrap, cfg.seed, cfg.block or None)  # shared by the entries
            for name, pred in entries:
                values, ci = metric_table(clf, y, pred, r, d, h, cfg.bootstrap, cfg.seed, cfg.block, draws)
                unit_sd = (
                    float(np.std(units[("all", name, h)])) if name in set_results and scope == "all" else float("nan")
                )
                for m, v in values.items():
                    rows.append(
                        {
                            "feature_set": name,
                            "symbol": scope,
                            "horizon": h,
                            "metric": m,
                            "mean": v,
                            "ci_low": ci[m][0],
                            "ci_high": ci[m][1],
                            "stability_sd": unit_sd if m == head else float("nan"),
                        }
                    )
    # paired tests on the pooled scope, always "A − B" with B the earlier set (the first set is the reference):
    # every pair of sets, and every set against the comparator baseline; Holm over all of them
    y_test = ws.y[idx]
    tdf = pair_tests(
        preds,
        {h: (chosen[h].name, chosen[h].prediction(base_test, ref.test_fold)[:, j]) for j, h in enumerate(cfg.horizons)},
        y_test,
        dates_all,
        list(cfg.horizons),
        clf,
    )
    differentials = {spec: headline_differentials(r.exp, r.fitted) for spec, r in set_results.items()}  # the ledger's
    cdf = pd.DataFrame(rows)
    verdicts, ranking = [], {}
    for h in cfg.horizons:
        part = cdf[(cdf.horizon == h) & (cdf.metric == head) & (cdf.symbol == "all")]  # baselines included
        ranking[str(h)] = part.sort_values("mean", ascending=not HIGHER_IS_BETTER[head], kind="stable")[
            "feature_set"
        ].tolist()
        for row in tdf[tdf.horizon == h].itertuples():
            verdicts.append(pair_sentence(row, clf))
    return {
        "headline_metric": head,
        "ranking": ranking,
        "verdicts": verdicts,
        "table": cdf,
        "tests": tdf,
        "comparators": comparators,
        "comparators_by_fold": {str(h): c.to_dict()["by_fold"] for h, c in chosen.items()},
        "comparators_described": {str(h): c.describe() for h, c in chosen.items()},
        "units": {f"{s}|{k}|{h}": v.tolist() for (s, k, h), v in units.items()},
        "differentials": differentials,
        "dataset": ref.dataset,
    }


def pair_tests(
    preds: dict[str, np.ndarray],
    comparators: dict[int, tuple[str, np.ndarray]],
    y: np.ndarray,
    dates: np.ndarray,
    horizons: list[int],
    clf: bool,
) -> pd.DataFrame:
    """The compare family: per horizon, every pair of sets (``A − B``, B the earlier set) and every set
    against the comparator baseline, Diebold-Mariano on per-day headline-loss differentials (HAR), Holm over
    every row. ``preds``: set -> (n, H) seed ensembles; ``comparators``: h -> (name, (n,) its prediction);
    ``y``: (n, H); ``dates``: (n,)."""
    loss = headline_loss(clf)
    head = headline_metric(clf)
    names = list(preds)
    tests = []
    for j, h in enumerate(horizons):
        comparator, comp_pred = comparators[h]
        pairs = [(b, a) for a, b in combinations(names, 2)] + [(a, f"baseline:{comparator}") for a in names]
        for a, b in pairs:
            pa = preds[a][:, j]
            pb = preds[b][:, j] if b in preds else comp_pred
            t = inference.paired_loss_test(loss(y[:, j], pa), loss(y[:, j], pb), dates, h)
            sign = -1 if clf else 1  # report accuracy differences for direction, MSE differences otherwise
            tests.append(
                {
                    "horizon": h,
                    "set_a": a,
                    "set_b": b,
                    "metric": head if clf else "mse",
                    "diff": sign * t.mean,
                    "ci_low": sign * (t.ci_high if clf else t.ci_low),
                    "ci_high": sign * (t.ci_low if clf else t.ci_high),
                    "p_value": t.p_value,
                    "test": "diebold_mariano",
                    "mde": t.mde,
                    "n_days": t.n_days,
                }
            )
    tdf = pd.DataFrame(tests)
    tdf["p_holm"] = holm(tdf["p_value"].to_numpy())  # one family: every pair x every horizon
    return tdf


def pair_sentence(row, clf: bool) -> str:
    """One sentence per pair, always ``A − B`` with A the subject: "A better by …" or "A worse by …"."""
    scale, what = (100, "accuracy points") if clf else (1, "in MSE")
    better = row.diff > 0 if clf else row.diff < 0
    if row.diff == 0 and row.ci_low == row.ci_high:
        return f"h={row.horizon}: {row.set_a} − {row.set_b} = 0: they make the same calls on every test day; no difference."
    digits = ".2f" if clf else ".3g"  # accuracy points to 1/100; MSE to 3 significant digits
    v = lambda x: f"{float(f'{scale * x:{digits}}') + 0.0:+{digits}}"  # noqa: E731  (+0.0: no '-0.00')
    size = f"{abs(scale * row.diff):{digits}}" + (" points" if clf else "")
    text = (
        f"h={row.horizon}: {row.set_a} − {row.set_b} = {v(row.diff)} {what} "
        f"(95% CI [{v(row.ci_low)}, {v(row.ci_high)}] unadjusted, p_holm = {row.p_holm:.3g}): "
        f"{row.set_a} {'better' if better else 'worse'} by {size}"
    )
    return text + (", significant after Holm." if row.p_holm < ALPHA else ", not significant after Holm.")
