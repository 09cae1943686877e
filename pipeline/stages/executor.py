"""One executor for independent jobs (feature set x fold x seed, ablation retrains): in-process, a local
process pool (``--jobs N``) or Ray (``--executor ray [--ray-address ADDR]``). Results come back in job order.

Jobs must be deterministic functions of their arguments (and of ``shared``, the one large read-only input
they all need, e.g. a :class:`~pipeline.stages.results.Prepared`): the same seeds give identical numbers
in-process, in a local pool and on Ray workers. ``shared`` travels once per worker, never per job: a forked
local worker inherits it (no copy), a Ray worker reads it from the object store (``ray.put`` once). The job
decides its own threads (:func:`pipeline.stages.fit.fit_unit`).

A job that raises is reported by its identity (``job.describe()``: feature set, fold, seed, group) and
its error in one line, never a remote traceback: :class:`~pipeline.errors.InputError` stays an input
error (exit 2), anything else becomes a :class:`~pipeline.errors.JobError` (exit 1). Ray retries a task
whose worker process died (``max_retries``) before it gives up with the same kind of message.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Sequence

from pipeline.errors import InputError, JobError

RAY_MAX_RETRIES = 3  # re-runs of a task whose worker died (node lost, OOM-killed, SIGKILL)


# A forked local worker's copy of the run's ``shared`` input: set once by the pool's initializer, in the
# worker process only (the driver never writes it).
_WORKER_SHARED: list[Any] = []


def _init_worker(shared: Any) -> None:
    """A forked local worker: keep ``shared``; run torch with one thread (OpenMP cannot start threads in a
    process forked after its parent started them: a second thread would hang the worker)."""
    import sys

    if shared is not _NOTHING:
        _WORKER_SHARED[:] = [shared]
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def describe(job: Any) -> str:
    return job.describe() if hasattr(job, "describe") else repr(job)


class _Failed:
    """What a job returns instead of raising: the error in one line, picklable, no traceback object."""

    def __init__(self, exc: Exception):
        self.input_error = isinstance(exc, InputError)
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        at = f" (at {os.path.basename(where.filename)}:{where.lineno})" if where and not self.input_error else ""
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        self.message = (first if self.input_error else f"{type(exc).__name__}: {first}") + at


_NOTHING = object()


def _call(fn_job: tuple[Callable[..., Any], Any], shared: Any = _NOTHING) -> Any:
    fn, job = fn_job
    if shared is _NOTHING and _WORKER_SHARED:
        shared = _WORKER_SHARED[0]
    try:
        return fn(job) if shared is _NOTHING else fn(shared, job)
    except Exception as exc:  # reported with the job's identity by _unwrap, in the driver
        return _Failed(exc)


def _unwrap(result: Any, job: Any) -> Any:
    if isinstance(result, _Failed):
        cls = InputError if result.input_error else JobError
        raise cls(f"job ({describe(job)}) failed: {result.message}")
    return result


def run_jobs(
    fn: Callable[[Any], Any],
    jobs: Sequence[Any],
    executor: str = "local",
    n_jobs: int = 1,
    ray_address: str | None = None,
    num_gpus: float = 0.0,
    progress: Callable[[], None] | None = None,
    shared: Any = _NOTHING,
) -> list[Any]:
    """``[fn(job) for job in jobs]`` (``[fn(shared, job) ...]`` when ``shared`` is given), run locally
    (``n_jobs`` processes; in-process for 1 job or ``n_jobs`` 1) or as Ray tasks, in order."""
    if executor == "ray":
        return _run_ray(fn, jobs, ray_address, num_gpus, progress, shared)
    if executor != "local":
        raise InputError(f"unknown --executor {executor!r}; use local or ray")
    if num_gpus:
        raise InputError("--gpus-per-job needs --executor ray (local workers are forked and train on CPU)")
    out = []
    if n_jobs <= 1 or len(jobs) <= 1:
        for job in jobs:
            out.append(_unwrap(_call((fn, job), shared), job))
            if progress:
                progress()
        return out
    # fork: workers inherit the loaded modules and ``shared`` (the initializer's arguments are not pickled)
    pool = ProcessPoolExecutor(
        max_workers=n_jobs, mp_context=mp.get_context("fork"), initializer=_init_worker, initargs=(shared,)
    )
    try:
        results = pool.map(_call, [(fn, job) for job in jobs])
        for job in jobs:
            try:
                result = next(results)
            except BrokenProcessPool:
                raise JobError(
                    f"job ({describe(job)}) failed: a local worker process died (killed, or out of "
                    "memory); rerun with fewer --jobs"
                ) from None
            out.append(_unwrap(result, job))
            if progress:
                progress()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # a failed job or Ctrl-C: do not wait for the rest
        raise
    pool.shutdown()
    return out


def _run_ray(fn, jobs, address, num_gpus, progress, shared=_NOTHING) -> list[Any]:
    try:
        import ray
        from ray.exceptions import RayError
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
            raise InputError(
                f"cannot connect to Ray at {address or 'a new local instance'} ({exc}); start one with "
                "'ray start --head' and pass --ray-address HOST:6379"
            ) from None
        started = True
    try:
        task = ray.remote(num_cpus=1, num_gpus=num_gpus, max_retries=RAY_MAX_RETRIES)(_call)
        if shared is _NOTHING:
            refs = [task.remote((fn, job)) for job in jobs]
        else:
            data = ray.put(shared)  # once, into the object store; each worker reads it there
            refs = [task.remote((fn, job), data) for job in jobs]
        out = [None] * len(refs)
        pending = {ref: i for i, ref in enumerate(refs)}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                i = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except RayError as exc:
                    for other in pending:
                        ray.cancel(other, force=True)
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                    raise JobError(
                        f"job ({describe(jobs[i])}) failed on Ray after {RAY_MAX_RETRIES} retries: "
                        f"{type(exc).__name__}: {first}"
                    ) from None
                out[i] = _unwrap(result, jobs[i])
                if progress:
                    progress()
        return out
    finally:
        if started:
            ray.shutdown()
