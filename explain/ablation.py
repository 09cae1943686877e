"""Ablation by feature group.

* :func:`group_permutation`: on each (fold, seed) model's test windows, permute one group's *whole
  window* (all its columns at every lag) across samples, ``n_repeats`` times, and record the drop of
  the headline score. The interval is a t-interval over the (fold, seed) means.
* :func:`drop_group_retrain`: for each group, retrain without it on the same folds and seeds and record
  the paired change of the test score against the full model. The caller runs the jobs (local pool or Ray).

``score(y, pred)`` is higher-is-better (AUC for direction, -RMSE for regression), per horizon.
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from explain.common import Importance, mean_interval

Score = Callable[[np.ndarray, np.ndarray], float]


def group_permutation(
    units: Iterable[tuple[str, Callable[[np.ndarray], np.ndarray], np.ndarray, np.ndarray]],
    group_idx: dict[str, np.ndarray], horizons: list[int], score: Score, n_repeats: int = 10, seed: int = 0,
) -> list[Importance]:
    """``units``: (label, predict(X) -> (N, H), X_test (N, T, F), y_test (N, H)) per (fold, seed)."""
    rng = np.random.default_rng(seed)
    per_unit: dict[tuple[int, str], dict[str, float]] = {}
    for label, predict, X, y in units:
        base = predict(X)
        base_scores = [score(y[:, j], base[:, j]) for j in range(len(horizons))]
        for group, cols in group_idx.items():
            drops = np.zeros((n_repeats, len(horizons)))
            for r in range(n_repeats):
                Xp = X.copy()
                perm = rng.permutation(len(X))
                Xp[:, :, cols] = X[perm][:, :, cols]
                pred = predict(Xp)
                drops[r] = [base_scores[j] - score(y[:, j], pred[:, j]) for j in range(len(horizons))]
            for j, h in enumerate(horizons):
                per_unit.setdefault((h, group), {})[label] = float(drops[:, j].mean())
    return _summarise(per_unit, "permutation")


def drop_group_retrain(
    run_all: Callable[[list[tuple[str, str]]], list[np.ndarray]], labels: list[str], groups: list[str],
    full_scores: dict[str, np.ndarray], horizons: list[int],
) -> list[Importance]:
    """``run_all(jobs)`` trains, for every ``(label, group)``, the (fold, seed) unit ``label`` without
    ``group`` and returns its (H,) test scores, in order (the caller picks the executor).
    ``full_scores[label]`` are the full model's. Paired drop = full - without."""
    jobs = [(label, group) for group in groups for label in labels]
    results = run_all(jobs)
    per_unit: dict[tuple[int, str], dict[str, float]] = {}
    for (label, group), scores in zip(jobs, results):
        for j, h in enumerate(horizons):
            per_unit.setdefault((h, group), {})[label] = float(full_scores[label][j] - scores[j])
    return _summarise(per_unit, "ablation_retrain")


def _summarise(per_unit: dict[tuple[int, str], dict[str, float]], method: str) -> list[Importance]:
    out = []
    for (h, group), units in per_unit.items():
        m, lo, hi = mean_interval(np.array(list(units.values())))
        out.append(Importance(h, group, method, m, lo, hi, units))
    return out
