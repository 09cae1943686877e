"""Targets computed from the future (t+1 .. t+h) and the matching persistence forecasts (known at t).

Kinds: ``direction`` (1 if close[t+h] > close[t]), ``return`` (log return over h days), ``close``
(trained as the log return, reported as the price close[t+h]), ``mean_close`` (mean close of the next h
days relative to close[t]), ``drawdown`` (maximum drawdown over the next h days, <= 0) and ``volatility``
(realized volatility, sqrt of the sum of squared daily log returns over the next h days). Columns are
named ``<kind>_h<h>``; they never become features.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

KINDS = ("direction", "return", "close", "mean_close", "drawdown", "volatility")
CLASSIFICATION = {"direction"}


def _forward_windows(values: np.ndarray, h: int) -> np.ndarray:
    """(n, h) matrix whose row t holds values[t+1 .. t+h] (NaN past the end)."""
    n = len(values)
    out = np.full((n, h), np.nan)
    for k in range(1, h + 1):
        out[: n - k, k - 1] = values[k:]
    return out


def _backward_windows(values: np.ndarray, h: int) -> np.ndarray:
    """(n, h) matrix whose row t holds values[t-h+1 .. t] (NaN before the start)."""
    n = len(values)
    out = np.full((n, h), np.nan)
    for k in range(h):
        out[k:, h - 1 - k] = values[: n - k]
    return out


def _drawdown(path: np.ndarray) -> np.ndarray:
    """Maximum drawdown along each row of ``path`` (first column is the starting price)."""
    peak = np.fmax.accumulate(path, axis=1)
    dd = np.min(path / peak - 1.0, axis=1)
    dd[np.isnan(path).any(axis=1)] = np.nan
    return dd


def make_target(close: pd.Series, kind: str, h: int) -> pd.Series:
    """Target ``<kind>_h<h>`` at each date t from close[t+1 .. t+h]; NaN where the future is unknown."""
    c = close.to_numpy(float)
    fwd = _forward_windows(c, h)
    end = fwd[:, -1]
    if kind == "direction":
        y = np.where(np.isnan(end), np.nan, (end > c).astype(float))
    elif kind in ("return", "close"):
        y = np.log(end / c)
    elif kind == "mean_close":
        y = fwd.mean(axis=1) / c - 1.0
    elif kind == "drawdown":
        y = _drawdown(np.column_stack([c, fwd]))
    elif kind == "volatility":
        logp = np.log(np.column_stack([c, fwd]))
        y = np.sqrt(np.sum(np.diff(logp, axis=1) ** 2, axis=1))
    else:
        raise ValueError(f"unknown target kind {kind!r}; one of {', '.join(KINDS)}")
    return pd.Series(y, index=close.index, name=f"{kind}_h{h}")


def persistence(close: pd.Series, kind: str, h: int) -> pd.Series:
    """The no-change forecast of ``<kind>_h<h>`` known at t (the 'persistence' baseline, in model units).

    Returns, prices and mean closes: no change (0 log return). Drawdown and volatility: the same quantity
    over the past h days. Direction: the direction of the past h days (close[t] > close[t-h]).
    """
    c = close.to_numpy(float)
    back = _backward_windows(c, h + 1)  # close[t-h .. t]
    if kind == "direction":
        y = np.where(np.isnan(back[:, 0]), np.nan, (c > back[:, 0]).astype(float))
    elif kind in ("return", "close", "mean_close"):
        y = np.zeros(len(c))
    elif kind == "drawdown":
        y = _drawdown(back)
    elif kind == "volatility":
        y = np.sqrt(np.sum(np.diff(np.log(back), axis=1) ** 2, axis=1))
    else:
        raise ValueError(f"unknown target kind {kind!r}")
    return pd.Series(y, index=close.index, name=f"persist_{kind}_h{h}")


def momentum(close: pd.Series, h: int) -> pd.Series:
    """Past h-day log return (a trend-following forecast of the next h-day return)."""
    c = np.log(close.to_numpy(float))
    out = np.full(len(c), np.nan)
    out[h:] = c[h:] - c[:-h]
    return pd.Series(out, index=close.index, name=f"momentum_h{h}")
