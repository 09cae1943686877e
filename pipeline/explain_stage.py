"""The explain stage of a run: wires the :class:`Experiment`'s models, trainer and fold data into the
``explain`` package (as callables), judges every importance over test days with :mod:`pipeline.inference`,
and writes ``importance.csv`` and ``importance.html``.

Methods, each with an interval and a noise floor:

* ``permutation`` (default): per-sample loss increase of the seed ensemble when a group's windows are
  shuffled across test samples; floor 0; one-sided HAR test over test days, Holm over groups.
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
* ``lstm_shap``: expected gradients on the run's LSTMs, interval over test days; the same out-of-sample
  alignment test. Floor: a twin LSTM per fold trained alongside a time-shuffled shadow of every group; the
  largest shadow's attribution, as a share of the twin's total, in the run's units.

Importance is a *finding* only where the model has skill over the comparator at that horizon (the skill
gate, from the run's verdict) and the group clears the floor.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from explain import ablation, agreement
from explain import lgbm as lgbm_explain
from explain import shap_lstm
from explain.common import Importance, group_indices
from pipeline import inference
from pipeline.evaluate import DAY_MEAN_METRICS
from pipeline.experiment import Experiment, to_model_units
from pipeline.inference import ALPHA
from pipeline.model import LSTMModel
from pipeline.train import fit, predict, seed_everything


@dataclass
class ExplainConfig:
    ablation: str = "permute"       # retrain | permute | both | none
    explain: bool = True            # LightGBM + LSTM SHAP
    n_repeats: int = 10
    lgbm_lags: int = 5
    shap_windows: int = 500
    shap_background: int = 100
    shap_nsamples: int = 64
    shap_floor: bool = True         # train a shadow twin per fold for the LSTM SHAP noise floor
    jobs: int = 2
    executor: str = "local"
    ray_address: str | None = None
    gpus_per_job: float = 0.0


@dataclass
class ExplainResult:
    items: list[Importance] = field(default_factory=list)
    shap_results: list[shap_lstm.LstmShapResult] = field(default_factory=list)
    lgbm_results: list[lgbm_explain.LgbmFoldResult] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    n_repeats: int = 10
    lgbm_lags: int = 0
    skill: dict[int, bool] = field(default_factory=dict)     # horizon -> the model beat its comparator

    def table(self) -> pd.DataFrame:
        return agreement.importance_table(self.items)


def sample_loss(classification: bool) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Per-sample loss importance is measured in: log loss (direction), squared error (regression)."""
    if classification:
        return lambda y, p: DAY_MEAN_METRICS["log_loss"](y, p, None)
    return lambda y, p: (p - y) ** 2


def _fold_models(exp: Experiment, fd) -> list:
    return [exp.models[(fd.fold.number, seed)] for seed in exp.seeds if (fd.fold.number, seed) in exp.models]


def _ensemble_predict(exp: Experiment, fd, device: torch.device) -> Callable[[np.ndarray], np.ndarray]:
    models = _fold_models(exp, fd)
    return lambda X: np.mean([to_model_units(exp, predict(m, X, device), fd) for m in models], axis=0)


def _test_positions(exp: Experiment) -> dict[int, np.ndarray]:
    """fold -> positions of its test samples in the run's test order (exp.test_idx)."""
    return {fd.fold.number: np.flatnonzero(exp.test_fold == fd.fold.number) for fd in exp.fold_data}


def _per_day_item(h: int, group: str, method: str, values: np.ndarray, dates: np.ndarray, units: dict[str, float],
                  floor: float = 0.0, test: np.ndarray | None = None) -> Importance:
    """An importance judged over test days: ``values`` per sample (its mean is the importance); ``test``
    per sample (defaults to ``values - floor``) is what the one-sided test "above the floor" is run on."""
    t = inference.mean_test(inference.per_day(values, dates), h)
    diff = values - floor if test is None else test
    p = inference.mean_test(inference.per_day(diff, dates), h, alternative="greater").p_value
    return Importance(h, group, method, t.mean, t.ci_low, t.ci_high, units, floor=floor, p_value=p)


def _holm_by(items: list[Importance]) -> None:
    """Holm over the groups of each (method, horizon); ``clears`` = adjusted p < ALPHA."""
    keyed: dict[tuple[str, int], list[Importance]] = {}
    for i in items:
        keyed.setdefault((i.method, i.horizon), []).append(i)
    for group in keyed.values():
        adjusted = inference.holm(np.array([i.p_value for i in group]))
        for i, p in zip(group, adjusted):
            i.p_value = float(p)
            i.clears = bool(p < ALPHA)


def _fold_interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and t-interval over folds (gain and split shares have no per-test-day values)."""
    from scipy import stats

    v = np.asarray(values, float)
    m = float(v.mean())
    if len(v) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(1 - ALPHA / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return m, m - half, m + half


def run_explain(exp: Experiment, ecfg: ExplainConfig, log=print, skill: dict[int, bool] | None = None) -> ExplainResult:
    from tqdm.auto import tqdm

    res = ExplainResult(n_repeats=ecfg.n_repeats, skill=dict(skill or {}))
    horizons, groups = exp.cfg.horizons, exp.dataset.groups
    gidx = group_indices(exp.ws.columns, groups)
    loss = sample_loss(exp.classification)
    cpu = torch.device("cpu")
    show = None if exp.cfg.progress else True
    positions = _test_positions(exp)
    test_dates = exp.ws.dates[exp.test_idx]

    def judged(raw: dict, method: str) -> list[Importance]:
        """``(h, group) -> [per-fold per-sample arrays]`` -> Importance judged over test days (floor 0)."""
        out = []
        for (h, g), parts in raw.items():
            folds = [fd.fold.number for fd in exp.fold_data]
            values = np.concatenate(parts)
            dates = np.concatenate([test_dates[positions[f]] for f in folds])
            units = {f"fold{f}": float(np.mean(v)) for f, v in zip(folds, parts)}
            out.append(_per_day_item(h, g, method, values, dates, units))
        return out

    if ecfg.ablation in ("permute", "both"):
        t0 = time.perf_counter()
        folds = [(_ensemble_predict(exp, fd, cpu), fd.X_test, exp.ws.y[fd.fold.test]) for fd in exp.fold_data]
        folds = tqdm(folds, desc="permutation", unit="fold", leave=False, disable=show)
        items = judged(ablation.group_permutation(folds, gidx, horizons, loss, ecfg.n_repeats, exp.cfg.seed), "permutation")
        _holm_by(items)
        res.items += items
        res.seconds["permutation"] = time.perf_counter() - t0

    if ecfg.ablation in ("retrain", "both"):
        t0 = time.perf_counter()
        res.items += _retrain(exp, ecfg, gidx, loss, positions, test_dates, show)
        res.seconds["ablation_retrain"] = time.perf_counter() - t0

    if ecfg.explain:
        t0 = time.perf_counter()
        res.lgbm_lags = min(ecfg.lgbm_lags, exp.cfg.window)
        res.items += _lightgbm(exp, res, gidx, positions, test_dates)
        res.seconds["lightgbm"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        n_units = len(exp.fold_data) * len(exp.seeds)
        per_unit = max(20, ecfg.shap_windows // n_units)
        rng = np.random.default_rng(exp.cfg.seed)
        bar = tqdm(total=n_units, desc="LSTM SHAP", unit="model", leave=False, disable=show)
        for fd in exp.fold_data:
            for seed in exp.seeds:
                model = exp.models[(fd.fold.number, seed)]
                n = len(fd.X_test)
                take = np.unique(np.linspace(0, n - 1, min(per_unit, n)).astype(int))
                bg = fd.X_train[rng.choice(len(fd.X_train), size=min(ecfg.shap_background, len(fd.X_train)), replace=False)]
                phi = shap_lstm.expected_gradients(model, bg, fd.X_test[take], exp.device, ecfg.shap_nsamples, exp.cfg.seed)
                res.shap_results.append(shap_lstm.LstmShapResult(fd.fold.number, seed, phi, fd.X_test[take],
                                                                 positions[fd.fold.number][take]))
                bar.update(1)
        bar.close()
        twins = _shadow_twins(exp, ecfg, gidx, positions, rng, show) if ecfg.shap_floor else []
        for j, h in enumerate(horizons):
            per_group: dict[str, list[np.ndarray]] = {}
            pos = []
            units: dict[str, dict[str, float]] = {}
            for r in res.shap_results:
                vals = shap_lstm.group_values(r, j, gidx)
                for g, v in vals.items():
                    per_group.setdefault(g, []).append(v)
                    units.setdefault(g, {})[f"fold{r.fold}-seed{r.seed}"] = float(v.mean())
                pos.append(r.test_pos)
            dates = test_dates[np.concatenate(pos)]
            y = exp.ws.y[exp.test_idx][np.concatenate(pos), j]
            signed = {g: np.concatenate(v) for g, v in _signed_lstm(res.shap_results, j, gidx).items()}
            items = []
            for g, parts in per_group.items():
                items.append(_per_day_item(h, g, "lstm_shap", np.concatenate(parts), dates, units[g], floor=float("nan"),
                                           test=alignment(signed[g], y)))
            if twins:
                _twin_floor(items, twins, j, gidx)
            _set_clears(items)
            res.items += items
        res.seconds["lstm_shap"] = time.perf_counter() - t0
    return res


def _signed_lstm(results: list[shap_lstm.LstmShapResult], j: int, gidx) -> dict[str, list[np.ndarray]]:
    out: dict[str, list[np.ndarray]] = {}
    for r in results:
        for g, v in shap_lstm.group_values(r, j, gidx, signed=True).items():
            out.setdefault(g, []).append(v)
    return out


def _shadow_twins(exp: Experiment, ecfg: ExplainConfig, gidx, positions, rng, show) -> list[shap_lstm.LstmShapResult]:
    """Per fold: an LSTM of the run's shape and first seed, trained on the real features plus a time-shuffled
    shadow of every group (whole windows of other dates: same distribution, no relation to the target),
    explained with expected gradients on test windows."""
    from tqdm.auto import tqdm

    from explain.common import with_shadows

    out = []
    seed = exp.seeds[0]
    per_fold = max(20, ecfg.shap_windows // max(1, len(exp.fold_data) * len(exp.seeds)))
    for fd in tqdm(exp.fold_data, desc="LSTM SHAP floor", unit="fold", leave=False, disable=show):
        shuffle = np.random.default_rng(exp.cfg.seed + 104729 + fd.fold.number)
        aug = lambda X: with_shadows(X, gidx, shuffle)  # noqa: E731
        X_train, X_val, X_test = aug(fd.X_train), aug(fd.X_val), aug(fd.X_test)
        mc = exp.model_config()
        mc.n_features = X_train.shape[-1]
        tcfg = exp.train_config(seed)
        tcfg.progress = False
        seed_everything(seed)
        model = LSTMModel(mc)
        fit(model, X_train, fd.y_train, X_val, fd.y_val, tcfg, exp.device)
        model.cpu()
        n = len(X_test)
        take = np.unique(np.linspace(0, n - 1, min(per_fold, n)).astype(int))
        bg = X_train[rng.choice(len(X_train), size=min(ecfg.shap_background, len(X_train)), replace=False)]
        phi = shap_lstm.expected_gradients(model, bg, X_test[take], exp.device, ecfg.shap_nsamples, exp.cfg.seed)
        out.append(shap_lstm.LstmShapResult(fd.fold.number, seed, phi, X_test[take], positions[fd.fold.number][take]))
    return out


def alignment(signed: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per sample: the product of the centred signed attribution and the centred outcome. Its mean over test
    days is the out-of-sample covariance: positive when the group pushes predictions the right way."""
    return (signed - signed.mean()) * (y - y.mean())


def _set_clears(items: list[Importance]) -> None:
    """After Holm over groups: a group clears only if its test passed and its value is above the floor."""
    _holm_by(items)
    for i in items:
        i.clears = bool(i.clears and (not np.isfinite(i.floor) or i.value > i.floor))


def _twin_floor(items: list[Importance], twins: list[shap_lstm.LstmShapResult], j: int, gidx) -> None:
    """Set the floor of the lstm_shap items of one horizon from the shadow twins."""
    F = sum(len(c) for c in gidx.values())
    n_real = twins[0].phi.shape[2] - F
    sidx = lgbm_explain.shadow_group_idx(gidx, n_real)
    vals = [shap_lstm.group_values(r, j, {**gidx, **sidx}) for r in twins]
    twin = {g: np.concatenate([v[g] for v in vals]) for g in {**gidx, **sidx}}
    largest = max(sidx, key=lambda g: twin[g].mean())
    real_total = sum(twin[g].mean() for g in gidx)
    run_total = sum(i.value for i in items)
    floor = float(twin[largest].mean() / real_total * run_total) if real_total > 0 else float("nan")
    for i in items:
        i.floor = floor


def _retrain(exp: Experiment, ecfg: ExplainConfig, gidx, loss, positions, test_dates, show) -> list[Importance]:
    from tqdm.auto import tqdm

    from pipeline.executor import run_jobs
    from pipeline.jobs import UnitJob, job_device, register_prepared, train_unit

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
        items.append(_per_day_item(h, g, "ablation_retrain", values, dates, units, floor=float(np.mean(reseed)),
                                   test=values - reseed))
    _holm_by(items)
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
                m, lo, hi = _fold_interval([s[g] for s in shares])
                items.append(Importance(h, g, method, m, lo, hi, {f"fold{r.fold}": s[g] for r, s in zip(rs, shares)},
                                        floor=float(np.mean(floors)), basis="folds"))
        per_row = [lgbm_explain.group_shap(r, n_all, lags, both) for r in rs]
        signed = [lgbm_explain.group_shap(r, n_all, lags, gidx, signed=True) for r in rs]
        pos = np.concatenate([r.test_pos for r in rs])
        dates, y = test_dates[pos], test_y[pos, horizons.index(h)]
        floor = max(float(np.concatenate([v[g] for v in per_row]).mean()) for g in sidx)
        part = []
        for g in gidx:
            part.append(_per_day_item(h, g, "tree_shap", np.concatenate([v[g] for v in per_row]), dates,
                                      {f"fold{r.fold}": float(v[g].mean()) for r, v in zip(rs, per_row)}, floor=floor,
                                      test=alignment(np.concatenate([v[g] for v in signed]), y)))
        _set_clears(part)
        tree += part
    return items + tree


def findings(exp: Experiment, res: ExplainResult) -> list[str]:
    """The CLI's and the report's summary, skill gate first: per horizon, whether importances may be read
    as findings about the market, and which groups clear the floor under which methods."""
    table = res.table()
    lines = []
    for h in exp.cfg.horizons:
        part = table[table.horizon == h]
        if part.empty:
            continue
        floored = [m for m in part.method.unique() if part[part.method == m]["clears_floor"].notna().any()]
        cleared = {m: sorted(part[(part.method == m) & (part.clears_floor == True)]["group"]) for m in floored}  # noqa: E712
        tested = [m for m in ("permutation", "ablation_retrain") if m in cleared]
        over = "; ".join(f"{m}: {', '.join(g) if g else 'none'}" for m, g in cleared.items())
        if not res.skill.get(h, False):
            lines.append(f"h={h}: no skill over the comparator, so these importances describe what the model uses, not what "
                         f"predicts the market. Above the noise floor — {over}.")
            continue
        agreed = set.intersection(*(set(cleared[m]) for m in tested)) if tested else set()
        lines.append(f"h={h}: the model has skill. Groups above the noise floor — {over}."
                     + (f" Confirmed on test days by {' and '.join(tested)}: {', '.join(sorted(agreed))}." if agreed else
                        " No group clears the floor of the test-day ablations." if tested else ""))
    return lines


def write_importance(exp: Experiment, res: ExplainResult, folder: Path) -> None:
    """``importance.csv`` and the self-contained ``importance.html`` into ``folder``."""
    from pipeline.importance_report import render_importance_report

    table = res.table()
    table[["horizon", "group", "method", "value", "ci_low", "ci_high", "rank", "floor", "p_holm", "clears_floor", "basis"]].to_csv(
        folder / "importance.csv", index=False)
    (folder / "importance.html").write_text(render_importance_report(exp, res, table))


def explain_writer(ecfg: ExplainConfig, log=print) -> Callable[[Experiment, dict], Callable[[Path], None] | None]:
    """A stage for :func:`pipeline.run.run`: compute importances now (gated by the run's verdicts), write
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
        return lambda folder: write_importance(exp, res, folder)

    return stage
