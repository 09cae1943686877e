"""Ablation by feature group, measured as the change of a per-sample loss on the test windows, so the
caller can judge it over test days (intervals, tests against a noise floor).

* :func:`permutation_importance`: on each fold's test windows, permute a set of columns over a stretch of
  lags (a group's *whole window*, a lag block of a group, a correlation cluster) across samples,
  ``n_repeats`` times, and record each sample's loss increase of the fold's prediction (the seed
  ensemble). Columns the model ignores score exactly 0: that is the floor. :func:`group_permutation`
  is the whole-window case per group.
* :func:`conditional_permutation`: the same, but only the part of a group that the *other* groups do not
  predict is permuted (Strobl et al. 2008; Molnar et al. 2023, "conditional feature importance"): the group's
  columns become ``other sample's group + (own rest - other sample's rest) @ B``, ``B`` the least-squares map
  from the other columns to the group's, fitted on the rows being permuted (their inputs only, never an
  outcome: :func:`conditional_coefficients`), so the joint distribution kept is theirs. Fitted on other
  rows (the training days), ``B`` misses the test days' dependence by its estimation error, which for
  persistent features is large: in the calibration study that raised a 5% test to 6.2%. A group
  that only repeats what correlated groups already hold scores ~0, and permuting one of two correlated
  no-information groups no longer breaks their joint distribution (which makes plain permutation call it
  important: the model "relies on" it, but it carries no information).
* :func:`drop_group_retrain`: for each group, retrain every (fold, seed) unit without it and record each
  test sample's loss increase of the drop-group ensemble over the full ensemble. The noise floor is a
  reseeded full model: what retraining alone changes. The caller runs the jobs (local pool or Ray).

``loss(y, pred) -> (N,)`` is per sample (log loss for direction, squared error for regression).
"""
from __future__ import annotations

from typing import Callable, Hashable, Iterable

import numpy as np

Loss = Callable[[np.ndarray, np.ndarray], np.ndarray]


def permutation_importance(
    folds: Iterable[tuple[Callable[[np.ndarray], np.ndarray], np.ndarray, np.ndarray]],
    targets: dict[Hashable, tuple[np.ndarray, slice | None]], horizons: list[int], loss: Loss, n_repeats: int = 10,
    seed: int = 0, chunk: int = 8192, conditional: list[dict[Hashable, np.ndarray]] | None = None,
) -> dict[tuple[int, Hashable], list[np.ndarray]]:
    """``folds``: (predict(X) -> (N, H), X_test (N, T, F), y_test (N, H)) per fold, in test order.
    ``targets``: key -> (columns, time steps or ``None`` for the whole window); each is permuted across
    samples (one permutation of the samples per repeat: the block moves as a whole). Predictions run on
    chunks of ``chunk`` windows, all repeats of a key together. When a block leaves the first ``a`` steps
    unchanged and ``predict`` has ``split(X, a, repeats) -> tail_predict | None``, the model runs those
    steps once per chunk and only the remaining ones per repeat (exact for a one-directional LSTM).
    ``conditional``: per fold, key -> ``B`` ``(F, len(columns))`` (zero rows on the key's own columns): the
    key's columns are then set to ``other + (own - other) @ B`` (see :func:`conditional_permutation`).
    Returns ``(horizon, key) -> [per-sample mean loss increase (N_fold,) per fold]``."""
    rng = np.random.default_rng(seed)
    out: dict[tuple[int, Hashable], list[np.ndarray]] = {}
    H = len(horizons)
    for fold_no, (predict, X, y) in enumerate(folds):
        coef = conditional[fold_no] if conditional is not None else {}
        n, T = len(X), X.shape[1]
        base = predict(X)
        base_loss = np.column_stack([loss(y[:, j], base[:, j]) for j in range(H)])
        perms = {key: [rng.permutation(n) for _ in range(n_repeats)] for key in targets}
        inc = {key: np.zeros_like(base_loss) for key in targets}
        lazy = {k for k, (_, steps) in targets.items() if steps is None and hasattr(X, "permuted") and k not in coef}
        for key in lazy:  # lazy windows: the group reads other samples' windows, no copy
            for perm in perms[key]:
                pred = predict(X.permuted(targets[key][0], perm))
                inc[key] += np.column_stack([loss(y[:, j], pred[:, j]) for j in range(H)]) - base_loss
        by_start: dict[int, list[Hashable]] = {}
        for key, (_, steps) in targets.items():
            if key not in lazy:
                by_start.setdefault(range(T)[steps or slice(None)].start, []).append(key)
        per = max(1, chunk // n_repeats)
        for i0 in range(0, n if by_start else 0, per):
            idx = np.arange(i0, min(n, i0 + per))
            own = np.asarray(X[idx], dtype=np.float32)
            for a, keys in by_start.items():
                tail = predict.split(own, a, n_repeats) if a > 0 and hasattr(predict, "split") else None
                for key in keys:
                    cols, steps = targets[key]
                    steps = steps or slice(None)
                    batch = np.concatenate([own] * n_repeats)
                    for r, perm in enumerate(perms[key]):
                        other = np.asarray(X[perm[idx]], dtype=np.float32)
                        swapped = other[:, steps][..., cols]
                        if key in coef:  # keep what the other columns predict of the group: own rest, other residual
                            swapped = swapped + (own[:, steps] - other[:, steps]) @ coef[key].astype(np.float32)
                        batch[r * len(idx):(r + 1) * len(idx), steps, cols] = swapped
                    pred = (tail(batch[:, a:]) if tail is not None else predict(batch)).reshape(n_repeats, len(idx), -1)
                    for r in range(n_repeats):
                        inc[key][idx] += np.column_stack([loss(y[idx, j], pred[r, :, j]) for j in range(H)]) - base_loss[idx]
        for key in targets:
            for j, h in enumerate(horizons):
                out.setdefault((h, key), []).append(inc[key][:, j] / n_repeats)
    return out


def group_permutation(
    folds: Iterable[tuple[Callable[[np.ndarray], np.ndarray], np.ndarray, np.ndarray]],
    group_idx: dict[str, np.ndarray], horizons: list[int], loss: Loss, n_repeats: int = 10, seed: int = 0,
) -> dict[tuple[int, str], list[np.ndarray]]:
    """Each group's whole window permuted: :func:`permutation_importance` with every lag."""
    return permutation_importance(folds, {g: (cols, None) for g, cols in group_idx.items()}, horizons, loss,
                                  n_repeats, seed)


def conditional_coefficients(rows: np.ndarray, group_idx: dict[str, np.ndarray], ridge: float = 1e-3) -> dict[str, np.ndarray]:
    """Per group, ``B`` ``(F, len(group))``: the least-squares map (a small ridge, relative to the mean variance)
    from the other columns of ``rows`` ``(n, F)`` (the rows that will be permuted, e.g. a fold's test rows;
    inputs only) to the group's columns, centred;
    zero on the group's own rows. ``rows @ B`` is the part of the group the other groups predict."""
    x = np.asarray(rows, np.float64)
    x = x - x.mean(axis=0)
    gram = x.T @ x / max(len(x), 1)
    out = {}
    for g, cols in group_idx.items():
        rest = np.setdiff1d(np.arange(x.shape[1]), cols)
        B = np.zeros((x.shape[1], len(cols)))
        if len(rest):
            a = gram[np.ix_(rest, rest)]
            a = a + ridge * max(float(np.trace(a)) / len(rest), 1e-12) * np.eye(len(rest))
            B[rest] = np.linalg.solve(a, gram[np.ix_(rest, cols)])
        out[g] = B
    return out


def conditional_permutation(
    folds: Iterable[tuple[Callable[[np.ndarray], np.ndarray], np.ndarray, np.ndarray]],
    group_idx: dict[str, np.ndarray], coefficients: list[dict[str, np.ndarray]], horizons: list[int], loss: Loss,
    n_repeats: int = 10, seed: int = 0,
) -> dict[tuple[int, str], list[np.ndarray]]:
    """Each group's whole window permuted conditionally on the other groups (``coefficients``: per fold,
    :func:`conditional_coefficients` of its test rows' inputs): what the group holds that the others do not."""
    return permutation_importance(folds, {g: (cols, None) for g, cols in group_idx.items()}, horizons, loss,
                                  n_repeats, seed, conditional=coefficients)


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
