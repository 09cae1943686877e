"""Validation of OHLCV frames at the boundary: one clear error (``InputError``) or a warned repair.

The checks follow the data contract of DESIGN.md: a tz-naive, sorted, unique ``DatetimeIndex`` named
``date``; float columns ``open high low close volume``; positive prices; ``high >= low``; no NaN or inf.
Close-only data (the ``SP20`` sample, a CSV of closes) are accepted: the absent columns are kept empty
(NaN) and listed in ``frame.attrs["absent_columns"]``; features that need them are left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.errors import InputError, warn

OHLCV = ["open", "high", "low", "close", "volume"]
PRICE_COLUMNS = ["open", "high", "low", "close", "adj_close"]
SPLIT_RATIOS = (2.0, 3.0, 4.0, 5.0, 10.0)  # a 2:1 split looks like a -50 % overnight move, 3:1 like -66 %


def _where(source: str, symbol: str | None) -> str:
    return f"{source} (symbol {symbol})" if symbol else source


def _row_label(frame: pd.DataFrame, position: int) -> str:
    """Human row reference: the file line when the reader kept it, else the date."""
    date = frame.index[position]
    date_text = date.strftime("%Y-%m-%d") if isinstance(date, pd.Timestamp) else str(date)
    if "_line" in frame.columns:
        return f"line {int(frame['_line'].iloc[position])} ({date_text})"
    return f"date {date_text}"


def validate_ohlcv(frame: pd.DataFrame, source: str, symbol: str | None = None) -> pd.DataFrame:
    """Check and lightly repair one symbol's OHLCV frame; return a clean copy.

    ``frame`` has a DatetimeIndex and the columns of :data:`OHLCV` (plus optional ``adj_close``, extra
    numeric columns and the reader's ``_line``). Exact duplicate rows are dropped and unsorted dates sorted,
    each with a warning; anything else wrong raises :class:`InputError` naming source, symbol, column, row.
    """
    where = _where(source, symbol)
    if frame.empty:
        raise InputError(f"{where}: no data rows; check the file or the symbol/date range you asked for")
    if "close" not in frame.columns:
        raise InputError(
            f"{where}: no close column; expected date, close and, where you have them, open, high, low, volume"
        )
    absent = [c for c in OHLCV if c not in frame.columns]  # close-only (or partial) data: kept as empty columns
    frame = frame.copy()
    for column in absent:
        frame[column] = np.nan
    ordered = OHLCV + [c for c in frame.columns if c not in OHLCV]
    frame = frame[ordered]
    if frame.index.tz is not None:
        frame.index = frame.index.tz_localize(None)
    frame.index.name = "date"

    if not frame.index.is_monotonic_increasing:
        warn(f"{where}: dates were not in ascending order; sorted them")
        frame = frame.sort_index(kind="stable")
    dup = frame.index.duplicated(keep="first")
    if dup.any():
        value_cols = [c for c in frame.columns if c != "_line"]
        exact = frame.reset_index().duplicated(subset=["date", *value_cols], keep="first").to_numpy()
        conflicting = dup & ~exact
        if conflicting.any():
            pos = int(np.flatnonzero(conflicting)[0])
            raise InputError(
                f"{where}: duplicate date with different values at {_row_label(frame, pos)}; "
                "keep one row per date (and pick one symbol with --symbol if the file holds several)"
            )
        warn(f"{where}: dropped {int(dup.sum())} exact duplicate row(s)")
        frame = frame[~dup]

    for column in [c for c in frame.columns if c != "_line" and c not in absent]:
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values):
            numeric = pd.to_numeric(values, errors="coerce")
            bad = numeric.isna() & values.notna()
            if bad.any():
                pos = int(np.flatnonzero(bad.to_numpy())[0])
                raise InputError(
                    f"{where}: column {column!r} has a non-numeric value {str(values.iloc[pos])!r} at "
                    f"{_row_label(frame, pos)}; fix or remove that row"
                )
            values = numeric
        frame[column] = values.astype(float)
        arr = frame[column].to_numpy()
        if np.isinf(arr).any():
            pos = int(np.flatnonzero(np.isinf(arr))[0])
            raise InputError(f"{where}: column {column!r} has an infinite value at {_row_label(frame, pos)}")
        nan = np.isnan(arr)
        if nan.any():
            pos = int(np.flatnonzero(nan)[0])
            raise InputError(
                f"{where}: column {column!r} has {int(nan.sum())} empty/NaN value(s), the first at "
                f"{_row_label(frame, pos)}; fill or drop those rows before loading"
            )

    for column in [c for c in PRICE_COLUMNS if c in frame.columns]:
        bad = frame[column].to_numpy() <= 0
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{where}: column {column!r} has a non-positive price {frame[column].iloc[pos]:g} at "
                f"{_row_label(frame, pos)}; prices must be > 0"
            )
    bad = frame["volume"].to_numpy() < 0
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise InputError(f"{where}: column 'volume' is negative at {_row_label(frame, pos)}")
    bad = frame["high"].to_numpy() < frame["low"].to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{where}: high < low at {_row_label(frame, pos)} "
            f"(high {frame['high'].iloc[pos]:g}, low {frame['low'].iloc[pos]:g}); are the columns swapped?"
        )
    _warn_split_like_jumps(frame, where)
    frame.attrs["symbol"] = symbol or frame.attrs.get("symbol", "")
    frame.attrs["absent_columns"] = absent
    return frame


def _warn_split_like_jumps(frame: pd.DataFrame, where: str, tolerance: float = 0.03) -> None:
    """Warn about overnight moves that look like unadjusted splits (close-to-open near 1/2, 1/3, ...)."""
    prev_close = frame["close"].shift(1).to_numpy()
    start = frame["open"] if frame["open"].notna().all() else frame["close"]  # close-only: close-to-close
    ratio = start.to_numpy() / prev_close
    hits = np.zeros(len(frame), dtype=bool)
    for r in SPLIT_RATIOS:
        hits |= np.abs(ratio - 1.0 / r) < tolerance / r
    hits[0] = False
    if hits.any():
        dates = [d.strftime("%Y-%m-%d") for d in frame.index[hits][:5]]
        more = "" if hits.sum() <= 5 else f" and {int(hits.sum()) - 5} more"
        warn(
            f"{where}: overnight move(s) that look like a stock split on {', '.join(dates)}{more}; "
            "use split-adjusted prices (Yahoo 'Adj Close', yfinance auto_adjust=True)"
        )


def check_length(n_rows: int, needed: int, where: str, what: str) -> None:
    """Raise if a series is too short for ``what`` (window + horizon + splits)."""
    if n_rows < needed:
        raise InputError(
            f"{where}: only {n_rows} usable rows after feature warm-up, but {what} needs at least {needed}; "
            "use a longer history, a shorter --window, fewer --folds or smaller --horizons"
        )
