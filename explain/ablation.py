"""Ablation by feature group, measured as the change of a per-sample loss on the test windows, so the
caller can judge it over test days (intervals, tests against a noise floor).

* :func:`group_permutation`: on each fold's test windows, permute one group's *whole window* (all its
  columns at every lag) across samples, ``n_repeats`` times, and record each sample's loss increase of
  the fold's prediction (the seed ensemble). A group the model ignores scores exactly 0: that is its floor.
* :func:`drop_group_retrain`: for each group, retrain every (fold, seed) unit without it and record each
  test sample's loss increase of the drop-group ensemble over the full ensemble. The noise floor is a
  reseeded full model: what retraining alone changes. The caller runs the jobs (local pool or Ray).

``loss(y, pred) -> (N,)`` is per sample (log loss for direction, squared error for regression).
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

Loss = Callable[[np.ndarray, np.ndarray], np.ndarray]


def group_permutation(
    folds: Iterable[tuple[Callable[[np.ndarray], np.ndarray], np.ndarray, np.ndarray]],
    group_idx: dict[str, np.ndarray], horizons: list[int], loss: Loss, n_repeats: int = 10, seed: int = 0,
) -> dict[tuple[int, str], list[np.ndarray]]:
    """``folds``: (predict(X) -> (N, H), X_test (N, T, F), y_test (N, H)) per fold, in test order.
    Returns ``(horizon, group) -> [per-sample mean loss increase (N_fold,) per fold]``."""
    rng = np.random.default_rng(seed)
    out: dict[tuple[int, str], list[np.ndarray]] = {}
    for predict, X, y in folds:
        base = predict(X)
        base_loss = np.column_stack([loss(y[:, j], base[:, j]) for j in range(len(horizons))])
        for group, cols in group_idx.items():
            inc = np.zeros_like(base_loss)
            for _ in range(n_repeats):
                perm = rng.permutation(len(X))
                if hasattr(X, "permuted"):  # lazy windows: no copy of the test windows
                    Xp = X.permuted(cols, perm)
                else:
                    Xp = X.copy()
                    Xp[:, :, cols] = X[perm][:, :, cols]
                pred = predict(Xp)
                inc += np.column_stack([loss(y[:, j], pred[:, j]) for j in range(len(horizons))]) - base_loss
            for j, h in enumerate(horizons):
                out.setdefault((h, group), []).append(inc[:, j] / n_repeats)
    return out


def drop_group_retrain(
    run_all: Callable[[list[tuple[int, int, str | None]]], list[np.ndarray]], folds: list[int], seeds: list[int],
    groups: list[str], y_test: dict[int, np.ndarray], horizons: list[int], loss: Loss, reseed_offset: int = 1000,
) -> tuple[dict[tuple[int, str], list[np.ndarray]], dict[int, list[np.ndarray]]]:
    """``run_all(jobs)`` trains, for every ``(fold, seed, group)``, the unit without ``group`` (``None``:
    the full model) and returns its test predictions ``(N_fold, H)``, in order (the caller picks the
    executor and device). The full models are trained by the same ``run_all`` as the drop-group ones, so
    both share the job path and device and differ only by the group. Returns per-sample loss increases of
    each drop-group ensemble over the full one, ``(horizon, group) -> [per fold]``, and the same for a full
    model retrained with seeds ``seed + reseed_offset`` (the floor), ``horizon -> [per fold]``."""
    jobs = [(f, s, g) for g in groups for f in folds for s in seeds]
    jobs += [(f, s, None) for f in folds for s in seeds]
    jobs += [(f, s + reseed_offset, None) for f in folds for s in seeds]
    preds = dict(zip(jobs, run_all(jobs)))
    drops: dict[tuple[int, str], list[np.ndarray]] = {}
    floor: dict[int, list[np.ndarray]] = {}
    for f in folds:
        y = y_test[f]
        full = np.mean([preds[(f, s, None)] for s in seeds], axis=0)
        base = [loss(y[:, j], full[:, j]) for j in range(len(horizons))]
        for g in [*groups, None]:
            seeds_g = [s + reseed_offset for s in seeds] if g is None else seeds
            ens = np.mean([preds[(f, s, g)] for s in seeds_g], axis=0)
            for j, h in enumerate(horizons):
                inc = loss(y[:, j], ens[:, j]) - base[j]
                (floor.setdefault(h, []) if g is None else drops.setdefault((h, g), [])).append(inc)
    return drops, floor
