"""Run orchestration up to predictions: data -> features -> targets -> windows -> purged folds ->
train-only preprocessing -> LSTM (per seed) and baselines (once per fold) -> out-of-sample predictions.

Everything downstream (metrics, tests, explanations, reports) reads the :class:`Experiment` it returns.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from explain import lgbm as lgbm_explain
from pipeline.models import baselines
from pipeline.config.schema import RunConfig
from pipeline.errors import InputError
from pipeline.data.dataset import Dataset, build_dataset
from pipeline.models.lstm import LSTMModel, ModelConfig
from pipeline.progress import say, stage
from pipeline.models.device import inference_threads, torch_threads, training_threads
from pipeline.targets.core import (CLASSIFICATION, CROSS_SECTIONAL, MIN_CROSS_SECTION, forward_return, make_target, momentum,
                              persistence, xs_persistence, xs_signals, xs_target)
from pipeline.models.trainer import TrainConfig, TrainResult, fit, predict, resolve_device, seed_everything
from pipeline.splits.windows import Fold, Preprocessor, Windows, WindowSet, make_windows, purged_walk_forward_folds, training_rows


@dataclass
class FoldData:
    """One fold's scaled windows (what the models were trained and tested on): lazy :class:`Windows`
    sharing one float32 copy of the scaled feature rows ``(R, F)``."""

    fold: Fold
    pre: Preprocessor
    X_train: Windows
    y_train: np.ndarray
    X_val: Windows
    y_val: np.ndarray
    X_test: Windows
    y_mean: np.ndarray   # target scaling (regression); zeros/ones for classification
    y_std: np.ndarray


@dataclass
class Experiment:
    cfg: RunConfig
    dataset: Dataset
    ws: WindowSet
    folds: list[Fold]
    classification: bool
    device: torch.device
    fold_data: list[FoldData] = field(default_factory=list)
    models: dict[tuple[int, int], LSTMModel] = field(default_factory=dict)       # (fold, seed) -> model
    histories: dict[tuple[int, int], TrainResult] = field(default_factory=dict)
    lgbm_fits: dict[int, list] = field(default_factory=dict)   # fold -> [explain.lgbm.LgbmFit per horizon]
    test_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, int))      # samples, in test order
    test_fold: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    model_pred: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))  # (seeds, n_test, H), model units
    baseline_pred: dict[str, np.ndarray] = field(default_factory=dict)          # name -> (n_test, H)
    val_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, int))       # validation samples of every fold
    baseline_val_pred: dict[str, np.ndarray] = field(default_factory=dict)      # name -> (n_val, H), val_idx order
    shift: dict[int, dict[str, float]] = field(default_factory=dict)            # fold -> group -> share of test days
                                                                               # with a value outside the training range
    train_seconds: float = 0.0

    @property
    def seeds(self) -> list[int]:
        return [self.cfg.seed + k for k in range(self.cfg.seeds)]

    @property
    def ensemble_pred(self) -> np.ndarray:
        """(n_test, H): the seed ensemble (mean over seeds), the one prediction every test speaks about."""
        return self.model_pred.mean(axis=0)

    @property
    def target_names(self) -> list[str]:
        return [f"{self.cfg.target}_h{h}" for h in self.cfg.horizons]

    def model_config(self) -> ModelConfig:
        c = self.cfg
        return ModelConfig(n_features=len(self.ws.columns), n_outputs=len(c.horizons), hidden=c.hidden, layers=c.layers,
                           dropout=c.dropout, norm=c.norm, bidirectional=c.bidirectional, pool=c.pool)

    def train_config(self, seed: int) -> TrainConfig:
        c = self.cfg
        return TrainConfig(epochs=c.epochs, batch_size=c.batch_size, lr=c.lr, lr_scaling=c.lr_scaling,
                           weight_decay=c.weight_decay, warmup_epochs=c.warmup_epochs, patience=c.patience,
                           clip_grad=c.clip_grad, classification=self.classification, seed=seed, progress=c.progress)


def memory_estimate_gb(n_rows: int, n_features: int, n_samples: int, cfg: RunConfig) -> float:
    """Memory the data of a run need at peak, in GB: the feature frames and stacked rows (float64), one
    float32 copy of the scaled rows per fold (every fold is held at once), and the LightGBM baseline's
    lag-flattened rows of one fold (float32, with its binned copy). Windows are gathered per batch and
    never held whole, so the window length does not enter."""
    rows = n_rows * n_features * (8 + 8 + 4 * cfg.folds)
    lgbm = n_samples * min(cfg.lgbm_lags, cfg.window) * n_features * (4 + 1)
    return (rows + lgbm) / 1e9


def prepare(cfg: RunConfig, dataset: Dataset | None = None) -> Experiment:
    """Load data, build features, targets, windows and folds (no training yet). Sets the process's torch
    threads for large-batch work (:func:`pipeline.models.device.inference_threads`)."""
    torch.set_num_threads(inference_threads(cfg.threads))
    if dataset is None:
        dataset = build_dataset(cfg.source, cfg.data, cfg.symbols, cfg.features, cfg.macro, cfg.start, cfg.end,
                                cfg.cache_dir, cfg.offline)
    kind, horizons = cfg.target, cfg.horizons
    targets, persist, extra = {}, {}, {}
    closes = {s: p["close"] for s, p in dataset.prices.items()}
    panel = len(closes) >= MIN_CROSS_SECTION
    if kind in CROSS_SECTIONAL and not panel:
        raise InputError(f"--target {kind} compares symbols on each date: it needs at least {MIN_CROSS_SECTION} symbols "
                         "(--symbols A,B,C, a long CSV without --symbol, or --source sample --symbols SP20)")
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
        raise InputError(f"{where}: no sample has a full {cfg.window}-day window and known targets; use a longer "
                         "history or a shorter --window")
    need_gb = memory_estimate_gb(ws.rows.shape[0], len(ws.columns), ws.n, cfg)
    limit_gb = float(os.environ.get("FEATUREPROOF_MAX_MEMORY_GB", os.environ.get("FEATUREPROOF_MAX_WINDOW_GB", "12")))
    if need_gb > limit_gb:
        raise InputError(
            f"{where}: {ws.rows.shape[0]:,} feature rows x {len(ws.columns)} features with {cfg.folds} folds need about "
            f"{need_gb:.1f} GB (limit {limit_gb:g} GB, FEATUREPROOF_MAX_MEMORY_GB); pick fewer symbols with "
            "--symbol/--symbols, fewer --folds, fewer --lgbm-lags or a later --start"
        )
    try:
        folds = purged_walk_forward_folds(ws.dates, cfg.folds, purge=max(horizons), test_fraction=cfg.test_fraction,
                                          val_fraction=cfg.val_fraction, min_train_dates=max(2 * cfg.window, 100))
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    exp = Experiment(cfg, dataset, ws, folds, kind in CLASSIFICATION, resolve_device(cfg.device))
    exp.test_idx = np.concatenate([f.test for f in folds])
    exp.test_fold = np.concatenate([np.full(len(f.test), f.number) for f in folds])
    exp.val_idx = np.concatenate([f.val for f in folds])
    return exp


def fold_data(exp: Experiment, fold: Fold) -> FoldData:
    """Fit the preprocessor on the fold's training rows only; scale every row; gather windows."""
    ws, cfg = exp.ws, exp.cfg
    levels = exp.dataset.tables[next(iter(exp.dataset.tables))].levels if cfg.log_transform else []
    log_cols = tuple(ws.columns.index(c) for c in levels)
    pre = Preprocessor(cfg.scaler, log_cols, cfg.clip_quantile).fit(ws.rows[training_rows(ws, fold.train)])
    rows = pre.transform(ws.rows).astype(np.float32)
    y_tr = ws.y[fold.train]
    if exp.classification:
        y_mean, y_std = np.zeros(y_tr.shape[1]), np.ones(y_tr.shape[1])
    else:
        y_mean, y_std = y_tr.mean(axis=0), np.where(y_tr.std(axis=0) > 0, y_tr.std(axis=0), 1.0)
    scale = lambda y: ((y - y_mean) / y_std).astype(np.float32)  # noqa: E731
    return FoldData(fold, pre, ws.windows(rows, fold.train), scale(y_tr), ws.windows(rows, fold.val),
                    scale(ws.y[fold.val]), ws.windows(rows, fold.test), y_mean, y_std)


def to_model_units(exp: Experiment, raw: np.ndarray, fd: FoldData) -> np.ndarray:
    """Network outputs -> probabilities (direction) or target units (regression)."""
    if exp.classification:
        return 1.0 / (1.0 + np.exp(-raw.astype(np.float64)))
    return raw * fd.y_std + fd.y_mean


def run_baselines(exp: Experiment, fd: FoldData) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Every baseline's predictions on the fold's test and validation samples: ``(test, val)``, each
    name -> (n, H) in model units. Validation predictions pick the comparator without touching test data."""
    ws, fold = exp.ws, fd.fold
    test, val = {}, {}
    if exp.classification:
        test["majority"] = baselines.majority(ws.y[fold.train], len(fold.test))
        val["majority"] = baselines.majority(ws.y[fold.train], len(fold.val))
        test["previous"], val["previous"] = ws.persist[fold.test], ws.persist[fold.val]
        test["logistic"], val["logistic"] = baselines.logistic(fd.X_train, ws.y[fold.train], [fd.X_test, fd.X_val], exp.cfg.seed)
        fits = lgbm_fit(exp, fd)
        test["lightgbm"] = np.column_stack([f.pred for f in fits])
        val["lightgbm"] = np.column_stack([f.pred_val for f in fits])
    else:
        test["persistence"], val["persistence"] = ws.persist[fold.test], ws.persist[fold.val]
        if exp.cfg.target in ("return", "close"):
            for part, idx in ((test, fold.test), (val, fold.val)):
                part["momentum"] = np.column_stack([ws.extra[f"momentum_h{h}"][idx] for h in exp.cfg.horizons])
        fits = lgbm_fit(exp, fd)
        test["lightgbm"] = np.column_stack([f.pred for f in fits]) * fd.y_std + fd.y_mean
        val["lightgbm"] = np.column_stack([f.pred_val for f in fits]) * fd.y_std + fd.y_mean
    if exp.cfg.target in CROSS_SECTIONAL:
        test.update(xs_reference(exp, fold.test))
        val.update(xs_reference(exp, fold.val))
    return test, val


def xs_reference(exp: Experiment, idx: np.ndarray) -> dict[str, np.ndarray]:
    """The cross-sectional reference forecasts of samples ``idx``, ``(n, H)``: short-term reversal and
    momentum ranks (read as probabilities for ``xs_direction``), the same for every horizon."""
    H = len(exp.cfg.horizons)
    return {name: np.repeat(exp.ws.extra[f"xs_{name}"][idx][:, None], H, axis=1) for name in ("reversal", "momentum")}


def covariate_shift(exp: Experiment, fold: Fold) -> dict[str, float]:
    """Per feature group: the share of the fold's test days on which some column of the group lies outside
    the range of the training rows (the model, the baselines and every importance method extrapolate there)."""
    ws = exp.ws
    train_rows = ws.rows[training_rows(ws, fold.train)]
    lo, hi = np.nanmin(train_rows, axis=0), np.nanmax(train_rows, axis=0)
    test_rows = ws.rows[ws.ends[fold.test]]
    outside = (test_rows < lo) | (test_rows > hi)                       # (n_test, F)
    pos = {c: i for i, c in enumerate(ws.columns)}
    return {g: float(outside[:, [pos[c] for c in cols if c in pos]].any(axis=1).mean())
            for g, cols in exp.dataset.groups.items()}


def lgbm_fit(exp: Experiment, fd: FoldData, lags: int | None = None) -> list:
    """LightGBM on the fold's lag-flattened windows, one per horizon (fitted once, kept in ``exp``):
    per horizon (gain, split, TreeSHAP, flattened test rows, test predictions in training units)."""
    lags = lags or exp.cfg.lgbm_lags
    key = fd.fold.number
    cached = exp.lgbm_fits.get(key)
    if cached is not None and cached[0].X_flat.shape[1] == min(lags, exp.cfg.window) * len(exp.ws.columns):
        return cached
    ws = exp.ws
    y_tr = ws.y[fd.fold.train] if exp.classification else fd.y_train
    y_va = ws.y[fd.fold.val] if exp.classification else fd.y_val
    # LightGBM takes as many threads as torch (one per job in pools and tests): no OpenMP oversubscription
    fits = lgbm_explain.fit_explain(fd.X_train, y_tr, fd.X_val, y_va, fd.X_test, exp.classification, lags, exp.cfg.seed,
                                    n_jobs=torch.get_num_threads())
    exp.lgbm_fits[key] = fits
    return fits


def train_and_predict(exp: Experiment, log=say) -> Experiment:
    """Train every (fold, seed) LSTM, run the baselines per fold, gather out-of-sample predictions."""
    seeds, H = exp.seeds, len(exp.cfg.horizons)
    preds: list[np.ndarray] = []
    base: dict[str, list[np.ndarray]] = {}
    base_val: dict[str, list[np.ndarray]] = {}
    t0 = time.perf_counter()
    for fold in exp.folds:
        log(fold.describe(exp.ws.dates))
        exp.shift[fold.number] = covariate_shift(exp, fold)
        fd = fold_data(exp, fold)
        exp.fold_data.append(fd)
        fold_preds = np.zeros((len(seeds), len(fold.test), H))
        for k, seed in enumerate(seeds):
            seed_everything(seed)  # the initial weights depend on the seed too
            model = LSTMModel(exp.model_config())
            tcfg = exp.train_config(seed)
            desc = f"fold {fold.number}/{len(exp.folds)} seed {seed}"
            t_fit = time.perf_counter()
            with torch_threads(training_threads(exp.cfg.threads)):  # a small LSTM gains nothing from more threads
                hist = exp.histories[(fold.number, seed)] = fit(model, fd.X_train, fd.y_train, fd.X_val, fd.y_val, tcfg,
                                                                exp.device, desc)
            stage(exp.cfg.progress, f"{desc}: trained {len(hist.train_loss)} epochs in {time.perf_counter() - t_fit:.1f} s "
                                    f"(best {hist.best_epoch})")
            raw = predict(model, fd.X_test, exp.device)
            fold_preds[k] = to_model_units(exp, raw, fd)
            exp.models[(fold.number, seed)] = model.cpu()
        preds.append(fold_preds)
        t_base = time.perf_counter()
        test, val = run_baselines(exp, fd)
        stage(exp.cfg.progress, f"fold {fold.number}/{len(exp.folds)}: baselines in {time.perf_counter() - t_base:.1f} s")
        for name in test:
            base.setdefault(name, []).append(test[name])
            base_val.setdefault(name, []).append(val[name])
    exp.train_seconds = time.perf_counter() - t0
    exp.model_pred = np.concatenate(preds, axis=1)
    exp.baseline_pred = {k: np.concatenate(v) for k, v in base.items()}
    exp.baseline_val_pred = {k: np.concatenate(v) for k, v in base_val.items()}
    return exp
