"""One executor for independent jobs (feature set x fold x seed, ablation retrains): a local process
pool (``--jobs N``) or Ray (``--executor ray [--ray-address ADDR]``). Results come back in job order.

Jobs must be deterministic functions of their arguments: every job runs torch with one thread, so the
same seeds give identical numbers in-process, in a local pool and on Ray workers.
"""
from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import torch

from pipeline.errors import InputError


@contextmanager
def single_thread() -> Iterator[None]:
    """Run a job with one torch thread (the job's numbers then do not depend on where it runs)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _call(fn_job: tuple[Callable[[Any], Any], Any]) -> Any:
    fn, job = fn_job
    with single_thread():
        return fn(job)


def run_jobs(
    fn: Callable[[Any], Any], jobs: Sequence[Any], executor: str = "local", n_jobs: int = 1,
    ray_address: str | None = None, num_gpus: float = 0.0, progress: Callable[[], None] | None = None,
) -> list[Any]:
    """``[fn(job) for job in jobs]``, run locally (``n_jobs`` processes) or as Ray tasks, in order."""
    if executor == "ray":
        return _run_ray(fn, jobs, ray_address, num_gpus, progress)
    if executor != "local":
        raise InputError(f"unknown --executor {executor!r}; use local or ray")
    if num_gpus:
        raise InputError("--gpus-per-job needs --executor ray (local workers are forked and train on CPU)")
    if n_jobs <= 1 or len(jobs) <= 1:
        out = []
        for job in jobs:
            out.append(_call((fn, job)))
            if progress:
                progress()
        return out
    # fork: workers inherit the loaded modules and data; each job sets torch to one thread.
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=mp.get_context("fork")) as pool:
        out = []
        for result in pool.map(_call, [(fn, job) for job in jobs]):
            out.append(result)
            if progress:
                progress()
        return out


def _run_ray(fn, jobs, address, num_gpus, progress) -> list[Any]:
    try:
        import ray
    except ImportError:
        raise InputError("--executor ray needs Ray: pip install 'featureproof[ray]' (or pip install ray)") from None
    started = False
    if not ray.is_initialized():
        try:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(log_to_driver=False, include_dashboard=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise InputError(f"cannot connect to Ray at {address or 'a new local instance'} ({exc}); start one with "
                             "'ray start --head' and pass --ray-address HOST:6379") from None
        started = True
    try:
        task = ray.remote(num_cpus=1, num_gpus=num_gpus)(_call)
        refs = [task.remote((fn, job)) for job in jobs]
        out = [None] * len(refs)
        pending = {ref: i for i, ref in enumerate(refs)}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                out[pending.pop(ref)] = ray.get(ref)
                if progress:
                    progress()
        return out
    finally:
        if started:
            ray.shutdown()
