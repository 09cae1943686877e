"""Trainer throughput against a bare ``nn.LSTM`` training loop of the same shape, in the same process.

Both train the default model shape (window 60, 35 features, hidden 32, 1 layer, 3 outputs, batch 128)
on the same random tensors for the same number of epochs. Target: trainer >= 0.9 x bare loop.

    python benchmarks/bench_trainer.py [--device cpu|cuda] [--n 4000] [--epochs 3]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from pipeline.models.lstm import LSTMModel, ModelConfig
from pipeline.models.trainer import TrainConfig, fit, resolve_device


def bare_loop(X: torch.Tensor, y: torch.Tensor, hidden: int, epochs: int, batch: int, device: torch.device) -> float:
    torch.manual_seed(0)
    lstm = nn.LSTM(X.shape[2], hidden, batch_first=True).to(device)
    head = nn.Linear(hidden, y.shape[1]).to(device)
    opt = torch.optim.AdamW(list(lstm.parameters()) + list(head.parameters()), lr=2e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(X), device=device)
        for s in range(0, len(X), batch):
            b = order[s : s + batch]
            out, _ = lstm(X[b])
            loss = loss_fn(head(out[:, -1]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return epochs * len(X) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--window", type=int, default=60)
    parser.add_argument("--features", type=int, default=35)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    device = resolve_device(args.device)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.n, args.window, args.features)).astype(np.float32)
    y = (rng.random((args.n, 3)) > 0.5).astype(np.float32)
    Xv, yv = X[: args.n // 5], y[: args.n // 5]
    Xt, yt = torch.as_tensor(X, device=device), torch.as_tensor(y, device=device)
    bare_loop(Xt, yt, args.hidden, 1, args.batch_size, device)  # warm-up
    bares, ours = [], []
    for _ in range(args.rounds):  # alternate, so both see the same machine state; report medians
        bares.append(bare_loop(Xt, yt, args.hidden, args.epochs, args.batch_size, device))
        model = LSTMModel(ModelConfig(args.features, 3, hidden=args.hidden, dropout=0.1))
        cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, patience=args.epochs + 1, progress=False)
        ours.append(fit(model, X, y, Xv, yv, cfg, device).samples_per_s)
    bare, trainer = float(np.median(bares)), float(np.median(ours))
    print(f"device {device}: trainer {trainer:,.0f} samples/s, bare nn.LSTM loop {bare:,.0f} samples/s "
          f"(medians of {args.rounds} alternating rounds), ratio {trainer / bare:.2f} (target >= 0.9)")


if __name__ == "__main__":
    main()
