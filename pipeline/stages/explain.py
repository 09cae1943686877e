"""The explain stage of a run: wires the :class:`Experiment`'s models, trainer and fold data into the
``explain`` package (as callables), judges every importance over test days with :mod:`pipeline.evaluation.inference`
(:mod:`pipeline.evaluation.importance_tests`), and writes ``importance.csv`` and ``importance.html``.

Methods, each with an interval and a noise floor:

* ``permutation`` (default): per-sample loss increase of the seed ensemble when a group's windows are
  shuffled across test samples; floor 0; one-sided HAR test over test days, Holm over groups.
* temporal importance (with ``permutation``): the same for each lag block of each group (the last day,
  days 2-5, 6-20, 21-60), Holm over the group x block cells; plus the expected-gradients mass per lag.
* clustered importance: features clustered by correlation distance on the training rows (silhouette cut);
  permutation and expected gradients per cluster, beside the groups; clusters that span groups are named.
* ``ablation_retrain`` (``--ablation retrain|both``): loss increase of the drop-group ensemble over the
  full one; floor: the full model retrained with other seeds; the test compares the drop-group model
  with that reseeded model over test days, Holm over groups.
* ``lgbm_gain``, ``lgbm_split``, ``tree_shap``: LightGBM trained alongside a time-shuffled shadow of
  every group (Boruta); floor: the largest shadow. Gain and split have intervals over folds (they are
  properties of the fit, not of test days) and make no claim: on null data real no-skill groups beat
  their shadows 20% of the time (the model overfits persistent series more than shuffled ones; see the
  calibration study). TreeSHAP: interval over test days; a group clears when it is above the shadow
  floor *and* its signed attributions align with the realised outcomes out of sample (one-sided test of
  their covariance over test days, Holm over groups).
* ``lstm_shap`` (expected gradients) and ``integrated_gradients`` on the run's LSTMs
  (:mod:`pipeline.stages.explain_gradients`): interval over test days, the same out-of-sample alignment test; with
  ``--shap-floor``, a floor from a twin LSTM trained alongside shadows. Sanity checks: model
  randomisation and infidelity.

Every test-day importance is also given per test period (fold). Importance is a *finding* only where the
model has skill over the comparator at that horizon (the skill gate, from the run's verdict) and the
group clears the floor.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from explain import ablation, agreement, clusters as clustering, shap_lstm, temporal
from explain import lgbm as lgbm_explain
from explain.common import Importance, group_indices
from pipeline.stages.prepare import Experiment, to_model_units
from pipeline.evaluation.importance_tests import alignment, fold_interval, holm_by, per_day_item, sample_loss, set_clears
from pipeline.stages.explain_gradients import gradient_attributions
from pipeline.stages.explain_summary import conclusions, findings
from pipeline.progress import say, stage
from pipeline.models.trainer import predict


@dataclass
class ExplainConfig:
    ablation: str = "permute"       # retrain | permute | both | none
    explain: bool = True            # LightGBM + gradient attributions on the LSTM
    n_repeats: int = 5              # permutation repeats per group (the calibration study's setting)
    lag_repeats: int = 2            # permutation repeats per group x lag block and per cluster
    lgbm_lags: int = 5
    shap_windows: int = 500         # test windows explained by expected gradients (over all models)
    shap_background: int = 100      # training windows in the background
    shap_nsamples: int = 8          # interpolation points per explained window
    ig_windows: int = 100           # test windows explained by integrated gradients
    ig_steps: int = 16              # Gauss-Legendre steps of integrated gradients
    sanity_windows: int = 32        # windows of the randomisation and infidelity checks
    shap_floor: bool = False        # train a shadow twin per fold for the LSTM SHAP noise floor
    clusters: bool = True           # correlation clusters and their importance
    jobs: int = 2
    executor: str = "local"
    ray_address: str | None = None
    gpus_per_job: float = 0.0


@dataclass
class ExplainResult:
    items: list[Importance] = field(default_factory=list)
    lag_items: list[Importance] = field(default_factory=list)       # permutation per group x lag block
    cluster_items: list[Importance] = field(default_factory=list)   # permutation / lstm_shap per cluster
    clusters: clustering.Clusters | None = None
    blocks: list[temporal.LagBlock] = field(default_factory=list)
    shap_results: list[shap_lstm.LstmShapResult] = field(default_factory=list)   # expected gradients
    ig_results: list[shap_lstm.LstmShapResult] = field(default_factory=list)
    sanity: list[dict] = field(default_factory=list)
    lgbm_results: list[lgbm_explain.LgbmFoldResult] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    n_repeats: int = 5
    lag_repeats: int = 2
    lgbm_lags: int = 0
    skill: dict[int, bool] = field(default_factory=dict)     # horizon -> the model beat its comparator
    periods: list[str] = field(default_factory=list)         # test period labels, one per fold

    def table(self) -> pd.DataFrame:
        return agreement.importance_table(self.items)


def _fold_models(exp: Experiment, fd) -> list:
    return [exp.models[(fd.fold.number, seed)] for seed in exp.seeds if (fd.fold.number, seed) in exp.models]


class EnsemblePredict:
    """The seed ensemble of one fold in model units: ``predict(X) -> (N, H)``; :meth:`split` lets the
    permutation of late lag blocks run only the changed steps (see :func:`explain.ablation.permutation_importance`)."""

    def __init__(self, exp: Experiment, fd, device: torch.device):
        self.models = _fold_models(exp, fd)
        self.units = lambda raw: to_model_units(exp, raw, fd)
        self.device = device

    def __call__(self, X) -> np.ndarray:
        return np.mean([self.units(predict(m, X, self.device, batch_size=4096)) for m in self.models], axis=0)

    def split(self, own: np.ndarray, start: int, repeats: int):
        """For windows ``own`` ``(m, T, F)`` whose first ``start`` steps stay unchanged in ``repeats`` stacked
        copies: a function of the stacked tails ``(repeats m, T - start, F)`` -> predictions; ``None`` where a
        model cannot resume (bidirectional)."""
        if not all(getattr(m, "resumable", False) for m in self.models):
            return None
        head = torch.as_tensor(own[:, :start], device=self.device)
        prefixes = []
        with torch.no_grad():
            for m in self.models:
                m.eval()
                (h, c), total, steps = m.prefix(head)
                prefixes.append(((h.repeat(1, repeats, 1), c.repeat(1, repeats, 1)), total.repeat(repeats, 1), steps))

        def tail(X_tail: np.ndarray) -> np.ndarray:
            x = torch.as_tensor(X_tail, device=self.device)
            with torch.no_grad():
                return np.mean([self.units(m.resume(x, p).float().cpu().numpy()) for m, p in zip(self.models, prefixes)], axis=0)

        return tail


def _test_positions(exp: Experiment) -> dict[int, np.ndarray]:
    """fold -> positions of its test samples in the run's test order (exp.test_idx)."""
    return {fd.fold.number: np.flatnonzero(exp.test_fold == fd.fold.number) for fd in exp.fold_data}


def _period_labels(exp: Experiment) -> dict[int, str]:
    """fold -> its test period, ``YYYY-MM..YYYY-MM``."""
    out = {}
    for fd in exp.fold_data:
        d = exp.ws.dates[fd.fold.test]
        out[fd.fold.number] = f"{np.datetime_as_string(d.min(), unit='M')}..{np.datetime_as_string(d.max(), unit='M')}"
    return out


def _clusters(exp: Experiment) -> clustering.Clusters:
    """Correlation clusters of the features on the last fold's training rows (the last day of each training
    window: every training row, scaled with the fold's training-only scaler)."""
    fd = exp.fold_data[-1]
    rows = np.asarray(fd.X_train[:, -1, :], dtype=np.float64)
    return clustering.correlation_clusters(rows, list(exp.ws.columns), exp.dataset.groups)


def _prefetch(module: str) -> None:
    """Import ``module`` in a daemon thread (a later import waits for it on the import lock)."""
    import importlib
    import threading

    threading.Thread(target=importlib.import_module, args=(module,), daemon=True).start()


def run_explain(exp: Experiment, ecfg: ExplainConfig, log=say, skill: dict[int, bool] | None = None) -> ExplainResult:
    from tqdm.auto import tqdm

    if ecfg.explain and ecfg.sanity_windows > 0:
        _prefetch("captum.metrics")  # ~1 s of imports, done in the background while the permutations run
    res = ExplainResult(n_repeats=ecfg.n_repeats, lag_repeats=ecfg.lag_repeats, skill=dict(skill or {}))
    horizons, groups = exp.cfg.horizons, exp.dataset.groups
    gidx = group_indices(exp.ws.columns, groups)
    loss = sample_loss(exp.classification)
    cpu = torch.device("cpu")
    show = None if exp.cfg.progress else True
    positions = _test_positions(exp)
    test_dates = exp.ws.dates[exp.test_idx]
    labels = _period_labels(exp)
    res.periods = list(labels.values())
    periods = np.array([labels.get(int(f), "") for f in exp.test_fold])  # (rerun: only the saved fold has data)
    folds_order = [fd.fold.number for fd in exp.fold_data]
    order = np.concatenate([positions[f] for f in folds_order])

    def judged(raw: dict, method: str, name=lambda key: (key, "")) -> list[Importance]:
        """``(h, key) -> [per-fold per-sample arrays]`` -> Importance judged over test days (floor 0)."""
        out = []
        for (h, key), parts in raw.items():
            group, block = name(key)
            units = {f"fold{f}": float(np.mean(v)) for f, v in zip(folds_order, parts)}
            out.append(per_day_item(h, group, method, np.concatenate(parts), test_dates[order], units,
                                    periods=periods[order], block=block))
        return out

    if ecfg.clusters:
        t0 = time.perf_counter()
        res.clusters = _clusters(exp)
        res.seconds["clusters"] = time.perf_counter() - t0

    if ecfg.ablation in ("permute", "both"):
        t0 = time.perf_counter()
        folds = [(EnsemblePredict(exp, fd, cpu), fd.X_test, exp.ws.y[fd.fold.test]) for fd in exp.fold_data]
        raw = ablation.group_permutation(tqdm(folds, desc="permutation", unit="fold", leave=False, disable=show),
                                         gidx, horizons, loss, ecfg.n_repeats, exp.cfg.seed)
        items = judged(raw, "permutation")
        holm_by(items)
        res.items += items
        res.seconds["permutation"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        res.blocks = temporal.lag_blocks(exp.cfg.window)
        targets = {(g, b.label): (cols, b.steps(exp.cfg.window)) for g, cols in gidx.items() for b in res.blocks}
        lag_raw = ablation.permutation_importance(tqdm(folds, desc="lag blocks", unit="fold", leave=False, disable=show),
                                                  targets, horizons, loss, ecfg.lag_repeats, exp.cfg.seed + 1)
        res.lag_items = judged(lag_raw, "lag_permutation", name=lambda key: key)
        holm_by(res.lag_items)
        res.seconds["lag_blocks"] = time.perf_counter() - t0

        if res.clusters is not None:
            t0 = time.perf_counter()
            same = {c: g for c, g in res.clusters.groups.items()
                    if len(g) == 1 and c == g[0] and set(res.clusters.members[c]) == set(gidx.get(c, []))}
            todo = {c: (idx, None) for c, idx in res.clusters.members.items() if c not in same}
            craw = ablation.permutation_importance(folds, todo, horizons, loss, ecfg.lag_repeats, exp.cfg.seed + 2) if todo else {}
            craw.update({(h, c): raw[(h, c)] for c in same for h in horizons})
            citems = judged(craw, "permutation")
            holm_by(citems)
            res.cluster_items += citems
            res.seconds["cluster_permutation"] = time.perf_counter() - t0

    if ecfg.ablation in ("retrain", "both"):
        t0 = time.perf_counter()
        res.items += _retrain(exp, ecfg, gidx, loss, positions, test_dates, show)
        res.seconds["ablation_retrain"] = time.perf_counter() - t0

    if ecfg.explain:
        t0 = time.perf_counter()
        res.lgbm_lags = min(ecfg.lgbm_lags, exp.cfg.window)
        res.items += _lightgbm(exp, res, gidx, positions, test_dates)
        res.seconds["lightgbm"] = time.perf_counter() - t0

        grads = gradient_attributions(exp, ecfg, gidx, positions, test_dates, periods, show)
        res.shap_results, res.ig_results, res.sanity = grads.eg, grads.ig, grads.sanity
        res.items += grads.items
        res.seconds.update(grads.seconds)
        if res.clusters is not None:
            from pipeline.stages.explain_gradients import judge_attributions

            test_y = exp.ws.y[exp.test_idx]
            for j, h in enumerate(horizons):
                citems = judge_attributions(res.shap_results, "lstm_shap", j, h, res.clusters.members, test_dates, test_y, periods)
                set_clears(citems)
                res.cluster_items += citems
    stage(exp.cfg.progress, "explain: " + ", ".join(f"{k} {v:.1f} s" for k, v in res.seconds.items()))
    return res


def _retrain(exp: Experiment, ecfg: ExplainConfig, gidx, loss, positions, test_dates, show) -> list[Importance]:
    from tqdm.auto import tqdm

    from pipeline.stages.executor import run_jobs
    from pipeline.stages.jobs import UnitJob, job_device, register_prepared, train_unit

    key = register_prepared(exp)
    folds = [fd.fold.number for fd in exp.fold_data]
    y_test = {fd.fold.number: exp.ws.y[fd.fold.test] for fd in exp.fold_data}
    n_jobs = len(folds) * len(exp.seeds) * (len(gidx) + 2)
    bar = tqdm(total=n_jobs, desc="ablation retrain", unit="job", leave=False, disable=show)
    # full, drop-group and reseeded models: one job path, one device (the run's, for local jobs)
    device = job_device(exp.cfg.device, ecfg.executor, ecfg.gpus_per_job)
    workers = 1 if device == "cuda" and ecfg.executor == "local" else ecfg.jobs
    fingerprint = exp.dataset.fingerprint()

    def run_all(jobs: list[tuple[int, int, str | None]]) -> list[np.ndarray]:
        units = [UnitJob(key, f, s, g, device, fingerprint) for f, s, g in jobs]
        out = run_jobs(train_unit, units, ecfg.executor, workers, ecfg.ray_address, num_gpus=ecfg.gpus_per_job,
                       progress=lambda: bar.update(1))
        return [r.pred for r in out]

    try:
        drops, floor = ablation.drop_group_retrain(run_all, folds, exp.seeds, list(gidx), y_test, exp.cfg.horizons, loss)
    finally:
        bar.close()
    items = []
    dates = np.concatenate([test_dates[positions[f]] for f in folds])
    for (h, g), parts in drops.items():
        values = np.concatenate(parts)
        reseed = np.concatenate(floor[h])
        units = {f"fold{f}": float(np.mean(v)) for f, v in zip(folds, parts)}
        # the drop-group model against the reseeded full model: what dropping the group costs beyond retraining
        items.append(per_day_item(h, g, "ablation_retrain", values, dates, units, floor=float(np.mean(reseed)),
                                   test=values - reseed))
    holm_by(items)
    return items


def _lightgbm(exp: Experiment, res: ExplainResult, gidx, positions, test_dates) -> list[Importance]:
    """Gain, split and TreeSHAP of LightGBM trained alongside a shadow of every group, per fold and horizon."""
    y = exp.ws.y
    for fd in exp.fold_data:
        y_tr = y[fd.fold.train] if exp.classification else fd.y_train
        y_va = y[fd.fold.val] if exp.classification else fd.y_val
        fits = lgbm_explain.fit_with_shadows(fd.X_train, y_tr, fd.X_val, y_va, fd.X_test, exp.classification,
                                             res.lgbm_lags, gidx, exp.cfg.seed, n_jobs=torch.get_num_threads())
        for j, f in enumerate(fits):
            res.lgbm_results.append(lgbm_explain.LgbmFoldResult(fd.fold.number, exp.cfg.horizons[j], f.gain, f.split,
                                                                f.contrib, f.X_flat, positions[fd.fold.number]))
    return judge_lightgbm(res.lgbm_results, gidx, len(exp.ws.columns), res.lgbm_lags, exp.cfg.horizons, test_dates,
                          exp.ws.y[exp.test_idx])


def judge_lightgbm(results: list[lgbm_explain.LgbmFoldResult], gidx: dict[str, np.ndarray], n_real: int, lags: int,
                   horizons: list[int], test_dates: np.ndarray, test_y: np.ndarray) -> list[Importance]:
    """Importance rows of the shadow-augmented LightGBM fits. ``test_dates`` ``(n,)`` and ``test_y`` ``(n, H)``
    are in test order (``r.test_pos`` indexes them). Gain and split shares: intervals over folds, the
    largest shadow as floor, no claim. TreeSHAP: interval over test days; a group clears when it is above
    the shadow floor and its signed attributions align with the outcomes (one-sided, Holm over groups)."""
    sidx = lgbm_explain.shadow_group_idx(gidx, n_real)
    n_all = n_real + sum(len(c) for c in gidx.values())
    both = {**gidx, **sidx}
    items, tree = [], []
    for h in horizons:
        rs = [r for r in results if r.horizon == h]
        for method, key in (("lgbm_gain", "gain"), ("lgbm_split", "split")):
            shares = [lgbm_explain.to_groups(getattr(r, key) / max(getattr(r, key).sum(), 1e-12), n_all, lags, both) for r in rs]
            floors = [max(s[g] for g in sidx) for s in shares]
            for g in gidx:
                m, lo, hi = fold_interval([s[g] for s in shares])
                items.append(Importance(h, g, method, m, lo, hi, {f"fold{r.fold}": s[g] for r, s in zip(rs, shares)},
                                        floor=float(np.mean(floors)), basis="folds"))
        per_row = [lgbm_explain.group_shap(r, n_all, lags, both) for r in rs]
        signed = [lgbm_explain.group_shap(r, n_all, lags, gidx, signed=True) for r in rs]
        pos = np.concatenate([r.test_pos for r in rs])
        dates, y = test_dates[pos], test_y[pos, horizons.index(h)]
        floor = max(float(np.concatenate([v[g] for v in per_row]).mean()) for g in sidx)
        part = []
        for g in gidx:
            part.append(per_day_item(h, g, "tree_shap", np.concatenate([v[g] for v in per_row]), dates,
                                      {f"fold{r.fold}": float(v[g].mean()) for r, v in zip(rs, per_row)}, floor=floor,
                                      test=alignment(np.concatenate([v[g] for v in signed]), y)))
        set_clears(part)
        tree += part
    return items + tree


def write_importance(exp: Experiment, res: ExplainResult, folder: Path, stem: str = "importance", note: str = "") -> None:
    """``<stem>.csv`` (one row per horizon, group and method), the temporal, cluster, period and sanity-check
    tables (``<stem>_lags.csv``, ...), and the self-contained ``<stem>.html`` into ``folder``; ``note``: a
    banner at the top of the page (e.g. what a rerun covers)."""
    from pipeline.reporting.importance_page import detail_tables, render_importance_report

    table = res.table()
    table[["horizon", "group", "method", "value", "ci_low", "ci_high", "rank", "floor", "p_holm", "clears_floor", "basis"]].to_csv(
        folder / f"{stem}.csv", index=False)
    for name, frame in detail_tables(exp, res).items():
        if not frame.empty:
            frame.to_csv(folder / name.replace("importance", stem, 1) if name.startswith("importance") else
                         folder / (name if stem == "importance" else f"{stem}_{name}"), index=False)
    from pipeline.reporting.run_page import run_nav
    from pipeline.reporting.index import index_href

    nav = run_nav(stem, index_href(folder), (folder / "importance.html").exists() or stem == "importance")
    (folder / f"{stem}.html").write_text(render_importance_report(exp, res, table, note=note, nav=nav))


def explain_writer(ecfg: ExplainConfig, log=say) -> Callable[[Experiment, dict], Callable[[Path], None] | None]:
    """A stage for :func:`pipeline.reporting.run_folder.run`: compute importances now (gated by the run's verdicts), write
    them into the run folder."""

    def stage(exp: Experiment, metrics: dict):
        if ecfg.ablation == "none" and not ecfg.explain:
            return None
        t0 = time.perf_counter()
        skill = {e["horizon"]: e["skill"] for e in metrics["horizon_results"]}
        res = run_explain(exp, ecfg, log, skill)
        metrics["explain_seconds"] = time.perf_counter() - t0
        metrics["explain_timings"] = res.seconds
        metrics["importance_findings"] = findings(exp, res)
        metrics["importance_conclusions"] = conclusions(exp, res)
        return lambda folder: write_importance(exp, res, folder)

    return stage
