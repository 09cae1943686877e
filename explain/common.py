"""Small shared pieces: group -> column indices, and the importance row type."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Importance:
    """One method's importance of one group on one horizon.

    ``value`` with its 95% interval (over test days where the method has per-sample values, else over
    folds: ``basis``); ``floor``: the value a group with nothing to offer gets (permutation: 0; retrain: a
    reseeded full model; LightGBM and TreeSHAP: the largest time-shuffled shadow group); ``p_value``
    (Holm over groups) of "above the floor" where a calibrated test exists; ``clears``: whether the group
    clears the floor; ``units``: per-fold (and seed) values, for stability; ``periods``: the value with its
    interval over the test days of each fold (importance by period)."""

    horizon: int
    group: str
    method: str
    value: float
    ci_low: float
    ci_high: float
    units: dict[str, float] = field(default_factory=dict)
    floor: float = float("nan")
    p_value: float = float("nan")
    clears: bool | None = None
    basis: str = "test days"
    block: str = ""  # lag block (temporal importance), "" = every lag
    periods: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # test period -> (mean, lo, hi)


def group_indices(columns: list[str], groups: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """group -> positions of its columns in ``columns`` (the F axis of the windows)."""
    pos = {c: i for i, c in enumerate(columns)}
    return {g: np.array([pos[c] for c in cols if c in pos], dtype=int) for g, cols in groups.items()}


def with_shadows(X, group_idx: dict[str, np.ndarray], rng: np.random.Generator):
    """``X`` followed by :func:`shadow_columns` of it: lazily for windows that can (``X.with_shadows``,
    e.g. ``pipeline.splits.windows.Windows``), else concatenated as float32."""
    if hasattr(X, "with_shadows"):
        return X.with_shadows(group_idx, rng)
    return np.concatenate([X, shadow_columns(X, group_idx, rng)], axis=-1).astype(np.float32)


def shadow_columns(X: np.ndarray, group_idx: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Boruta-style shadows of ``X`` ``(N, T, F)`` or ``(N, F)``: every group's columns with the samples
    shuffled (jointly within the group, so its internal correlation stays): same distribution, no relation
    to the target. Returns ``(..., F)`` in the order of ``group_idx``'s columns."""
    parts = []
    for cols in group_idx.values():
        parts.append(X[rng.permutation(len(X))][..., cols])
    return np.concatenate(parts, axis=-1)
