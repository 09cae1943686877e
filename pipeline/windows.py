"""Windows, purged walk-forward folds and train-only preprocessing.

Shapes: ``X`` float32 ``(N, T, F)``; ``y`` ``(N, H)``; ``dates`` ``(N,)``; ``symbols`` ``(N,)``.
A window ends at its sample date and never crosses symbols. Folds split by *date*, so every symbol's
row of one day sits on the same side; between the last training (or validation) label and the first
date of the next part lie ``purge`` dates, so no label window straddles a boundary.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.errors import InputError


@dataclass
class WindowSet:
    """All samples of a run; ``X`` is materialised per fold from ``rows`` (scaled feature rows)."""

    rows: np.ndarray          # (R, F) raw feature rows of every symbol, stacked
    row_dates: np.ndarray     # (R,) datetime64 date of each row
    row_symbols: np.ndarray   # (R,) symbol of each row
    ends: np.ndarray          # (N,) index into rows of each window's last row
    y: np.ndarray             # (N, H) targets
    persist: np.ndarray       # (N, H) persistence forecasts (model units)
    extra: dict[str, np.ndarray]  # (N, H) or (N,) side arrays: momentum, close_t, ...
    dates: np.ndarray         # (N,) sample dates
    symbols: np.ndarray       # (N,) sample symbols
    window: int
    columns: list[str]

    @property
    def n(self) -> int:
        return len(self.ends)

    def subset(self, keep: np.ndarray) -> "WindowSet":
        """The samples where ``keep`` (N,) is true; feature rows are shared."""
        return WindowSet(self.rows, self.row_dates, self.row_symbols, self.ends[keep], self.y[keep], self.persist[keep],
                         {k: v[keep] for k, v in self.extra.items()}, self.dates[keep], self.symbols[keep],
                         self.window, self.columns)

    def gather(self, rows: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Windows ``(len(idx), T, F)`` float32 of the samples ``idx`` from (scaled) ``rows``."""
        offsets = np.arange(-self.window + 1, 1)
        return rows[self.ends[idx][:, None] + offsets[None, :]].astype(np.float32, copy=False)


def make_windows(
    features: dict[str, pd.DataFrame],
    targets: dict[str, pd.DataFrame],
    persist: dict[str, pd.DataFrame],
    extra: dict[str, dict[str, pd.DataFrame | pd.Series]],
    window: int,
) -> WindowSet:
    """Stack symbols; a sample is every date with a full window of features and every target known."""
    rows, row_dates, row_symbols, ends, ys, ps, dates, symbols = [], [], [], [], [], [], [], []
    extras: dict[str, list[np.ndarray]] = {}
    offset = 0
    columns = list(next(iter(features.values())).columns)
    for symbol, frame in features.items():
        t = targets[symbol].reindex(frame.index).to_numpy(float)
        p = persist[symbol].reindex(frame.index).to_numpy(float)
        ok = ~np.isnan(t).any(axis=1) & ~np.isnan(p).any(axis=1)
        ok[: window - 1] = False
        pos = np.flatnonzero(ok)
        rows.append(frame.to_numpy(float))
        row_dates.append(frame.index.to_numpy("datetime64[ns]"))
        row_symbols.append(np.full(len(frame), symbol, dtype=object))
        ends.append(pos + offset)
        ys.append(t[pos])
        ps.append(p[pos])
        dates.append(frame.index.to_numpy("datetime64[ns]")[pos])
        symbols.append(np.full(len(pos), symbol, dtype=object))
        for name, value in extra[symbol].items():
            arr = value.reindex(frame.index).to_numpy(float)
            extras.setdefault(name, []).append(arr[pos])
        offset += len(frame)
    dates_all = np.concatenate(dates)
    order = np.lexsort((np.concatenate(symbols).astype(str), dates_all))  # by date, then symbol
    return WindowSet(
        rows=np.vstack(rows), row_dates=np.concatenate(row_dates), row_symbols=np.concatenate(row_symbols),
        ends=np.concatenate(ends)[order], y=np.vstack(ys)[order], persist=np.vstack(ps)[order],
        extra={k: np.concatenate(v)[order] for k, v in extras.items()},
        dates=dates_all[order], symbols=np.concatenate(symbols)[order], window=window, columns=columns,
    )


@dataclass
class Fold:
    """Sample indices of one walk-forward fold (train < purge < val < purge < test, by date)."""

    number: int
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def describe(self, dates: np.ndarray) -> str:
        d = lambda i: str(pd.Timestamp(dates[i]).date())  # noqa: E731
        return (f"fold {self.number}: train {d(self.train[0])}..{d(self.train[-1])} ({len(self.train)}), "
                f"val {d(self.val[0])}..{d(self.val[-1])} ({len(self.val)}), "
                f"test {d(self.test[0])}..{d(self.test[-1])} ({len(self.test)})")


def purged_walk_forward_folds(
    dates: np.ndarray, n_folds: int, purge: int, test_fraction: float = 0.3, val_fraction: float = 0.15,
    min_train_dates: int = 60,
) -> list[Fold]:
    """Expanding-window folds over the sorted unique ``dates`` of the samples.

    The last ``test_fraction`` of dates is cut into ``n_folds`` consecutive test blocks. Fold k trains on
    every date before its test block (minus ``purge`` dates), validates on the last ``val_fraction`` of
    those (again separated by ``purge`` dates) and tests on block k.
    """
    unique = np.unique(dates)
    m = len(unique)
    n_test = int(round(m * test_fraction))
    if n_folds < 1:
        raise InputError("--folds must be at least 1")
    if n_test < n_folds * 5:
        raise InputError(f"only {m} sample dates: too few for {n_folds} test folds; use a longer history or fewer --folds")
    bounds = np.linspace(m - n_test, m, n_folds + 1).astype(int)
    position = np.searchsorted(unique, dates)
    folds = []
    for k in range(n_folds):
        test_lo, test_hi = bounds[k], bounds[k + 1]
        pre = test_lo - purge  # dates [0, pre) may carry labels that end before the test block
        n_val = max(int(round(pre * val_fraction)), 5)
        val_lo = pre - n_val
        train_hi = val_lo - purge
        if train_hi < min_train_dates:
            raise InputError(
                f"fold {k + 1}: only {max(train_hi, 0)} training dates before the purge gap; "
                "use a longer history, fewer --folds, smaller --horizons or a shorter --window"
            )
        folds.append(Fold(
            number=k + 1,
            train=np.flatnonzero(position < train_hi),
            val=np.flatnonzero((position >= val_lo) & (position < pre)),
            test=np.flatnonzero((position >= test_lo) & (position < test_hi)),
        ))
    return folds


@dataclass
class Preprocessor:
    """Per-feature transform fitted on training rows only: optional log of price levels, clipping at
    training quantiles, then a standard / robust / min-max scaler. ``fit`` -> ``transform``."""

    scaler: str = "standard"
    log_columns: tuple[int, ...] = ()
    clip_quantile: float = 0.0
    low_: np.ndarray | None = None
    high_: np.ndarray | None = None
    center_: np.ndarray | None = None
    scale_: np.ndarray | None = None

    def _log(self, rows: np.ndarray) -> np.ndarray:
        if not self.log_columns:
            return rows
        rows = rows.copy()
        cols = list(self.log_columns)
        rows[:, cols] = np.log(np.maximum(rows[:, cols], 1e-12))
        return rows

    def fit(self, rows: np.ndarray) -> "Preprocessor":
        """``rows`` (R, F): the feature rows of the training part only."""
        x = self._log(rows)
        if self.clip_quantile > 0:
            self.low_ = np.quantile(x, self.clip_quantile, axis=0)
            self.high_ = np.quantile(x, 1 - self.clip_quantile, axis=0)
            x = np.clip(x, self.low_, self.high_)
        if self.scaler == "standard":
            center, scale = x.mean(axis=0), x.std(axis=0)
        elif self.scaler == "robust":
            q25, center, q75 = np.quantile(x, [0.25, 0.5, 0.75], axis=0)
            scale = q75 - q25
        elif self.scaler == "minmax":
            center, scale = x.min(axis=0), x.max(axis=0) - x.min(axis=0)
        else:
            raise InputError(f"unknown --scaler {self.scaler!r}; use standard, robust or minmax")
        self.center_, self.scale_ = center, np.where(scale > 1e-12, scale, 1.0)
        return self

    def transform(self, rows: np.ndarray) -> np.ndarray:
        x = self._log(rows)
        if self.low_ is not None:
            x = np.clip(x, self.low_, self.high_)
        return (x - self.center_) / self.scale_


def training_rows(ws: WindowSet, train_idx: np.ndarray) -> np.ndarray:
    """Row indices the training windows read: per symbol, every row up to its last training window end."""
    last_end = {}
    for i in train_idx:
        s = ws.symbols[i]
        last_end[s] = max(last_end.get(s, -1), int(ws.ends[i]))
    first_start = {}
    for i in train_idx:
        s = ws.symbols[i]
        first_start[s] = min(first_start.get(s, 1 << 62), int(ws.ends[i]) - ws.window + 1)
    return np.concatenate([np.arange(first_start[s], last_end[s] + 1) for s in last_end])
