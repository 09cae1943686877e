"""Independent training jobs: one (config, fold, seed[, dropped group]) LSTM, as a picklable function.

The executor (:mod:`pipeline.stages.executor`) runs :func:`train_unit` in-process, in a local pool or on Ray.
A worker prepares each configuration's data once and caches it; a parent that already prepared an
experiment registers it, so forked local workers reuse it without recomputing features. Every job
carries the driver's data fingerprint and refuses to train on data that differ from it (a Ray node
whose yfinance download or macro series differ, a changed CSV).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np

from explain.common import group_indices
from pipeline.config.schema import RunConfig
from pipeline.errors import InputError
from pipeline.stages.prepare import Experiment, FoldData, fold_data, prepare, to_model_units
from pipeline.models.lstm import LSTMModel
from pipeline.models.trainer import fit, predict, resolve_device, seed_everything

_CACHE: dict[str, Experiment] = {}


def config_key(cfg: RunConfig) -> str:
    values = cfg.to_dict()
    values.pop("progress", None)
    values.pop("out", None)
    values.pop("overwrite", None)
    return json.dumps(values, sort_keys=True, default=str)


def register_prepared(exp: Experiment) -> str:
    key = config_key(exp.cfg)
    _CACHE[key] = exp
    return key


def experiment_for(key: str) -> Experiment:
    if key not in _CACHE:
        cfg = RunConfig.from_dict(json.loads(key))
        cfg.progress = False
        _CACHE[key] = prepare(cfg)
    return _CACHE[key]


def fold_data_for(exp: Experiment, fold_no: int) -> FoldData:
    for fd in exp.fold_data:
        if fd.fold.number == fold_no:
            return fd
    fd = fold_data(exp, next(f for f in exp.folds if f.number == fold_no))
    exp.fold_data.append(fd)
    return fd


def job_device(run_device: str, executor: str, gpus_per_job: float) -> str:
    """The device jobs train on: Ray tasks train on CUDA exactly when they requested GPUs; local jobs on
    the run's device (CUDA jobs then run in the driver process, one after another: a forked worker cannot
    use CUDA)."""
    if executor == "ray":
        return "cuda" if gpus_per_job > 0 else "cpu"
    return resolve_device(run_device).type


@dataclass(frozen=True)
class UnitJob:
    config: str                 # config_key() of the run configuration
    fold: int
    seed: int
    drop_group: str | None = None
    device: str = "cpu"         # see job_device()
    data_hash: str = ""         # the driver's Dataset.fingerprint(); checked by the worker

    def describe(self) -> str:
        """The job's identity in words, for error messages."""
        try:
            features = json.loads(self.config).get("features", "?")
        except ValueError:
            features = "?"
        drop = f", without group {self.drop_group}" if self.drop_group else ""
        return f"feature set {features}, fold {self.fold}, seed {self.seed}{drop}, on {self.device}"


@dataclass
class UnitResult:
    job: UnitJob
    test_idx: np.ndarray        # (n,) sample indices of the fold's test days
    pred: np.ndarray            # (n, H) model units
    seconds: float


def train_unit(job: UnitJob) -> UnitResult:
    """Train one LSTM on ``job``'s fold (without ``drop_group`` if given) and predict its test days, on
    ``job.device`` (CPU unless the job was given a GPU)."""
    t0 = time.perf_counter()
    exp = experiment_for(job.config)
    if job.data_hash and exp.dataset.fingerprint() != job.data_hash:
        raise InputError(f"the data on this worker differ from the driver's (fingerprint {exp.dataset.fingerprint()} "
                         f"!= {job.data_hash}); give every node the same --data file or yfinance cache (--cache-dir, "
                         "--offline)")
    fd = fold_data_for(exp, job.fold)
    keep = np.arange(len(exp.ws.columns))
    if job.drop_group:
        keep = np.setdiff1d(keep, group_indices(exp.ws.columns, exp.dataset.groups)[job.drop_group])
    mc = exp.model_config()
    mc.n_features = len(keep)
    tcfg = exp.train_config(job.seed)
    tcfg.progress = False
    seed_everything(job.seed)
    model = LSTMModel(mc)
    device = resolve_device(job.device)
    fit(model, fd.X_train[:, :, keep], fd.y_train, fd.X_val[:, :, keep], fd.y_val, tcfg, device)
    pred = to_model_units(exp, predict(model, fd.X_test[:, :, keep], device), fd)
    return UnitResult(job, fd.fold.test, pred, time.perf_counter() - t0)
