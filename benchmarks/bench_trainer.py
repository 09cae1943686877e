"""Trainer throughput against a bare PyTorch training loop of the same module and shape, per model family.

For every family (``pipeline.models.families``): the same module (built by ``build``, default shape:
window 60, 35 features, hidden 32, 1 layer, 3 outputs, dropout 0.1, batch 128) is trained on the same random
tensors for the same number of epochs twice, in alternating rounds in one process:

* **trainer**: ``pipeline.models.trainer.fit`` — AdamW, warm-up, gradient clipping, ReduceLROnPlateau, the
  per-batch gather; its ``samples_per_s`` counts the training passes only (the validation pass after each
  epoch is excluded, as the bare loop has none);
* **bare**: a plain loop — ``randperm``, slice, forward, ``BCEWithLogitsLoss``, ``zero_grad``, backward, AdamW
  step — and nothing else.

Reported: medians over ``--rounds`` of samples/s, and trainer / bare (target >= 0.9 on CPU). Run it on a
quiet machine.

    python benchmarks/bench_trainer.py [--device cpu|cuda] [--families lstm,gru,...] [--n 4000] [--epochs 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from pipeline.config.schema import FAMILY_NAMES
from pipeline.models.families import build
from pipeline.models.lstm import ModelConfig
from pipeline.models.trainer import TrainConfig, fit, resolve_device


def model_config(family: str, features: int, hidden: int) -> ModelConfig:
    return ModelConfig(features, 3, hidden=hidden, dropout=0.1)


def bare_loop(
    family: str, X: torch.Tensor, y: torch.Tensor, hidden: int, epochs: int, batch: int, device: torch.device
) -> float:
    torch.manual_seed(0)
    model = build(family, model_config(family, X.shape[2], hidden), X.shape[1]).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(X), device=device)
        for s in range(0, len(X), batch):
            b = order[s : s + batch]
            loss = loss_fn(model(X[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return epochs * len(X) / (time.perf_counter() - t0)


def trainer(
    family: str, X: np.ndarray, y: np.ndarray, hidden: int, epochs: int, batch: int, device: torch.device
) -> float:
    torch.manual_seed(0)
    model = build(family, model_config(family, X.shape[2], hidden), X.shape[1])
    cfg = TrainConfig(epochs=epochs, batch_size=batch, patience=epochs + 1, progress=False)
    n_val = len(X) // 5
    return fit(model, X, y, X[:n_val], y[:n_val], cfg, device).samples_per_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--families", default=",".join(FAMILY_NAMES))
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--window", type=int, default=60)
    parser.add_argument("--features", type=int, default=35)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    device = resolve_device(args.device)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.n, args.window, args.features)).astype(np.float32)
    y = (rng.random((args.n, 3)) > 0.5).astype(np.float32)
    Xt, yt = torch.as_tensor(X, device=device), torch.as_tensor(y, device=device)
    print(
        f"device {device}, torch threads {torch.get_num_threads()}; window {args.window}, {args.features} features, "
        f"hidden {args.hidden}, batch {args.batch_size}, {args.n} samples x {args.epochs} epochs; "
        f"medians of {args.rounds} alternating rounds"
    )
    print("| family | parameters | trainer (samples/s) | bare loop (samples/s) | trainer / bare |")
    print("|---|---|---|---|---|")
    for family in args.families.split(","):
        bare_loop(family, Xt, yt, args.hidden, 1, args.batch_size, device)  # warm-up
        bares, ours = [], []
        for _ in range(args.rounds):  # alternate, so both see the same machine state
            bares.append(bare_loop(family, Xt, yt, args.hidden, args.epochs, args.batch_size, device))
            ours.append(trainer(family, X, y, args.hidden, args.epochs, args.batch_size, device))
        bare, ours_ = float(np.median(bares)), float(np.median(ours))
        n_par = sum(
            p.numel() for p in build(family, model_config(family, args.features, args.hidden), args.window).parameters()
        )
        print(f"| {family} | {n_par:,} | {ours_:,.0f} | {bare:,.0f} | {ours_ / bare:.2f} |", flush=True)


if __name__ == "__main__":
    main()
