"""Thread policy: how many threads torch (and LightGBM) use, so that featureproof stays fast on a busy machine.

* Idle OpenMP threads sleep after a short spin (``GOMP_SPINCOUNT``, ``KMP_BLOCKTIME``, set before torch
  loads its OpenMP runtime unless the user set them or ``OMP_WAIT_POLICY``): spinning threads otherwise
  fight any other process on the cores and the run slows down many times over.
* Training a small LSTM (batches of a hundred windows) gains nothing from a second thread: it runs with
  one torch thread per model, as the executor's jobs always did.
* Large-batch inference (evaluation, permutations, gradient attributions) and LightGBM use every core the
  process may run on.

``--threads N`` sets both to ``N``.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator


# libgomp's spin before a waiting thread sleeps: its default (300,000) makes torch's threads burn the cores
# another process needs (the run slowed 2x beside one CPU hog, 8x beside another run); 0 (PASSIVE) costs
# 10-15% on a quiet machine. 2,000 kept the quiet speed and 1.2x under load (benchmarks/bench_contention.py).
SPIN_COUNT = 2000


def configure_openmp() -> None:
    """Idle OpenMP threads sleep after a short spin instead of spinning on (call before ``import torch``).
    A user's ``OMP_WAIT_POLICY``, ``GOMP_SPINCOUNT`` or ``KMP_BLOCKTIME`` wins."""
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", str(SPIN_COUNT))   # libgomp (pip's torch, LightGBM)
        os.environ.setdefault("KMP_BLOCKTIME", "1")                 # Intel OpenMP (conda builds), in ms


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a container's share)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def training_threads(threads: int = 0) -> int:
    """Torch threads for training one model: ``threads`` if set, else 1."""
    return threads if threads > 0 else 1


def inference_threads(threads: int = 0) -> int:
    """Torch and LightGBM threads for large-batch work: ``threads`` if set, else every available core."""
    return threads if threads > 0 else available_cores()


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` torch threads, then restore the previous number."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)
