"""Targets computed from the future (t+1 .. t+h) and the matching persistence forecasts (known at t).

Kinds: ``direction`` (1 if close[t+h] > close[t]), ``return`` (log return over h days), ``close``
(trained as the log return, reported as the price close[t+h]), ``mean_close`` (mean close of the next h
days relative to close[t]), ``drawdown`` (maximum drawdown over the next h days, <= 0) and ``volatility``
(realized volatility, sqrt of the sum of squared daily log returns over the next h days). Columns are
named ``<kind>_h<h>``; they never become features.

Cross-sectional kinds compare each symbol with the others on the same date (several symbols needed):
``xs_direction`` (1 if the symbol's h-day log return beats the cross-sectional median, as in Fischer &
Krauss 2018) and ``xs_rank`` (its cross-sectional percentile rank, ``(rank - 0.5) / n``, in (0, 1)).
Their reference signals, known at t: short-term *reversal* (rank of minus the last day's return) and
*momentum* (rank of the return from t-21 to t-1, skipping the last day).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KINDS = ("direction", "return", "close", "mean_close", "drawdown", "volatility", "xs_direction", "xs_rank")
CLASSIFICATION = {"direction", "xs_direction"}
CROSS_SECTIONAL = {"xs_direction", "xs_rank"}
RETURN_LIKE = {"direction", "return", "close", "mean_close", "xs_direction", "xs_rank"}  # scores rank h-day returns
LOSS_POOL = {"close": "return"}  # targets that are the same label under the same loss: the ledger pools them


def judged_as(kind: str) -> str:
    """The target a ledger entry of ``kind`` is pooled under (``close`` and ``return`` are both the h-day log
    return, judged by the same squared error)."""
    return LOSS_POOL.get(kind, kind)


MIN_CROSS_SECTION = 3  # symbols a date needs for cross-sectional targets, IC and portfolios


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


def forward_return(close: pd.Series, h: int) -> pd.Series:
    """log(close[t+h] / close[t]): the realised h-day return every cross-sectional number is measured on."""
    c = np.log(close.to_numpy(float))
    out = np.full(len(c), np.nan)
    out[: len(c) - h] = c[h:] - c[: len(c) - h]
    return pd.Series(out, index=close.index, name=f"fwd_return_h{h}")


def _panel(series: dict[str, pd.Series]) -> pd.DataFrame:
    return pd.concat(series, axis=1, sort=True)


def _split(panel: pd.DataFrame, index: dict[str, pd.Index], name: str) -> dict[str, pd.Series]:
    return {s: panel[s].reindex(index[s]).rename(name) for s in index}


def cross_sectional_rank(panel: pd.DataFrame) -> pd.DataFrame:
    """Per date (row): percentile rank ``(rank - 0.5) / n`` of each symbol among those with a value; NaN on
    dates with fewer than :data:`MIN_CROSS_SECTION` symbols."""
    n = panel.notna().sum(axis=1)
    ranks = panel.rank(axis=1, method="average").sub(0.5).div(n, axis=0)
    return ranks.where(n >= MIN_CROSS_SECTION)


def xs_target(closes: dict[str, pd.Series], kind: str, h: int) -> dict[str, pd.Series]:
    """Cross-sectional target ``<kind>_h<h>`` for every symbol (see the module docstring)."""
    panel = _panel({s: forward_return(c, h) for s, c in closes.items()})
    n = panel.notna().sum(axis=1)
    if kind == "xs_direction":
        median = panel.median(axis=1)
        y = panel.gt(median, axis=0).astype(float).where(panel.notna() & (n >= MIN_CROSS_SECTION).to_numpy()[:, None])
    elif kind == "xs_rank":
        y = cross_sectional_rank(panel)
    else:
        raise ValueError(f"not a cross-sectional target kind: {kind!r}")
    return _split(y, {s: c.index for s, c in closes.items()}, f"{kind}_h{h}")


def xs_signals(closes: dict[str, pd.Series]) -> dict[str, dict[str, pd.Series]]:
    """Per symbol, the cross-sectional reference forecasts known at t (the same for every horizon), as
    percentile ranks: ``reversal`` (rank of minus the last day's return) and ``momentum`` (rank of the
    return from t-21 to t-1). For ``xs_direction`` the ranks read as a probability of beating the median."""
    logc = {s: np.log(c) for s, c in closes.items()}
    ranks = {
        "reversal": cross_sectional_rank(-_panel({s: l - l.shift(1) for s, l in logc.items()})),
        "momentum": cross_sectional_rank(_panel({s: l.shift(1) - l.shift(21) for s, l in logc.items()})),
    }
    index = {s: c.index for s, c in closes.items()}
    out: dict[str, dict[str, pd.Series]] = {s: {} for s in closes}
    for name, panel in ranks.items():
        for s, series in _split(panel, index, name).items():
            out[s][name] = series
    return out


def xs_persistence(closes: dict[str, pd.Series], kind: str, h: int) -> dict[str, pd.Series]:
    """The persistence forecast of a cross-sectional target: the rank of the past h-day return (rounded
    to beat / not beat the median for ``xs_direction``)."""
    logc = {s: np.log(c) for s, c in closes.items()}
    rank = cross_sectional_rank(_panel({s: l - l.shift(h) for s, l in logc.items()}))
    out = _split(rank, {s: c.index for s, c in closes.items()}, f"persist_h{h}")
    return {s: v.round(0) for s, v in out.items()} if kind == "xs_direction" else out
