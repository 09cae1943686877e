"""The fit stage: ``fit(prepared) -> Fitted``. One :func:`fit_unit` trains every network of the project
(the run's fold x seed models, compare's feature sets, the retrain ablation's drop-group and reseeded
models, the shadow twins of the explain stage, jobs in a local pool or on Ray); one
:func:`fold_baselines` gives every baseline's predictions to ``run`` and ``compare`` alike.

Device and threads are decided here and nowhere else: :func:`job_device` for jobs, the run's
``--device`` for in-process training, ``training_threads(--threads)`` torch threads while a model trains.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from explain.common import group_indices, with_shadows
from pipeline.models import baselines
from pipeline.models.device import inference_threads, torch_threads, training_threads
from pipeline.models.lightgbm import fit_lightgbm
from pipeline.models.families import build
from pipeline.models.trainer import fit as train, predict, resolve_device, seed_everything
from pipeline.progress import say, stage
from pipeline.splits.windows import Windows, split_validation
from pipeline.stages.executor import run_jobs
from pipeline.stages.prepare import xs_reference
from pipeline.stages.results import FoldBaselines, FoldData, Fitted, Prepared, Unit, frozen_map, read_only
from pipeline.targets.core import CROSS_SECTIONAL


def job_device(run_device: str, executor: str, gpus_per_job: float) -> str:
    """The device jobs train on: Ray tasks train on CUDA exactly when they requested GPUs; local jobs on
    the run's device (CUDA jobs then run in the driver process, one after another: a forked worker cannot
    use CUDA)."""
    if executor == "ray":
        return "cuda" if gpus_per_job > 0 else "cpu"
    return resolve_device(run_device).type


def shadow_rng(prepared: Prepared, fold: int) -> np.random.Generator:
    """The generator of a fold's time-shuffled shadows (the same in training and in explanation)."""
    return np.random.default_rng(prepared.cfg.seed + 104729 + fold)


def unit_windows(
    prepared: Prepared, fd: FoldData, drop_group: str | None = None, shadows: bool = False
) -> tuple[Windows, Windows, Windows]:
    """A unit's (train, val, test) windows: the fold's, without ``drop_group``'s columns, or with a
    time-shuffled shadow of every group appended (deterministic: :func:`shadow_rng`)."""
    if shadows:
        rng = shadow_rng(prepared, fd.fold.number)
        gidx = group_indices(prepared.ws.columns, prepared.dataset.groups)
        return tuple(with_shadows(X, gidx, rng) for X in (fd.X_train, fd.X_val, fd.X_test))  # type: ignore[return-value]
    if drop_group:
        keep = np.setdiff1d(
            np.arange(len(prepared.ws.columns)), group_indices(prepared.ws.columns, prepared.dataset.groups)[drop_group]
        )
        return fd.X_train[:, :, keep], fd.X_val[:, :, keep], fd.X_test[:, :, keep]
    return fd.X_train, fd.X_val, fd.X_test


def fit_unit(
    prepared: Prepared,
    fold: int,
    seed: int,
    drop_group: str | None = None,
    shadows: bool = False,
    device: str = "cpu",
    progress: bool = False,
    desc: str = "",
    threads: int | None = None,
) -> Unit:
    """Train one network on ``fold`` with ``seed`` (initial weights and batch order), early-stopped on the
    fold's validation days, and predict its test days ``(n_test, H)`` in model units.

    Threads: ``threads`` for the whole unit when given (a job); else ``training_threads(--threads)`` while
    training (a small network gains nothing from more) and the process's threads for the prediction."""
    with torch_threads(threads) if threads else nullcontext():
        return _fit_unit(prepared, fold, seed, drop_group, shadows, device, progress, desc, threads)


def _fit_unit(prepared, fold, seed, drop_group, shadows, device, progress, desc, threads) -> Unit:
    t0 = time.perf_counter()
    fd = prepared.fold(fold)
    X_train, X_val, X_test = unit_windows(prepared, fd, drop_group, shadows)
    seed_everything(seed)  # the initial weights depend on the seed too
    model = build(prepared.cfg.model, prepared.model_config(X_train.shape[-1]), prepared.cfg.window)
    dev = resolve_device(device)
    with torch_threads(threads or training_threads(prepared.cfg.threads)):
        history = train(model, X_train, fd.y_train, X_val, fd.y_val, prepared.train_config(seed, progress), dev, desc)
    pred = prepared.to_model_units(predict(model, X_test, dev), fd)
    return Unit(fold, seed, drop_group, model.cpu().eval(), history, pred, time.perf_counter() - t0)


@dataclass(frozen=True)
class UnitJob:
    """One :func:`fit_unit` call as a picklable job (the executor sends the ``Prepared`` once per worker)."""

    fold: int
    seed: int
    drop_group: str | None = None
    device: str = "cpu"
    features: str = ""  # the feature set, for messages
    threads: int = 1  # torch threads of the whole job (see fit_units)
    model: str = "lstm"  # the network family, for messages

    def describe(self) -> str:
        drop = f", without group {self.drop_group}" if self.drop_group else ""
        return f"{self.model}, feature set {self.features or '?'}, fold {self.fold}, seed {self.seed}{drop}, on {self.device}"


def run_unit_job(prepared: Prepared, job: UnitJob) -> Unit:
    return fit_unit(prepared, job.fold, job.seed, job.drop_group, device=job.device, threads=job.threads)


def fit_units(
    prepared: Prepared,
    units: list[tuple[int, int, str | None]],
    executor: str = "local",
    n_jobs: int = 1,
    ray_address: str | None = None,
    gpus_per_job: float = 0.0,
    progress=None,
) -> list[Unit]:
    """``[fit_unit(prepared, fold, seed, drop_group) ...]`` through the executor (in order). CUDA jobs of a
    local executor run in this process, one after another.

    Threads: ``training_threads(--threads)`` per job in this process and on Ray; one per job in a local
    pool, whose workers are forked (OpenMP cannot run threads in a process forked after it started them)."""
    device = job_device(prepared.cfg.device, executor, gpus_per_job)
    workers = 1 if device == "cuda" and executor == "local" else n_jobs
    pooled = executor == "local" and workers > 1 and len(units) > 1
    threads = 1 if pooled else training_threads(prepared.cfg.threads)
    jobs = [UnitJob(f, s, g, device, prepared.cfg.features, threads, prepared.cfg.model) for f, s, g in units]
    return run_jobs(
        run_unit_job, jobs, executor, workers, ray_address, num_gpus=gpus_per_job, progress=progress, shared=prepared
    )


def fold_baselines(prepared: Prepared, fd: FoldData) -> FoldBaselines:
    """The baseline registry: every baseline's predictions on the fold's test and validation samples
    (name -> (n, H), model units), fitted on the fold's training samples only.

    Direction: majority class, previous move, logistic regression, LightGBM, ridge on the whole window. Regression:
    persistence, momentum (return and close), LightGBM, ridge on the whole window. Cross-sectional targets add the reversal and momentum ranks.
    ``run`` and ``compare`` both take their baselines, and so their comparator, from here. The comparator is
    chosen on the later half of the validation days (``choice``); LightGBM early-stops on the part before it
    (:func:`~pipeline.splits.windows.split_validation`), so it is never judged on its own early-stopping days."""
    ws, fold, cfg = prepared.ws, fd.fold, prepared.cfg
    stop, choice = split_validation(ws.dates[fold.val], max(cfg.horizons))
    X_val_tail = fd.X_val[:, -cfg.lgbm_lags :]  # (n_val, lags, F): the steps LightGBM reads (--lgbm-lags <= --window)
    X_stop = X_val_tail[stop]
    test: dict[str, np.ndarray] = {}
    val: dict[str, np.ndarray] = {}
    # LightGBM takes the process's large-batch threads (one per job in pools and tests): no oversubscription
    n_threads = torch.get_num_threads()
    if prepared.classification:
        test["majority"] = baselines.majority(ws.y[fold.train], len(fold.test))
        val["majority"] = baselines.majority(ws.y[fold.train], len(fold.val))
        test["previous"], val["previous"] = ws.persist[fold.test], ws.persist[fold.val]
        test["logistic"], val["logistic"] = baselines.logistic(
            fd.X_train, ws.y[fold.train], [fd.X_test, fd.X_val], cfg.seed
        )
        fits = fit_lightgbm(
            fd.X_train,
            ws.y[fold.train],
            X_stop,
            ws.y[fold.val][stop],
            fd.X_test,
            True,
            cfg.lgbm_lags,
            cfg.seed,
            n_jobs=n_threads,
        )
        test["lightgbm"] = np.column_stack([f.pred for f in fits])
        val["lightgbm"] = np.column_stack([f.predict(X_val_tail) for f in fits])
        (test["window_ridge"], val["window_ridge"]), _ = baselines.window_ridge(
            fd.X_train, ws.y[fold.train], ws.dates[fold.train], [fd.X_test, fd.X_val], max(cfg.horizons), True
        )
    else:
        test["persistence"], val["persistence"] = ws.persist[fold.test], ws.persist[fold.val]
        if cfg.target in ("return", "close"):
            for part, idx in ((test, fold.test), (val, fold.val)):
                part["momentum"] = np.column_stack([ws.extra[f"momentum_h{h}"][idx] for h in cfg.horizons])
        fits = fit_lightgbm(
            fd.X_train, fd.y_train, X_stop, fd.y_val[stop], fd.X_test, False, cfg.lgbm_lags, cfg.seed, n_jobs=n_threads
        )
        test["lightgbm"] = np.column_stack([f.pred for f in fits]) * fd.y_std + fd.y_mean
        val["lightgbm"] = np.column_stack([f.predict(X_val_tail) for f in fits]) * fd.y_std + fd.y_mean
        (ridge_test, ridge_val), _ = baselines.window_ridge(
            fd.X_train, fd.y_train, ws.dates[fold.train], [fd.X_test, fd.X_val], max(cfg.horizons), False
        )
        test["window_ridge"], val["window_ridge"] = ridge_test * fd.y_std + fd.y_mean, ridge_val * fd.y_std + fd.y_mean
    if cfg.target in CROSS_SECTIONAL:
        test.update(xs_reference(prepared, fold.test))
        val.update(xs_reference(prepared, fold.val))
    return FoldBaselines(fold.number, frozen_map(test), frozen_map(val), read_only(choice))


def fit(prepared: Prepared, log=say) -> Fitted:
    """Train every (fold, seed) network in this process, on the run's device, with a progress bar each;
    fit every baseline per fold."""
    cfg = prepared.cfg
    torch.set_num_threads(inference_threads(cfg.threads))  # large-batch work of the process (threads policy)
    device = resolve_device(cfg.device).type
    units, base = [], []
    t0 = time.perf_counter()
    for fd in prepared.fold_data:
        log(fd.fold.describe(prepared.ws.dates))
        for seed in prepared.seeds:
            desc = f"fold {fd.fold.number}/{len(prepared.folds)} seed {seed}"
            unit = fit_unit(prepared, fd.fold.number, seed, device=device, progress=cfg.progress, desc=desc)
            stage(
                cfg.progress,
                f"{desc}: trained {_epochs_text(unit.history)} in {unit.seconds:.1f} s (best {unit.history.best_epoch})",
            )
            units.append(unit)
        t_base = time.perf_counter()
        base.append(fold_baselines(prepared, fd))
        stage(
            cfg.progress,
            f"fold {fd.fold.number}/{len(prepared.folds)}: baselines in {time.perf_counter() - t_base:.1f} s",
        )
    return Fitted(tuple(units), tuple(base), tuple(prepared.seeds), device, time.perf_counter() - t0)


def _epochs_text(history) -> str:
    """``12 epochs``, or with staged fitting ``5 epochs of the linear path + 7 of the whole model``."""
    first = getattr(history, "first_stage_epochs", 0)
    total = len(history.train_loss)
    if first:
        return f"{first} epochs of the linear path + {total - first} of the whole model"
    return f"{total} epochs"
