"""Idle OpenMP threads sleep after a short spin (``GOMP_SPINCOUNT``, ``KMP_BLOCKTIME``), set before torch
loads its OpenMP runtime unless the user set them or ``OMP_WAIT_POLICY``: spinning threads otherwise fight
any other process on the cores and the run slows down many times over (see :mod:`pipeline.models.device`
for the thread counts)."""

from __future__ import annotations

import os

# libgomp's spin before a waiting thread sleeps: its default (300,000) makes torch's threads burn the cores
# another process needs (the run slowed 2x beside one CPU hog, 8x beside another run); 0 (PASSIVE) costs
# 10-15% on a quiet machine. 2,000 kept the quiet speed and 1.2x under load (benchmarks/bench_contention.py).
SPIN_COUNT = 2000


def configure_openmp() -> None:
    """Idle OpenMP threads sleep after a short spin instead of spinning on (call before ``import torch``).
    A user's ``OMP_WAIT_POLICY``, ``GOMP_SPINCOUNT`` or ``KMP_BLOCKTIME`` wins."""
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", str(SPIN_COUNT))  # libgomp (pip's torch, LightGBM)
        os.environ.setdefault("KMP_BLOCKTIME", "1")  # Intel OpenMP (conda builds), in ms
