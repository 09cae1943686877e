"""The explain stage: ``explain(prepared, fitted, evaluation, ecfg) -> Explanation``. Wires the fitted
models, the one trainer (:func:`pipeline.stages.fit.fit_unit`) and the fold data into the ``explain``
package (as callables), judges every importance over test days with :mod:`pipeline.evaluation.inference`
(:mod:`pipeline.evaluation.importance_tests`), and writes ``importance.csv`` and ``importance.html``.

Methods, each with an interval and a noise floor:

* ``permutation`` (default): per-sample loss increase of the seed ensemble when a group's windows are
  shuffled across test samples; floor 0; one-sided HAR test over test days, Holm over groups. It measures
  how much the model *relies on* the group, not whether the group carries information: a no-information
  group correlated with another one the model also uses (offsetting weights) clears it (calibration study).
* ``conditional_permutation`` (with ``permutation``): the same, permuting only the part of the group the
  other groups do not predict from that day and their past (:func:`explain.ablation.conditional_permutation`,
  the map fitted on the test windows' rows, inputs only, never their outcomes); the test of whether the
  group carries information the others do not, and the one the lead and the CLI make their claims from
  (with drop-and-retrain). Redundant correlated groups score ~0 each: their joint claim is the cluster's.
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

import copy
import time

import numpy as np
import torch

from explain import ablation, clusters as clustering, temporal
from explain import lgbm as lgbm_explain
from explain.common import Importance, group_indices
from pipeline.models.lightgbm import fit_lightgbm
from pipeline.stages.fit import fit_units
from pipeline.config.schema import ExplainConfig
from pipeline.stages.results import Evaluation, Explanation, Fitted, FoldData, Prepared, frozen_map
from pipeline.evaluation.importance_tests import (
    relied_on,
    alignment,
    fold_interval,
    holm_by,
    per_day_item,
    sample_loss,
    set_clears,
)
from pipeline.stages.explain_gradients import gradient_attributions
from pipeline.stages.explain_summary import conclusions, findings
from pipeline.progress import say, stage, timed
from pipeline.models.trainer import predict


def _fold_models(fitted: Fitted, fd: FoldData) -> list:
    models = fitted.models
    return [models[(fd.fold.number, seed)] for seed in fitted.seeds if (fd.fold.number, seed) in models]


class EnsemblePredict:
    """The seed ensemble of one fold in model units: ``predict(X) -> (N, H)``; :meth:`split` lets the
    permutation of late lag blocks run only the changed steps (see :func:`explain.ablation.permutation_importance`)."""

    def __init__(self, exp: Prepared, fitted: Fitted, fd: FoldData, device: torch.device):
        # on the run's device; a copy there (the fitted models stay as the fit stage left them, on the CPU)
        self.models = [m if device.type == "cpu" else copy.deepcopy(m).to(device) for m in _fold_models(fitted, fd)]
        self.units = lambda raw: exp.to_model_units(raw, fd)
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
                prefixes.append(m.repeat_prefix(m.prefix(head), repeats))

        def tail(X_tail: np.ndarray) -> np.ndarray:
            x = torch.as_tensor(X_tail, device=self.device)
            with torch.no_grad():
                return np.mean(
                    [self.units(m.resume(x, p).float().cpu().numpy()) for m, p in zip(self.models, prefixes)], axis=0
                )

        return tail


def segment_starts(row_symbols: np.ndarray) -> np.ndarray:
    """``(R,)`` the first row of each row's symbol (rows of a symbol are contiguous): where its past begins."""
    sym = np.asarray(row_symbols)
    change = np.r_[0, np.flatnonzero(sym[1:] != sym[:-1]) + 1]
    return change[np.searchsorted(change, np.arange(len(sym)), side="right") - 1]


def conditional_windows(exp: Prepared, X, gidx: dict[str, np.ndarray]) -> dict:
    """Per group, the part of its window that the other groups' windows predict on a fold's (scored) test windows
    ``X`` (:func:`explain.ablation.conditional_fit`, fitted on those windows' scaled inputs), indexable like
    windows."""
    return ablation.conditional_fit(
        X.rows.cpu().numpy(),
        segment_starts(exp.ws.row_symbols),
        X.blocks[0][2].cpu().numpy(),
        exp.cfg.window,
        gidx,
        seed=exp.cfg.seed,
    )


def permutation_repeats(ecfg: ExplainConfig, n_largest: int) -> tuple[int, int]:
    """The repeats of each permutation (groups and conditional; lag blocks and clusters) for folds of at most
    ``n_largest`` test windows: the ones asked for, or, beyond ``--perm-windows`` windows (a panel), proportionally
    fewer (at least 1), so that windows x repeats stays within ``perm_windows x`` the repeats asked. Every window is
    kept: the per-day statistic averages the day's symbols, so one repeat over 64 symbols is steadier than five
    over a fifth of them (on a 64-stock panel the subset lost groups at h=5 that every window found)."""
    shrink = min(1.0, ecfg.perm_windows / n_largest) if ecfg.perm_windows > 0 and n_largest > 0 else 1.0
    return max(1, round(ecfg.n_repeats * shrink)), max(1, round(ecfg.lag_repeats * shrink))


def scored_samples(day: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """The test samples of one fold that TreeSHAP explains, sorted: all of them when there are at most ``cap``
    (``0``: no cap); else every test day with a seeded share ``cap / n`` of that day's samples (at least one). The
    per-day statistic is then the mean over a random subset of the day's symbols: unbiased for the mean over all of
    them, and the inference over days is unchanged. ``day`` ``(n,)``: each sample's day."""
    day = np.asarray(day)
    n = len(day)
    if cap <= 0 or n <= cap:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(n), day))  # by day, random within a day
    sorted_day = day[order]
    first = np.r_[0, np.flatnonzero(sorted_day[1:] != sorted_day[:-1]) + 1]
    counts = np.diff(np.r_[first, n])
    rank = np.arange(n) - np.repeat(first, counts)  # position within its day
    quota = np.maximum(1, np.round(counts * cap / n)).astype(np.int64)
    return np.sort(order[rank < np.repeat(quota, counts)])


def sample_days(exp: Prepared) -> list[np.ndarray]:
    """Per fold, each test sample's day as a position on the calendar of the run's sample dates ``(N_fold,)``."""
    calendar = np.unique(exp.ws.dates)
    return [np.searchsorted(calendar, exp.ws.dates[fd.fold.test]) for fd in exp.fold_data]


def _test_positions(exp: Prepared) -> dict[int, np.ndarray]:
    """fold -> positions of its test samples in the run's test order (exp.test_idx)."""
    return {fd.fold.number: np.flatnonzero(exp.test_fold == fd.fold.number) for fd in exp.fold_data}


def _period_labels(exp: Prepared) -> dict[int, str]:
    """fold -> its test period, ``YYYY-MM..YYYY-MM``."""
    out = {}
    for fd in exp.fold_data:
        d = exp.ws.dates[fd.fold.test]
        out[fd.fold.number] = f"{np.datetime_as_string(d.min(), unit='M')}..{np.datetime_as_string(d.max(), unit='M')}"
    return out


def _clusters(exp: Prepared) -> clustering.Clusters:
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


class _Draft:
    """The explanation while the stage builds it (frozen into an :class:`Explanation` at the end)."""

    def __init__(self, **values):
        self.items, self.lag_items, self.cluster_items = [], [], []
        self.clusters, self.blocks, self.shap_results, self.ig_results, self.sanity = None, [], [], [], []
        self.lgbm_results, self.seconds, self.lgbm_lags, self.periods = [], {}, 0, []
        self.__dict__.update(values)

    def freeze(self) -> Explanation:
        v = dict(self.__dict__)
        for k in (
            "items",
            "lag_items",
            "cluster_items",
            "blocks",
            "shap_results",
            "ig_results",
            "sanity",
            "lgbm_results",
            "periods",
        ):
            v[k] = tuple(v[k])
        v["seconds"], v["skill"] = frozen_map(v["seconds"]), frozen_map(v["skill"])
        return Explanation(**v)


def explain(
    exp: Prepared,
    fitted: Fitted,
    evaluation: Evaluation | None,
    ecfg: ExplainConfig,
    log=say,
    skill: dict[int, bool] | None = None,
) -> Explanation:
    """Every importance method of ``ecfg`` on the fitted models, judged over test days, with the skill gate
    from ``evaluation`` (or ``skill``: horizon -> bool, e.g. read back from a run folder)."""
    from dataclasses import replace

    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    if skill is None:
        skill = evaluation.skill() if evaluation is not None else {}
    if ecfg.explain and ecfg.sanity_windows > 0:
        _prefetch("captum.metrics")  # ~1 s of imports, done in the background while the permutations run
    days = sample_days(exp)
    n_repeats, lag_repeats = permutation_repeats(ecfg, max((len(d) for d in days), default=0))
    res = _Draft(n_repeats=n_repeats, lag_repeats=lag_repeats, skill=dict(skill))
    horizons, groups = exp.cfg.horizons, exp.dataset.groups
    gidx = group_indices(exp.ws.columns, groups)
    loss = sample_loss(exp.classification)
    device = torch.device(fitted.device)  # the permutation passes run where the models were trained
    show = None if exp.cfg.progress else True
    positions = _test_positions(exp)
    test_dates = exp.ws.dates[exp.test_idx]
    labels = _period_labels(exp)
    res.periods = list(labels.values())
    periods = np.array([labels.get(int(f), "") for f in exp.test_fold])  # (rerun: only the saved fold has data)
    folds_order = [fd.fold.number for fd in exp.fold_data]
    order = np.concatenate([positions[f] for f in folds_order])
    # the samples TreeSHAP explains per fold (all of them up to --perm-windows)
    keep = [scored_samples(d, ecfg.perm_windows, exp.cfg.seed + 7 * f) for d, f in zip(days, folds_order)]
    scored = {f: positions[f][k] for f, k in zip(folds_order, keep)}

    def judged(raw: dict, method: str, name=lambda key: (key, "")) -> list[Importance]:
        """``(h, key) -> [per-fold per-sample arrays]`` -> Importance judged over test days (floor 0)."""
        out = []
        for (h, key), parts in raw.items():
            group, block = name(key)
            units = {f"fold{f}": float(np.mean(v)) for f, v in zip(folds_order, parts)}
            out.append(
                per_day_item(
                    h,
                    group,
                    method,
                    np.concatenate(parts),
                    test_dates[order],
                    units,
                    periods=periods[order],
                    block=block,
                )
            )
        return out

    if ecfg.clusters:
        with timed(res.seconds, "clusters"):
            res.clusters = _clusters(exp)

    if ecfg.ablation in ("permute", "both"):
        with timed(res.seconds, "permutation"):
            folds = [
                (EnsemblePredict(exp, fitted, fd, device), fd.X_test, exp.ws.y[fd.fold.test]) for fd in exp.fold_data
            ]
            # no sample reads a block from a window that holds its own target's days (explain.ablation.partners)
            apart = dict(days=days, reach=exp.cfg.window - 1 + max(horizons))
            raw = ablation.group_permutation(
                tqdm(folds, desc="permutation", unit="fold", leave=False, disable=show),
                gidx,
                horizons,
                loss,
                n_repeats,
                exp.cfg.seed,
                **apart,
            )
            items = judged(raw, "permutation")
            holm_by(items)
            res.items += items

        # what each group holds that the others do not: the permutation claims
        with timed(res.seconds, "conditional_permutation"):
            # the map from the other groups to each group, on the test rows' inputs (no outcome): the joint
            # distribution the permutation must keep is the test days' own
            coefs = [conditional_windows(exp, fd.X_test, gidx) for fd in exp.fold_data]
            craw = ablation.conditional_permutation(
                tqdm(folds, desc="conditional permutation", unit="fold", leave=False, disable=show),
                gidx,
                coefs,
                horizons,
                loss,
                n_repeats,
                exp.cfg.seed + 3,
                **apart,
            )
            items = judged(craw, "conditional_permutation")
            holm_by(items)
            relied_on(items, [i for i in res.items if i.method == "permutation"])
            res.items += items

        with timed(res.seconds, "lag_blocks"):
            res.blocks = temporal.lag_blocks(exp.cfg.window)
            targets = {(g, b.label): (cols, b.steps(exp.cfg.window)) for g, cols in gidx.items() for b in res.blocks}
            lag_raw = ablation.permutation_importance(
                tqdm(folds, desc="lag blocks", unit="fold", leave=False, disable=show),
                targets,
                horizons,
                loss,
                lag_repeats,
                exp.cfg.seed + 1,
                **apart,
            )
            res.lag_items = judged(lag_raw, "lag_permutation", name=lambda key: key)
            holm_by(res.lag_items)

        if res.clusters is not None:
            with timed(res.seconds, "cluster_permutation"):
                same = {
                    c: g
                    for c, g in res.clusters.groups.items()
                    if len(g) == 1 and c == g[0] and set(res.clusters.members[c]) == set(gidx.get(c, []))
                }
                todo = {c: (idx, None) for c, idx in res.clusters.members.items() if c not in same}
                craw = (
                    ablation.permutation_importance(folds, todo, horizons, loss, lag_repeats, exp.cfg.seed + 2, **apart)
                    if todo
                    else {}
                )
                craw.update({(h, c): raw[(h, c)] for c in same for h in horizons})
                citems = judged(craw, "permutation")
                holm_by(citems)
                res.cluster_items += citems

    if ecfg.ablation in ("retrain", "both"):
        with timed(res.seconds, "ablation_retrain"):
            res.items += _retrain(exp, fitted, ecfg, gidx, loss, positions, test_dates, show)

    if ecfg.explain:
        with timed(res.seconds, "lightgbm"):
            res.lgbm_lags = min(ecfg.lgbm_lags or exp.cfg.lgbm_lags, exp.cfg.window)  # 0: the run's --lgbm-lags
            res.items += _lightgbm(exp, res, gidx, scored, test_dates, keep)

        grads = gradient_attributions(exp, fitted, ecfg, gidx, positions, test_dates, periods, show)
        res.shap_results, res.ig_results, res.sanity = grads.eg, grads.ig, grads.sanity
        res.items += grads.items
        res.seconds.update(grads.seconds)
        if res.clusters is not None:
            from pipeline.stages.explain_gradients import judge_attributions

            test_y = exp.ws.y[exp.test_idx]
            for j, h in enumerate(horizons):
                citems = judge_attributions(
                    res.shap_results, "lstm_shap", j, h, res.clusters.members, test_dates, test_y, periods
                )
                set_clears(citems)
                res.cluster_items += citems
    stage(exp.cfg.progress, "explain: " + ", ".join(f"{k} {v:.1f} s" for k, v in res.seconds.items()))
    out = res.freeze()
    return replace(
        out,
        findings=tuple(findings(exp, out)),
        conclusions=frozen_map(conclusions(exp, out)),
        total_seconds=time.perf_counter() - t_start,
    )


def _retrain(
    exp: Prepared, fitted: Fitted, ecfg: ExplainConfig, gidx, loss, positions, test_dates, show
) -> list[Importance]:
    from tqdm.auto import tqdm

    folds = [fd.fold.number for fd in exp.fold_data]
    y_test = {fd.fold.number: exp.ws.y[fd.fold.test] for fd in exp.fold_data}
    n_jobs = len(folds) * len(fitted.seeds) * (len(gidx) + 2)
    bar = tqdm(total=n_jobs, desc="ablation retrain", unit="job", leave=False, disable=show)
    # full, drop-group and reseeded models: one job path (fit_unit), one device (the run's, for local jobs)

    def run_all(jobs: list[tuple[int, int, str | None]]) -> list[np.ndarray]:
        out = fit_units(
            exp, jobs, ecfg.executor, ecfg.jobs, ecfg.ray_address, ecfg.gpus_per_job, progress=lambda: bar.update(1)
        )
        return [u.test_pred for u in out]

    try:
        drops, floor = ablation.drop_group_retrain(
            run_all, folds, list(fitted.seeds), list(gidx), y_test, exp.cfg.horizons, loss
        )
    finally:
        bar.close()
    items = []
    dates = np.concatenate([test_dates[positions[f]] for f in folds])
    for (h, g), parts in drops.items():
        values = np.concatenate(parts)
        reseed = np.concatenate(floor[h])
        units = {f"fold{f}": float(np.mean(v)) for f, v in zip(folds, parts)}
        # the drop-group model against the reseeded full model: what dropping the group costs beyond retraining
        items.append(
            per_day_item(
                h, g, "ablation_retrain", values, dates, units, floor=float(np.mean(reseed)), test=values - reseed
            )
        )
    holm_by(items)
    return items


def _take(X, idx: np.ndarray):
    """The samples ``idx`` of windows ``X`` (lazy windows stay lazy); ``X`` itself when ``idx`` is every sample."""
    if len(idx) == len(X):
        return X
    return X.take(idx) if hasattr(X, "take") else X[idx]


def _lightgbm(exp: Prepared, res: _Draft, gidx, scored, test_dates, keep) -> list[Importance]:
    """Gain, split and TreeSHAP of LightGBM trained alongside a shadow of every group, per fold and horizon;
    TreeSHAP on each fold's scored test samples (``keep``, at test positions ``scored``)."""
    y = exp.ws.y
    for fd, k in zip(exp.fold_data, keep):
        y_tr = y[fd.fold.train] if exp.classification else fd.y_train
        y_va = y[fd.fold.val] if exp.classification else fd.y_val
        fits = lgbm_explain.fit_with_shadows(
            fit_lightgbm,
            fd.X_train,
            y_tr,
            fd.X_val,
            y_va,
            _take(fd.X_test, k),
            exp.classification,
            res.lgbm_lags,
            gidx,
            exp.cfg.seed,
            n_jobs=torch.get_num_threads(),
        )
        for j, f in enumerate(fits):
            res.lgbm_results.append(
                lgbm_explain.LgbmFoldResult(
                    fd.fold.number, exp.cfg.horizons[j], f.gain, f.split, f.contrib, f.X_flat, scored[fd.fold.number]
                )
            )
    return judge_lightgbm(
        res.lgbm_results, gidx, len(exp.ws.columns), res.lgbm_lags, exp.cfg.horizons, test_dates, exp.ws.y[exp.test_idx]
    )


def judge_lightgbm(
    results: list[lgbm_explain.LgbmFoldResult],
    gidx: dict[str, np.ndarray],
    n_real: int,
    lags: int,
    horizons: list[int],
    test_dates: np.ndarray,
    test_y: np.ndarray,
) -> list[Importance]:
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
            shares = [
                lgbm_explain.to_groups(getattr(r, key) / max(getattr(r, key).sum(), 1e-12), n_all, lags, both)
                for r in rs
            ]
            floors = [max(s[g] for g in sidx) for s in shares]
            for g in gidx:
                m, lo, hi = fold_interval([s[g] for s in shares])
                items.append(
                    Importance(
                        h,
                        g,
                        method,
                        m,
                        lo,
                        hi,
                        {f"fold{r.fold}": s[g] for r, s in zip(rs, shares)},
                        floor=float(np.mean(floors)),
                        basis="folds",
                    )
                )
        per_row = [lgbm_explain.group_shap(r, n_all, lags, both) for r in rs]
        signed = [lgbm_explain.group_shap(r, n_all, lags, gidx, signed=True) for r in rs]
        pos = np.concatenate([r.test_pos for r in rs])
        dates, y = test_dates[pos], test_y[pos, horizons.index(h)]
        floor = max(float(np.concatenate([v[g] for v in per_row]).mean()) for g in sidx)
        part = []
        for g in gidx:
            part.append(
                per_day_item(
                    h,
                    g,
                    "tree_shap",
                    np.concatenate([v[g] for v in per_row]),
                    dates,
                    {f"fold{r.fold}": float(v[g].mean()) for r, v in zip(rs, per_row)},
                    floor=floor,
                    test=alignment(np.concatenate([v[g] for v in signed]), y),
                )
            )
        set_clears(part)
        tree += part
    return items + tree
