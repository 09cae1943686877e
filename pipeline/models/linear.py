"""A linear model on the whole window: one linear map of the flattened ``(T, F)`` window per horizon head,
``(N, T, F) -> (N, H)`` (logits for direction, scaled values for regression). Trained by the one trainer
like every network. It is the calibration study's cheap fitted model (its seeds are real refits), and
the simplest network a window model has to beat (cf. DLinear, Zeng et al. 2023)."""
from __future__ import annotations

import torch
from torch import nn

from pipeline.models.lstm import ModelConfig


class LinearModel(nn.Module):
    def __init__(self, cfg: ModelConfig, window: int):
        super().__init__()
        self.cfg = cfg
        self.window = window
        self.drop = nn.Dropout(cfg.dropout)
        self.heads = nn.Linear(window * cfg.n_features, cfg.n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, T, F) -> (N, H)."""
        return self.heads(self.drop(x.reshape(len(x), -1)))
