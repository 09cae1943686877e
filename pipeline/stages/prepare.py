"""The prepare stage: ``prepare(cfg) -> Prepared``. Data -> features -> targets (and the baselines'
reference signals) -> windows as an index into feature rows -> purged walk-forward folds -> per fold, the
rows scaled by a preprocessor fitted on that fold's training rows only.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from pipeline.config.schema import RunConfig
from pipeline.data.dataset import Dataset, build_dataset
from pipeline.errors import InputError
from pipeline.splits.windows import (
    Fold,
    Preprocessor,
    WindowSet,
    make_windows,
    purged_walk_forward_folds,
    training_rows,
)
from pipeline.stages.results import FoldData, Prepared, frozen_map
from pipeline.targets.core import (
    CLASSIFICATION,
    CROSS_SECTIONAL,
    MIN_CROSS_SECTION,
    forward_return,
    make_target,
    momentum,
    persistence,
    xs_persistence,
    xs_signals,
    xs_target,
)


def memory_estimate_gb(n_rows: int, n_features: int, n_samples: int, cfg: RunConfig) -> float:
    """Memory the data of a run need at peak, in GB: the feature frames and stacked rows (float64), one
    float32 copy of the scaled rows per fold (every fold is held at once), and the LightGBM baseline's
    lag-flattened rows of one fold (float32, with its binned copy). Windows are gathered per batch and
    never held whole, so the window length does not enter."""
    rows = n_rows * n_features * (8 + 8 + 4 * cfg.folds)
    lgbm = n_samples * min(cfg.lgbm_lags, cfg.window) * n_features * (4 + 1)
    return (rows + lgbm) / 1e9


def prepare(cfg: RunConfig, dataset: Dataset | None = None) -> Prepared:
    """Load data (or take ``dataset``), build features, targets, windows, purged folds, and each fold's
    windows scaled by a preprocessor fitted on its training rows only. Nothing is trained here."""
    if dataset is None:
        dataset = build_dataset(
            cfg.source, cfg.data, cfg.symbols, cfg.features, cfg.macro, cfg.start, cfg.end, cfg.cache_dir, cfg.offline
        )
    if cfg.exclude_groups:
        dataset = dataset.select(cfg.exclude_groups)
    kind, horizons = cfg.target, cfg.horizons
    targets, persist, extra = {}, {}, {}
    closes = {s: p["close"] for s, p in dataset.prices.items()}
    panel = len(closes) >= MIN_CROSS_SECTION
    if kind in CROSS_SECTIONAL and not panel:
        raise InputError(
            f"--target {kind} compares symbols on each date: it needs at least {MIN_CROSS_SECTION} symbols "
            "(--symbols A,B,C, a long CSV without --symbol, or --source sample --symbols SP20)"
        )
    xs_y = {h: xs_target(closes, kind, h) for h in horizons} if kind in CROSS_SECTIONAL else {}
    xs_persist = {h: xs_persistence(closes, kind, h) for h in horizons} if kind in CROSS_SECTIONAL else {}
    xs_ref = xs_signals(closes) if panel else {}  # reversal and momentum: the same for every horizon
    for symbol, close in closes.items():
        if kind in CROSS_SECTIONAL:
            targets[symbol] = pd.concat([xs_y[h][symbol] for h in horizons], axis=1)
            persist[symbol] = pd.concat([xs_persist[h][symbol] for h in horizons], axis=1)
        else:
            targets[symbol] = pd.concat([make_target(close, kind, h) for h in horizons], axis=1)
            persist[symbol] = pd.concat([persistence(close, kind, h) for h in horizons], axis=1)
        extra[symbol] = {
            "close_t": close,
            "next_return": close.shift(-1) / close - 1.0,
            **{f"momentum_h{h}": momentum(close, h) for h in horizons},
            **{f"fwd_return_h{h}": forward_return(close, h) for h in horizons},
        }
        if panel:  # cross-sectional reference signals, known at t (the same for every horizon)
            extra[symbol]["xs_reversal"] = xs_ref[symbol]["reversal"]
            extra[symbol]["xs_momentum"] = xs_ref[symbol]["momentum"]
    ws = make_windows({s: t.frame for s, t in dataset.tables.items()}, targets, persist, extra, cfg.window)
    for name in ("xs_reversal", "xs_momentum"):
        if name in ws.extra:  # a date where too few symbols had a past return: no view (rank 0.5)
            ws.extra[name] = np.where(np.isfinite(ws.extra[name]), ws.extra[name], 0.5)
    if cfg.sample_start:
        ws = ws.subset(ws.dates >= np.datetime64(pd.Timestamp(cfg.sample_start)))
    where = f"{cfg.data or 'embedded sample'} ({', '.join(dataset.prices)})"
    if ws.n == 0:
        raise InputError(
            f"{where}: no sample has a full {cfg.window}-day window and known targets; use a longer "
            "history or a shorter --window"
        )
    need_gb = memory_estimate_gb(ws.rows.shape[0], len(ws.columns), ws.n, cfg)
    limit_gb = float(os.environ.get("FEATUREPROOF_MAX_MEMORY_GB", os.environ.get("FEATUREPROOF_MAX_WINDOW_GB", "12")))
    if need_gb > limit_gb:
        raise InputError(
            f"{where}: {ws.rows.shape[0]:,} feature rows x {len(ws.columns)} features with {cfg.folds} folds need about "
            f"{need_gb:.1f} GB (limit {limit_gb:g} GB, FEATUREPROOF_MAX_MEMORY_GB); pick fewer symbols with "
            "--symbol/--symbols, fewer --folds, fewer --lgbm-lags or a later --start"
        )
    try:
        folds = purged_walk_forward_folds(
            ws.dates,
            cfg.folds,
            purge=max(horizons),
            test_fraction=cfg.test_fraction,
            val_fraction=cfg.val_fraction,
            min_train_dates=max(2 * cfg.window, 100),
            test_start=np.datetime64(pd.Timestamp(cfg.test_start)) if cfg.test_start else None,
        )
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    return Prepared(cfg, dataset, ws, tuple(scale_fold(cfg, dataset, ws, fold) for fold in folds))


def scale_fold(cfg: RunConfig, dataset: Dataset, ws: WindowSet, fold: Fold) -> FoldData:
    """Fit the preprocessor on the fold's training rows only; scale every row; index the windows."""
    levels = dataset.tables[next(iter(dataset.tables))].levels if cfg.log_transform else []
    log_cols = tuple(ws.columns.index(c) for c in levels)
    rows_used = training_rows(ws, fold.train)
    pre = Preprocessor(cfg.scaler, log_cols, cfg.clip_quantile).fit(ws.rows[rows_used])
    rows = pre.transform(ws.rows).astype(np.float32)
    y_tr = ws.y[fold.train]
    if cfg.target in CLASSIFICATION:
        y_mean, y_std = np.zeros(y_tr.shape[1]), np.ones(y_tr.shape[1])
    else:
        y_mean, y_std = y_tr.mean(axis=0), np.where(y_tr.std(axis=0) > 0, y_tr.std(axis=0), 1.0)
    scale = lambda y: ((y - y_mean) / y_std).astype(np.float32)  # noqa: E731
    shift = covariate_shift(ws, dataset.groups, fold, rows_used)
    return FoldData(
        fold,
        pre,
        ws.windows(rows, fold.train),
        scale(y_tr),
        ws.windows(rows, fold.val),
        scale(ws.y[fold.val]),
        ws.windows(rows, fold.test),
        y_mean,
        y_std,
        frozen_map(shift),
    )


def covariate_shift(
    ws: WindowSet, groups: dict[str, list[str]], fold: Fold, train_rows: np.ndarray
) -> dict[str, float]:
    """Per feature group: the share of the fold's test days on which some column of the group lies outside
    the range of the training rows (the model, the baselines and every importance method extrapolate there)."""
    train_rows = ws.rows[train_rows]
    lo, hi = np.nanmin(train_rows, axis=0), np.nanmax(train_rows, axis=0)
    test_rows = ws.rows[ws.ends[fold.test]]
    outside = (test_rows < lo) | (test_rows > hi)  # (n_test, F)
    pos = {c: i for i, c in enumerate(ws.columns)}
    return {g: float(outside[:, [pos[c] for c in cols if c in pos]].any(axis=1).mean()) for g, cols in groups.items()}


def xs_reference(prepared: Prepared, idx: np.ndarray) -> dict[str, np.ndarray]:
    """The cross-sectional reference forecasts of samples ``idx``, ``(n, H)``: short-term reversal and
    momentum ranks (read as probabilities for ``xs_direction``), the same for every horizon."""
    H = len(prepared.cfg.horizons)
    return {
        name: np.repeat(prepared.ws.extra[f"xs_{name}"][idx][:, None], H, axis=1) for name in ("reversal", "momentum")
    }
