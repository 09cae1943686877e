"""The explain stage's gradient methods on the run's LSTMs.

* ``lstm_shap``: expected gradients (:func:`explain.gradients.expected_gradients`, the estimator of
  ``shap.GradientExplainer``, batched) of every (fold, seed) model on evenly spaced test windows against
  a background of its training windows.
* ``integrated_gradients``: captum's integrated gradients from the mean background window, on a subset of
  the same windows.
* Both judged over test days: mean ``|sum_{t, f in group} phi|`` with its interval (and per test period);
  a group clears when its signed attributions align with the realised outcomes (one-sided test of their
  covariance over test days, Holm over groups) and, with ``--shap-floor``, when it is above the largest
  shadow of a twin LSTM trained alongside a time-shuffled shadow of every group.
* Sanity checks on the last fold's first-seed model: model randomisation (Adebayo et al. 2018) and
  infidelity (Yeh et al. 2019) of each method, beside random attributions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from explain import gradients, shap_lstm
from explain import lgbm as lgbm_explain
from explain.common import Importance
from pipeline.evaluation.importance_tests import alignment, per_day_item, set_clears
from pipeline.progress import timed
from pipeline.stages.fit import fit_unit, unit_windows
from pipeline.stages.results import Fitted, Prepared


@dataclass
class GradientResult:
    eg: list[shap_lstm.LstmShapResult] = field(default_factory=list)
    ig: list[shap_lstm.LstmShapResult] = field(default_factory=list)
    items: list[Importance] = field(default_factory=list)
    sanity: list[dict] = field(default_factory=list)  # per method: randomisation and infidelity figures
    seconds: dict[str, float] = field(default_factory=dict)


def _explained(n: int, k: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(k, n)).astype(int))


def gradient_attributions(
    exp: Prepared,
    fitted: Fitted,
    ecfg,
    gidx: dict[str, np.ndarray],
    positions: dict[int, np.ndarray],
    test_dates: np.ndarray,
    periods: np.ndarray,
    show,
) -> GradientResult:
    """Expected and integrated gradients of every (fold, seed) model, judged per horizon and group;
    ``periods`` ``(n_test,)`` labels the test period of each test sample (run test order)."""
    from tqdm.auto import tqdm

    out = GradientResult()
    n_units = len(exp.fold_data) * len(fitted.seeds)
    device = torch.device(fitted.device)
    per_unit = max(20, ecfg.shap_windows // n_units)
    per_unit_ig = max(10, ecfg.ig_windows // n_units)
    rng = np.random.default_rng(exp.cfg.seed)
    last = None
    bar = tqdm(total=n_units, desc="gradient attributions", unit="model", leave=False, disable=show)
    for fd in exp.fold_data:
        for seed in fitted.seeds:
            model = fitted.models[(fd.fold.number, seed)]
            take = _explained(len(fd.X_test), per_unit)
            X = np.asarray(fd.X_test[take], dtype=np.float32)
            bg = np.asarray(
                fd.X_train[
                    np.sort(rng.choice(len(fd.X_train), size=min(ecfg.shap_background, len(fd.X_train)), replace=False))
                ],
                dtype=np.float32,
            )
            with timed(out.seconds, "expected_gradients"):
                phi = gradients.expected_gradients(model, bg, X, device, ecfg.shap_nsamples, exp.cfg.seed)
            out.eg.append(shap_lstm.LstmShapResult(fd.fold.number, seed, phi, X, positions[fd.fold.number][take]))
            sub = _explained(len(take), per_unit_ig)
            with timed(out.seconds, "integrated_gradients"):
                ig = gradients.integrated_gradients(model, bg.mean(axis=0), X[sub], device, ecfg.ig_steps)
            out.ig.append(
                shap_lstm.LstmShapResult(fd.fold.number, seed, ig, X[sub], positions[fd.fold.number][take[sub]])
            )
            last = (model, bg, X)
            bar.update(1)
    bar.close()
    out.seconds = {"expected_gradients": 0.0, "integrated_gradients": 0.0, **out.seconds}  # present when none ran
    twins = []
    if ecfg.shap_floor:
        with timed(out.seconds, "shap_floor_twins"):
            twins = shadow_twins(exp, fitted, ecfg, positions, rng, show)
    test_y = exp.ws.y[exp.test_idx]
    for method, results in (("lstm_shap", out.eg), ("integrated_gradients", out.ig)):
        for j, h in enumerate(exp.cfg.horizons):
            items = judge_attributions(results, method, j, h, gidx, test_dates, test_y, periods)
            if twins and method == "lstm_shap":
                twin_floor(items, twins, j, gidx)
            set_clears(items)
            out.items += items
    if last is not None and ecfg.sanity_windows > 0:
        with timed(out.seconds, "sanity_checks"):
            out.sanity = sanity_checks(*last, device, ecfg, exp.cfg.seed)
    return out


def judge_attributions(
    results: list[shap_lstm.LstmShapResult],
    method: str,
    j: int,
    h: int,
    gidx: dict[str, np.ndarray],
    test_dates: np.ndarray,
    test_y: np.ndarray,
    periods: np.ndarray,
) -> list[Importance]:
    """Per group: mean |group attribution| over the explained windows, judged over their test days; the test
    is the alignment of the signed group attribution with the outcome (floor nan until a twin sets it)."""
    pos = np.concatenate([r.test_pos for r in results])
    dates, y, labels = test_dates[pos], test_y[pos, j], periods[pos]
    absolute = [shap_lstm.group_values(r, j, gidx) for r in results]
    signed = [shap_lstm.group_values(r, j, gidx, signed=True) for r in results]
    items = []
    for g in gidx:
        units = {f"fold{r.fold}-seed{r.seed}": float(v[g].mean()) for r, v in zip(results, absolute)}
        items.append(
            per_day_item(
                h,
                g,
                method,
                np.concatenate([v[g] for v in absolute]),
                dates,
                units,
                floor=float("nan"),
                test=alignment(np.concatenate([v[g] for v in signed]), y),
                periods=labels,
            )
        )
    return items


def sanity_checks(model, background: np.ndarray, X: np.ndarray, device, ecfg, seed: int) -> list[dict]:
    """Model randomisation and infidelity of both gradient methods on ``ecfg.sanity_windows`` windows of one
    model; one row per method (and one for random attributions)."""
    X = X[_explained(len(X), ecfg.sanity_windows)]
    base = background.mean(axis=0)
    methods = {
        "lstm_shap": lambda m: gradients.expected_gradients(m, background, X, device, ecfg.shap_nsamples, seed),
        "integrated_gradients": lambda m: gradients.integrated_gradients(m, base, X, device, ecfg.ig_steps),
    }
    rows = []
    for name, attribute in methods.items():
        phi = attribute(model)
        check = gradients.randomisation_check(name, attribute, model, trained=phi, seed=seed + 12345)
        rows.append(
            {
                "method": name,
                "signed_rho": check.signed_rho,
                "abs_rho": check.abs_rho,
                "feature_rho": check.feature_rho,
                "passed": check.passed,
                "windows": check.n_windows,
                "infidelity": gradients.infidelity(model, X, phi, base, device, seed=seed),
            }
        )
        shape = phi.shape
    rows.append(
        {
            "method": "random attributions (reference)",
            "signed_rho": float("nan"),
            "abs_rho": float("nan"),
            "feature_rho": float("nan"),
            "passed": None,
            "windows": len(X),
            "infidelity": gradients.random_infidelity(model, X, base, shape, device, seed=seed),
        }
    )
    return rows


def shadow_twins(exp: Prepared, fitted: Fitted, ecfg, positions, rng, show) -> list[shap_lstm.LstmShapResult]:
    """Per fold: a network of the run's shape and first seed, trained (:func:`pipeline.stages.fit.fit_unit`) on
    the real features plus a time-shuffled shadow of every group (whole windows of other dates: same
    distribution, no relation to the target), explained with expected gradients on test windows."""
    from tqdm.auto import tqdm

    out = []
    seed = fitted.seeds[0]
    device = torch.device(fitted.device)
    per_fold = max(20, ecfg.shap_windows // max(1, len(exp.fold_data) * len(fitted.seeds)))
    for fd in tqdm(exp.fold_data, desc="LSTM SHAP floor", unit="fold", leave=False, disable=show):
        X_train, _, X_test = unit_windows(exp, fd, shadows=True)
        model = fit_unit(exp, fd.fold.number, seed, shadows=True, device=fitted.device).model
        take = _explained(len(X_test), per_fold)
        bg = X_train[rng.choice(len(X_train), size=min(ecfg.shap_background, len(X_train)), replace=False)]
        phi = gradients.expected_gradients(model, bg, X_test[take], device, ecfg.shap_nsamples, exp.cfg.seed)
        out.append(
            shap_lstm.LstmShapResult(
                fd.fold.number, seed, phi, np.asarray(X_test[take]), positions[fd.fold.number][take]
            )
        )
    return out


def twin_floor(items: list[Importance], twins: list[shap_lstm.LstmShapResult], j: int, gidx) -> None:
    """Set the floor of the lstm_shap items of one horizon from the shadow twins: the largest shadow's
    attribution as a share of the twin's total, in the run's units."""
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
