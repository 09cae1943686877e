"""Jobs: the driver's data travel with them (once per worker), a failing job is named in one line, and the
retrain ablation trains on the one job path and device."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from conftest import yahoo_layout
from pipeline.config.schema import ExplainConfig, RunConfig
from pipeline.errors import JobError
from pipeline.stages import fit as fit_stage
from pipeline.stages.executor import run_jobs
from pipeline.stages.prepare import prepare
from pipeline.stages.results import Fitted


def _cfg(path, **kw) -> RunConfig:
    base = dict(
        data=str(path),
        features="ohlcv",
        window=5,
        hidden=4,
        epochs=1,
        folds=1,
        horizons=[1],
        bootstrap=0,
        progress=False,
        lgbm_lags=1,
    )
    return RunConfig(**{**base, **kw}).validate()


@pytest.fixture
def csv(tmp_path, sp500):
    path = tmp_path / "spx.csv"
    yahoo_layout(sp500.loc["2014":"2015"]).to_csv(path, index=False)
    return path


def test_workers_train_on_the_drivers_data_even_when_the_file_changed(csv, sp500):
    """The prepared data travel with the jobs (a forked worker inherits them, a Ray worker reads them from
    the object store): a file that changes after ``prepare`` cannot make a worker train on other data, and
    a local pool gives the numbers of one process."""
    exp = prepare(_cfg(csv, seeds=2))
    changed = sp500.loc["2014":"2015"].copy()
    changed.loc[changed.index[100], "close"] *= 1.5
    yahoo_layout(changed).to_csv(csv, index=False)
    units = [(exp.folds[0].number, seed, None) for seed in (0, 1)]
    one = fit_stage.fit_units(exp, units, "local", 1)
    two = fit_stage.fit_units(exp, units, "local", 2)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a.test_pred, b.test_pred)
        assert a.test_pred.shape == (len(exp.folds[0].test), 1) and np.isfinite(a.test_pred).all()


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
    from pipeline.stages import explain as explain_stage

    exp = prepare(_cfg(csv, seeds=2))
    exp = dataclasses.replace(exp, cfg=dataclasses.replace(exp.cfg, device="cuda"))
    fitted = Fitted((), (), (0, 1), "cpu", 0.0)  # the full model must come from the job path, not from the run
    monkeypatch.setattr(fit_stage, "resolve_device", lambda name: torch.device("cuda" if name == "cuda" else "cpu"))
    seen = []

    def record(fn, jobs, executor_name="local", n_jobs=1, *a, progress=None, shared=None, **k):
        seen.append((list(jobs), n_jobs, shared))
        n = len(exp.folds[0].test)
        out = []
        for job in jobs:
            if progress:
                progress()
            out.append(fit_stage.Unit(job.fold, job.seed, job.drop_group, None, None, np.full((n, 1), 0.5), 0.0))
        return out

    monkeypatch.setattr(fit_stage, "run_jobs", record)
    ecfg = ExplainConfig(ablation="retrain", explain=False, jobs=2)
    res = explain_stage.explain(exp, fitted, None, ecfg, log=lambda *a: None, skill={1: False})
    [(jobs, workers, shared)] = seen
    assert {j.device for j in jobs} == {"cuda"} and workers == 1 and shared is exp
    full = {(j.fold, j.seed) for j in jobs if j.drop_group is None}
    assert {(1, 0), (1, 1)} <= full and {(1, 1000), (1, 1001)} <= full  # full and reseeded, both through jobs
    assert {j.drop_group for j in jobs} == set(exp.dataset.groups) | {None}
    assert any(i.method == "ablation_retrain" for i in res.items)


def test_job_device_follows_the_run_locally_and_the_gpu_request_on_ray():
    assert fit_stage.job_device("cpu", "local", 0.0) == "cpu"
    assert fit_stage.job_device("auto", "local", 0.0) == ("cuda" if torch.cuda.is_available() else "cpu")
    assert fit_stage.job_device("auto", "ray", 0.5) == "cuda" and fit_stage.job_device("cuda", "ray", 0.0) == "cpu"
