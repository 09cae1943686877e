"""Windows, purged walk-forward folds and train-only preprocessing.

Shapes: ``X`` float32 ``(N, T, F)``; ``y`` ``(N, H)``; ``dates`` ``(N,)``; ``symbols`` ``(N,)``.
``X`` is never materialised whole: :class:`Windows` keeps the scaled feature rows ``(R, F)`` and each
sample's last row, and gathers a batch ``(B, T, F)`` when it is needed (on the device for CUDA), so
memory is O(R·F), not O(N·T·F).
A window ends at its sample date and never crosses symbols. Folds split by *date*, so every symbol's
row of one day sits on the same side; between the last training (or validation) label and the first
date of the next part lie ``purge`` dates, so no label window straddles a boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from pipeline.errors import InputError


@dataclass
class WindowSet:
    """All samples of a run; ``X`` is materialised per fold from ``rows`` (scaled feature rows)."""

    rows: np.ndarray  # (R, F) raw feature rows of every symbol, stacked
    row_dates: np.ndarray  # (R,) datetime64 date of each row
    row_symbols: np.ndarray  # (R,) symbol of each row
    ends: np.ndarray  # (N,) index into rows of each window's last row
    y: np.ndarray  # (N, H) targets
    persist: np.ndarray  # (N, H) persistence forecasts (model units)
    extra: dict[str, np.ndarray]  # (N, H) or (N,) side arrays: momentum, close_t, ...
    dates: np.ndarray  # (N,) sample dates
    symbols: np.ndarray  # (N,) sample symbols
    window: int
    columns: list[str]

    @property
    def n(self) -> int:
        return len(self.ends)

    def subset(self, keep: np.ndarray) -> "WindowSet":
        """The samples where ``keep`` (N,) is true; feature rows are shared."""
        return WindowSet(
            self.rows,
            self.row_dates,
            self.row_symbols,
            self.ends[keep],
            self.y[keep],
            self.persist[keep],
            {k: v[keep] for k, v in self.extra.items()},
            self.dates[keep],
            self.symbols[keep],
            self.window,
            self.columns,
        )

    def gather(self, rows: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Windows ``(len(idx), T, F)`` float32 of the samples ``idx`` from (scaled) ``rows``, materialised
        (the reference :class:`Windows` is tested against; use :meth:`windows` in the pipeline)."""
        offsets = np.arange(-self.window + 1, 1)
        return rows[self.ends[idx][:, None] + offsets[None, :]].astype(np.float32, copy=False)

    def windows(self, rows: np.ndarray, idx: np.ndarray) -> "Windows":
        """The samples ``idx`` as lazy :class:`Windows` over (scaled) ``rows``."""
        return Windows(rows, self.ends[idx], self.window)


class Windows:
    """Lazy float32 windows ``(N, T, F)``: rows ``(R, F0)`` plus, per sample, the row its window ends on.

    Indexing like an array gathers: ``W[idx]`` -> ``ndarray (len(idx), T, F)``; ``W[:, -k:, :]`` gathers the
    last ``k`` steps only; ``W[:, :, cols]`` is again lazy. :meth:`batch` returns a tensor on the rows'
    device (see :meth:`to`). Output columns come in *blocks*: a block reads source columns of the rows at
    its own window ends, which is how a group's windows are permuted across samples (:meth:`permuted`)
    or shadowed (:meth:`with_shadows`) without copying any window.
    """

    ndim = 3
    dtype = np.dtype(np.float32)

    def __init__(self, rows, ends, window: int, blocks: list[tuple[np.ndarray, np.ndarray, object]] | None = None):
        self.rows = rows if isinstance(rows, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(rows, np.float32))
        self.window = int(window)
        ends_t = ends if isinstance(ends, torch.Tensor) else torch.as_tensor(np.asarray(ends, np.int64))
        f0 = self.rows.shape[1]
        # (output columns, source columns, window ends (N,)) per block; default: every column, as is
        self.blocks = blocks if blocks is not None else [(np.arange(f0), np.arange(f0), ends_t)]
        self.n_features = int(sum(len(b[0]) for b in self.blocks))

    @property
    def device(self) -> torch.device:
        return self.rows.device

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self), self.window, self.n_features)

    def __len__(self) -> int:
        return int(self.blocks[0][2].shape[0])

    def _plain(self) -> bool:
        out, src, _ = self.blocks[0]
        if len(self.blocks) != 1 or len(out) != self.rows.shape[1]:
            return False
        return bool((src == np.arange(len(src))).all() and (out == np.arange(len(out))).all())

    def batch(self, idx, steps: slice | None = None) -> torch.Tensor:
        """Windows of samples ``idx`` as a float32 tensor ``(len(idx), t, F)`` on the rows' device; ``steps``
        selects time steps (default all ``T``)."""
        idx = torch.as_tensor(idx, dtype=torch.long, device=self.device) if not isinstance(idx, torch.Tensor) else idx
        offsets = torch.arange(-self.window + 1, 1, device=self.device)
        if steps is not None:
            offsets = offsets[steps]
        if self._plain():
            return self.rows[self.blocks[0][2][idx][:, None] + offsets[None, :]]
        out = torch.empty((len(idx), len(offsets), self.n_features), dtype=self.rows.dtype, device=self.device)
        for k, (out_cols, _, ends) in enumerate(self.blocks):
            out[:, :, self._out_cols(k)] = self._source_rows(k)[ends[idx][:, None] + offsets[None, :]]
        return out

    def _source_rows(self, k: int) -> torch.Tensor:
        """Block ``k``'s source columns of the rows, ``(R, len(src))``, made contiguous once: each batch then
        gathers only the columns it needs."""
        cache = self.__dict__.setdefault("_sub", {})
        if k not in cache:
            src = self.blocks[k][1]
            full = len(src) == self.rows.shape[1] and bool((src == np.arange(len(src))).all())
            cache[k] = self.rows if full else self.rows[:, torch.as_tensor(src, device=self.device)].contiguous()
        return cache[k]

    def _out_cols(self, k: int) -> torch.Tensor:
        cache = self.__dict__.setdefault("_out", {})
        if k not in cache:
            cache[k] = torch.as_tensor(self.blocks[k][0], device=self.device)
        return cache[k]

    def to(self, device: torch.device | str) -> "Windows":
        """The same windows with rows and ends on ``device`` (one copy of ``(R, F0)``; batches gather there)."""
        device = torch.device(device)
        if device == self.device:
            return self
        blocks = [(o, s, e.to(device)) for o, s, e in self.blocks]
        return Windows(self.rows.to(device), blocks[0][2], self.window, blocks)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self.batch(torch.arange(len(self), device=self.device)).cpu().numpy()
        return out if dtype is None else out.astype(dtype)

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        key = key + (slice(None),) * (3 - len(key))
        first, steps, cols = key
        everything = isinstance(first, slice) and first == slice(None)
        if everything and steps == slice(None):
            return self.select_columns(cols)
        idx = np.arange(len(self))[first] if isinstance(first, slice) else first
        scalar = np.ndim(idx) == 0
        idx = np.atleast_1d(np.asarray(idx))
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        single_step = isinstance(steps, (int, np.integer))
        step_sel = slice(int(steps), int(steps) + 1 or None) if single_step else steps
        out = self.batch(idx, step_sel if isinstance(step_sel, slice) else None).cpu().numpy()
        if not isinstance(step_sel, slice):
            out = out[:, step_sel]
        if single_step:
            out = out[:, 0]
        out = out[..., cols]
        return out[0] if scalar else out

    def select_columns(self, cols) -> "Windows":
        """The windows of output columns ``cols`` (an index array, slice or mask), still lazy."""
        keep = np.arange(self.n_features)[cols]
        if self._plain():
            ends = self.blocks[0][2]
            return Windows(self.rows[:, torch.as_tensor(keep, device=self.device)].contiguous(), ends, self.window)
        blocks = []
        position = {int(c): i for i, c in enumerate(keep)}
        for out_cols, src_cols, ends in self.blocks:
            mask = np.isin(out_cols, keep)
            if mask.any():
                blocks.append((np.array([position[int(c)] for c in out_cols[mask]]), src_cols[mask], ends))
        return Windows(self.rows, blocks[0][2], self.window, blocks)

    def _source(self, cols: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, object]]:
        """For output columns ``cols``: (positions within ``cols``, source columns, ends) per block."""
        position = {int(c): i for i, c in enumerate(cols)}
        out = []
        for out_cols, src_cols, ends in self.blocks:
            mask = np.isin(out_cols, cols)
            if mask.any():
                out.append((np.array([position[int(c)] for c in out_cols[mask]]), src_cols[mask], ends))
        return out

    def permuted(self, cols: np.ndarray, perm: np.ndarray) -> "Windows":
        """``X.copy(); X[:, :, cols] = X[perm][:, :, cols]``, lazily: the group ``cols`` reads the whole
        window of sample ``perm[i]`` for sample ``i``."""
        cols = np.asarray(cols)
        perm_t = torch.as_tensor(np.asarray(perm, np.int64), device=self.device)
        blocks = []
        for out_cols, src_cols, ends in self.blocks:
            mask = ~np.isin(out_cols, cols)
            if mask.any():
                blocks.append((out_cols[mask], src_cols[mask], ends))
            if (~mask).any():
                blocks.append((out_cols[~mask], src_cols[~mask], ends[perm_t]))
        return Windows(self.rows, blocks[0][2], self.window, blocks)

    def with_shadows(self, group_idx: dict[str, np.ndarray], rng: np.random.Generator) -> "Windows":
        """The windows followed by a shadow of every group (in ``group_idx`` order): the group's columns
        read from the windows of a random permutation of the samples, as :func:`explain.common.shadow_columns`."""
        blocks = list(self.blocks)
        start = self.n_features
        for cols in group_idx.values():
            perm = torch.as_tensor(rng.permutation(len(self)), device=self.device)
            cols = np.asarray(cols)
            for pos, src_cols, ends in self._source(cols):
                blocks.append((start + pos, src_cols, ends[perm]))
            start += len(cols)
        return Windows(self.rows, blocks[0][2], self.window, blocks)

    def take(self, idx: np.ndarray) -> "Windows":
        """The samples ``idx``, still lazy."""
        idx_t = torch.as_tensor(np.asarray(idx, np.int64), device=self.device)
        return Windows(self.rows, self.blocks[0][2][idx_t], self.window, [(o, s, e[idx_t]) for o, s, e in self.blocks])


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
        rows=np.vstack(rows),
        row_dates=np.concatenate(row_dates),
        row_symbols=np.concatenate(row_symbols),
        ends=np.concatenate(ends)[order],
        y=np.vstack(ys)[order],
        persist=np.vstack(ps)[order],
        extra={k: np.concatenate(v)[order] for k, v in extras.items()},
        dates=dates_all[order],
        symbols=np.concatenate(symbols)[order],
        window=window,
        columns=columns,
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
        return (
            f"fold {self.number}: train {d(self.train[0])}..{d(self.train[-1])} ({len(self.train)}), "
            f"val {d(self.val[0])}..{d(self.val[-1])} ({len(self.val)}), "
            f"test {d(self.test[0])}..{d(self.test[-1])} ({len(self.test)})"
        )


def purged_walk_forward_folds(
    dates: np.ndarray,
    n_folds: int,
    purge: int,
    test_fraction: float = 0.3,
    val_fraction: float = 0.15,
    min_train_dates: int = 60,
    test_start: np.datetime64 | None = None,
) -> list[Fold]:
    """Expanding-window folds over the sorted unique ``dates`` of the samples.

    The last ``test_fraction`` of dates (or every date from ``test_start`` on) is cut into ``n_folds``
    consecutive test blocks. Fold k trains on every date before its test block (minus ``purge`` dates),
    validates on the last ``val_fraction`` of those (again separated by ``purge`` dates) and tests on block k.
    """
    unique = np.unique(dates)
    m = len(unique)
    n_test = int(round(m * test_fraction)) if test_start is None else int(m - np.searchsorted(unique, test_start))
    if n_folds < 1:
        raise InputError("--folds must be at least 1")
    if n_test < n_folds * 5:
        if test_start is not None:
            raise InputError(
                f"--test-start {str(test_start)[:10]}: only {n_test} sample dates from it on, too few for "
                f"{n_folds} test folds; use an earlier --test-start or fewer --folds"
            )
        raise InputError(
            f"only {m} sample dates: too few for {n_folds} test folds; use a longer history or fewer --folds"
        )
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
        folds.append(
            Fold(
                number=k + 1,
                train=np.flatnonzero(position < train_hi),
                val=np.flatnonzero((position >= val_lo) & (position < pre)),
                test=np.flatnonzero((position >= test_lo) & (position < test_hi)),
            )
        )
    return folds


def split_validation(val_dates: np.ndarray, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of a fold's validation samples in two parts by date: ``(stop, choice)``.

    ``choice``: the later half of the validation dates, where every baseline is scored when the fold's
    comparator is chosen. ``stop``: the dates before it less ``gap`` dates (the purge), where LightGBM
    early-stops, so no early-stopping label reaches into the choice days. The purge never shrinks: with fewer
    than ``2 * gap + 2`` validation dates the choice days shrink instead (down to one date) so that ``stop``
    keeps at least one; a block of ``gap + 1`` dates or fewer is refused."""
    unique = np.unique(val_dates)
    if len(unique) < gap + 2:
        raise InputError(
            f"--val-fraction: a fold's validation block has {len(unique)} dates, too few for an "
            f"early-stopping date, a purge of {gap} dates (the longest horizon) and a date to choose the "
            "comparator on; raise --val-fraction or use more data"
        )
    split = min(max(len(unique) // 2, gap + 1), len(unique) - 1)
    pos = np.searchsorted(unique, val_dates)
    return np.flatnonzero(pos < split - gap), np.flatnonzero(pos >= split)


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
    """Row indices the training windows read: per symbol (in order of first appearance), every row from its
    first training window's start to its last training window's end."""
    if len(train_idx) == 0:
        return np.zeros(0, dtype=np.int64)
    ends = ws.ends[train_idx].astype(np.int64)
    names, first, code = np.unique(ws.symbols[train_idx], return_index=True, return_inverse=True)
    last_end = np.full(len(names), -1, dtype=np.int64)
    np.maximum.at(last_end, code, ends)
    first_start = np.full(len(names), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_start, code, ends - ws.window + 1)
    return np.concatenate([np.arange(first_start[k], last_end[k] + 1) for k in np.argsort(first, kind="stable")])
