"""Statistical inference on test days: block-bootstrap intervals and tests against baselines.

* :func:`block_bootstrap` resamples blocks of consecutive test *dates* (all symbols of a date move
  together), which keeps the autocorrelation that overlapping h-day labels create.
* :func:`pesaran_timmermann`: is the predicted direction independent of the realised one? (one-sided)
* :func:`mcnemar_binomial`: exact binomial test on the days where model and baseline disagree in
  correctness (two-sided).
* :func:`diebold_mariano`: equal predictive accuracy of two loss series, HAC variance with h-1 lags and
  the Harvey-Leybourne-Newbold small-sample correction (two-sided).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats


class DateBlocks:
    """Moving-block resampling of row indices by blocks of consecutive unique dates."""

    def __init__(self, date_codes: np.ndarray, block: int = 20):
        unique, inverse = np.unique(date_codes, return_inverse=True)
        self.m = len(unique)
        order = np.argsort(inverse, kind="stable")
        self.rows_of = np.split(order, np.cumsum(np.bincount(inverse))[:-1])
        self.block = max(1, min(block, self.m))

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        starts = rng.integers(0, self.m - self.block + 1, size=int(np.ceil(self.m / self.block)))
        picked = (starts[:, None] + np.arange(self.block)[None, :]).ravel()[: self.m]
        return np.concatenate([self.rows_of[d] for d in picked])


def block_bootstrap(
    statistic: Callable[[np.ndarray], dict[str, float]], date_codes: np.ndarray, n_boot: int = 500,
    block: int = 20, alpha: float = 0.05, seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of every value ``statistic(idx)`` returns, over block resamples of test dates."""
    rng = np.random.default_rng(seed)
    blocks = DateBlocks(date_codes, block)
    draws: dict[str, list[float]] = {}
    for _ in range(n_boot):
        for key, value in statistic(blocks.sample(rng)).items():
            draws.setdefault(key, []).append(value)
    out = {}
    for key, values in draws.items():
        arr = np.asarray(values, float)
        arr = arr[np.isfinite(arr)]
        out[key] = (float(np.quantile(arr, alpha / 2)), float(np.quantile(arr, 1 - alpha / 2))) if len(arr) else (np.nan, np.nan)
    return out


def per_date_mean(values: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Mean of ``values`` per test date, in date order: the per-day loss series a DM test compares
    (several symbols on one day count as one observation)."""
    return pd.Series(values).groupby(dates).mean().to_numpy()


def pesaran_timmermann(pred_up: np.ndarray, true_up: np.ndarray) -> dict[str, float]:
    """Pesaran & Timmermann (1992) test of directional accuracy; H0: prediction independent of outcome."""
    pred_up, true_up = pred_up.astype(float), true_up.astype(float)
    n = len(true_up)
    p_hat = float(np.mean(pred_up == true_up))
    py, px = true_up.mean(), pred_up.mean()
    p_star = py * px + (1 - py) * (1 - px)
    var_p = p_star * (1 - p_star) / n
    var_star = ((2 * py - 1) ** 2 * px * (1 - px) / n + (2 * px - 1) ** 2 * py * (1 - py) / n
                + 4 * py * px * (1 - py) * (1 - px) / n**2)
    denom = var_p - var_star
    if denom <= 0 or px in (0.0, 1.0):
        return {"statistic": 0.0, "p_value": 1.0}
    z = (p_hat - p_star) / np.sqrt(denom)
    return {"statistic": float(z), "p_value": float(stats.norm.sf(z))}


def mcnemar_binomial(model_right: np.ndarray, base_right: np.ndarray) -> dict[str, float]:
    """Exact test on discordant days: model right & baseline wrong vs the reverse."""
    b = int(np.sum(model_right & ~base_right))
    c = int(np.sum(~model_right & base_right))
    if b + c == 0:
        return {"statistic": 0.0, "p_value": 1.0}
    res = stats.binomtest(b, b + c, 0.5)
    return {"statistic": float(b - c), "p_value": float(res.pvalue)}


def diebold_mariano(loss_model: np.ndarray, loss_base: np.ndarray, h: int = 1) -> dict[str, float]:
    """DM statistic (negative = model has lower loss) and two-sided p-value (Student t, n-1 df)."""
    d = np.asarray(loss_model, float) - np.asarray(loss_base, float)
    n = len(d)
    if n < 3 or np.allclose(d, 0):
        return {"statistic": 0.0, "p_value": 1.0}
    mean = d.mean()
    dc = d - mean
    gamma = [np.dot(dc[k:], dc[: n - k]) / n for k in range(h)]
    var = (gamma[0] + 2 * sum(gamma[1:])) / n
    if var <= 0:
        var = gamma[0] / n
    dm = mean / np.sqrt(var)
    correction = np.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    stat = dm * correction
    return {"statistic": float(stat), "p_value": float(2 * stats.t.sf(abs(stat), df=n - 1))}
