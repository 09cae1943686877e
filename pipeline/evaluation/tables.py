"""Every metric of one prediction with its 95% interval over test days, and the headline metric and loss
of each target kind (the loss every comparator choice and headline test uses)."""

from __future__ import annotations

import numpy as np

from pipeline.evaluation import inference
from pipeline.evaluation.metrics import DIRECTION_METRICS, REGRESSION_METRICS, WeightedMetrics, compute_metrics

# metrics that are a mean of per-sample values: their interval is the HAR interval of that mean over test
# days (calibrated); the others (AUC, MCC, R², IC, ...) get a block-bootstrap interval
DAY_MEAN_METRICS = {
    "accuracy": lambda y, p, r: ((p > 0.5) == (y > 0.5)).astype(float),
    "brier": lambda y, p, r: (p - y) ** 2,
    "log_loss": lambda y, p, r: (
        -(y * np.log(np.clip(p, 1e-7, 1 - 1e-7)) + (1 - y) * np.log(np.clip(1 - p, 1e-7, 1 - 1e-7)))
    ),
    "mae": lambda y, p, r: np.abs(p - y),
    "sign_accuracy": lambda y, p, r: (np.sign(p - r) == np.sign(y - r)).astype(float),
}


def headline_metric(classification: bool) -> str:
    return "accuracy" if classification else "rmse"


def headline_loss(classification: bool):
    """Per-sample loss behind the headline metric: misclassification (accuracy) or squared error (RMSE)."""
    if classification:
        return lambda y, p: ((p > 0.5) != (y > 0.5)).astype(float)
    return lambda y, p: (p - y) ** 2


def metric_table(
    clf: bool,
    y: np.ndarray,
    pred: np.ndarray,
    ref: np.ndarray,
    dates: np.ndarray,
    h: int,
    n_boot: int,
    seed: int,
    block: int | None,
    draws: inference.BlockDraws | None = None,
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Every metric of one prediction and its 95% interval over test days. ``draws``: the block resamples
    of ``dates`` (:class:`~pipeline.evaluation.inference.BlockDraws` for ``h, n_boot, seed, block``), shared
    by every prediction judged on the same days; drawn here when not given."""
    names = DIRECTION_METRICS if clf else REGRESSION_METRICS
    values = compute_metrics(clf, y, pred, ref)
    ci: dict[str, list[float]] = {}
    for m in names:
        if m in DAY_MEAN_METRICS:
            t = inference.mean_test(inference.per_day(DAY_MEAN_METRICS[m](y, pred, ref), dates), h)
            ci[m] = [t.ci_low, t.ci_high]
    if not clf:  # RMSE from the interval of the mean squared error
        t = inference.mean_test(inference.per_day((pred - y) ** 2, dates), h)
        ci["rmse"] = [float(np.sqrt(max(t.ci_low, 0.0))), float(np.sqrt(max(t.ci_high, 0.0)))]
    rest = [m for m in names if m not in ci]
    boot = {}
    if rest and n_boot > 0:
        draws = draws if draws is not None else inference.BlockDraws(dates, h, n_boot, seed, block or None)
        # = compute_metrics on the resampled rows, from the days' multiplicities; its sorts are made once
        weighted = WeightedMetrics(clf, y, pred, ref, day_of_row=draws.day_of_row)

        def resampled(days: np.ndarray) -> dict[str, float]:
            every = weighted(days)
            return {m: every[m] for m in rest}

        boot = draws.weighted_intervals(resampled, {m: values[m] for m in rest})
    for m in rest:
        ci[m] = list(boot.get(m, (float("nan"), float("nan"))))
    return values, ci
