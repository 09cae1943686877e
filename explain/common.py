"""Small shared pieces: group -> column indices, intervals of a mean, a table row type."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass
class Importance:
    """One method's importance of one group on one horizon; ``units`` holds the per-(fold, seed)
    values the interval and the stability are computed from."""

    horizon: int
    group: str
    method: str
    value: float
    ci_low: float
    ci_high: float
    units: dict[str, float]


def group_indices(columns: list[str], groups: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """group -> positions of its columns in ``columns`` (the F axis of the windows)."""
    pos = {c: i for i, c in enumerate(columns)}
    return {g: np.array([pos[c] for c in cols if c in pos], dtype=int) for g, cols in groups.items()}


def mean_interval(values: np.ndarray, alpha: float = 0.05) -> tuple[float, float, float]:
    """Mean and a t-interval of the mean (a point interval for one value)."""
    values = np.asarray(values, float)
    m = float(values.mean())
    if len(values) < 2 or np.allclose(values, values[0]):
        return m, m, m
    half = float(stats.t.ppf(1 - alpha / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
    return m, m - half, m + half
