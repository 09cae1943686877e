"""Thread policy: how many threads torch (and LightGBM) use, so that featureproof stays fast on a busy machine.

* Idle OpenMP threads sleep after a short spin (:mod:`pipeline.openmp`, set when ``pipeline`` is imported).
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
