"""Jobs verify their inputs and fail by name: the data fingerprint, the job's identity on errors, and the
retrain ablation's single job path and device."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import yahoo_layout
from pipeline.config.schema import RunConfig
from pipeline.errors import InputError, JobError
from pipeline.stages.executor import run_jobs
from pipeline.stages.prepare import fold_data, prepare
from pipeline.stages import jobs as fpjobs


def _cfg(path, **kw) -> RunConfig:
    base = dict(data=str(path), features="ohlcv", window=5, hidden=4, epochs=1, folds=1, horizons=[1], bootstrap=0,
                progress=False, lgbm_lags=1)
    return RunConfig(**{**base, **kw}).validate()


@pytest.fixture
def csv(tmp_path, sp500):
    path = tmp_path / "spx.csv"
    yahoo_layout(sp500.loc["2014":"2015"]).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("n_jobs", [1, 2], ids=["in-process", "local-pool"])
def test_a_worker_whose_data_differ_refuses_to_train(csv, sp500, n_jobs):
    """The driver's fingerprint travels with every job; a worker that rebuilds the data (as a Ray node
    does) from a file that changed meanwhile stops with one line naming the job."""
    exp = prepare(_cfg(csv))
    key, fingerprint = fpjobs.config_key(exp.cfg), exp.dataset.fingerprint()
    fpjobs._CACHE.pop(key, None)  # a fresh worker: it has to rebuild the data itself
    changed = sp500.loc["2014":"2015"].copy()
    changed.loc[changed.index[100], "close"] *= 1.01  # one revised close
    yahoo_layout(changed).to_csv(csv, index=False)
    units = [fpjobs.UnitJob(key, exp.folds[0].number, seed, data_hash=fingerprint) for seed in (0, 1)]
    with pytest.raises(InputError, match=r"job \(feature set ohlcv, fold 1, seed 0, on cpu\) failed: the data on this "
                                         r"worker differ from the driver's"):
        run_jobs(fpjobs.train_unit, units, "local", n_jobs)
    fpjobs._CACHE.pop(key, None)


def test_matching_fingerprint_trains(csv):
    exp = prepare(_cfg(csv))
    key = fpjobs.register_prepared(exp)
    [result] = run_jobs(fpjobs.train_unit, [fpjobs.UnitJob(key, 1, 0, data_hash=exp.dataset.fingerprint())])
    assert result.pred.shape == (len(exp.folds[0].test), 1) and np.isfinite(result.pred).all()


class Job:
    def __init__(self, n):
        self.n = n

    def describe(self):
        return f"set demo, fold {self.n}, seed 0"


def _fails_on_two(job):
    if job.n == 2:
        raise ValueError("the matrix is singular\nsecond line of detail")
    return job.n


@pytest.mark.parametrize("n_jobs", [1, 2], ids=["in-process", "local-pool"])
def test_a_failing_job_is_named_in_one_line(n_jobs):
    with pytest.raises(JobError) as info:
        run_jobs(_fails_on_two, [Job(1), Job(2), Job(3)], "local", n_jobs)
    message = str(info.value)
    assert message.startswith("job (set demo, fold 2, seed 0) failed: ValueError: the matrix is singular (at ")
    assert "\n" not in message and "Traceback" not in message


def test_retrain_ablation_trains_full_and_dropped_models_on_one_path_and_device(csv, monkeypatch):
    """With the run on CUDA, every retrain job (full, drop-group and reseeded) asks for CUDA and runs in the
    driver process; nothing uses the run's own models. Simulated: the device is recorded, not used."""
    from pipeline.stages import executor
    from pipeline.stages import explain as explain_stage

    exp = prepare(_cfg(csv, seeds=2))
    exp.fold_data = [fold_data(exp, exp.folds[0])]
    exp.models = {}  # the full model must come from the job path, not from the run
    exp.cfg.device = "cuda"
    monkeypatch.setattr(fpjobs, "resolve_device", lambda name: torch.device("cuda" if name == "cuda" else "cpu"))
    seen = []

    def record(fn, jobs, executor_name="local", n_jobs=1, *a, progress=None, **k):
        seen.append((list(jobs), n_jobs))
        n = len(exp.folds[0].test)
        out = []
        for job in jobs:
            if progress:
                progress()
            out.append(fpjobs.UnitResult(job, exp.folds[0].test, np.full((n, 1), 0.5), 0.0))
        return out

    monkeypatch.setattr(executor, "run_jobs", record)
    ecfg = explain_stage.ExplainConfig(ablation="retrain", explain=False, jobs=2)
    res = explain_stage.run_explain(exp, ecfg, log=lambda *a: None)
    [(jobs, workers)] = seen
    assert {j.device for j in jobs} == {"cuda"} and workers == 1
    assert {j.data_hash for j in jobs} == {exp.dataset.fingerprint()}
    full = {(j.fold, j.seed) for j in jobs if j.drop_group is None}
    assert {(1, 0), (1, 1)} <= full and {(1, 1000), (1, 1001)} <= full  # full and reseeded, both through jobs
    assert {j.drop_group for j in jobs} == set(exp.dataset.groups) | {None}
    assert any(i.method == "ablation_retrain" for i in res.items)


def test_job_device_follows_the_run_locally_and_the_gpu_request_on_ray():
    assert fpjobs.job_device("cpu", "local", 0.0) == "cpu"
    assert fpjobs.job_device("auto", "local", 0.0) == ("cuda" if torch.cuda.is_available() else "cpu")
    assert fpjobs.job_device("auto", "ray", 0.5) == "cuda" and fpjobs.job_device("cuda", "ray", 0.0) == "cpu"
