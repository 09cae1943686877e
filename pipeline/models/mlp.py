"""``mlp``: a multilayer perceptron on the flattened window (Qlib's MLP on Alpha158-style inputs):
``layers`` x (Linear(hidden) -> norm -> ReLU -> dropout), then one head per horizon."""

from __future__ import annotations

import torch
from torch import nn

from pipeline.models.lstm import ModelConfig


class MLPModel(nn.Module):
    def __init__(self, cfg: ModelConfig, window: int):
        super().__init__()
        self.cfg = cfg
        layers, width = [], window * cfg.n_features
        norm = {"none": lambda n: nn.Identity(), "layer": nn.LayerNorm, "batch": nn.BatchNorm1d}[cfg.norm]
        for _ in range(cfg.layers):
            layers += [nn.Linear(width, cfg.hidden), norm(cfg.hidden), nn.ReLU(), nn.Dropout(cfg.dropout)]
            width = cfg.hidden
        self.body = nn.Sequential(*layers)
        self.heads = nn.Linear(width, cfg.n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.heads(self.body(x.reshape(len(x), -1)))
