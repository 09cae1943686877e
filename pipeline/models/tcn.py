"""``tcn``: a temporal convolutional network (Bai, Kolter & Koltun 2018; Qlib's TCN): ``layers`` residual
blocks of two dilated causal convolutions (kernel ``kernel_size``, dilation 1, 2, 4, ...; left padding only,
so step t sees steps <= t), ReLU and dropout, a 1x1 convolution on the skip path where the width changes;
pooled like the LSTM (last step or mean) -> norm -> dropout -> one head per horizon. By default (``--layers``
unset) the levels are the fewest whose receptive field covers the window (:func:`pipeline.config.schema.tcn_levels`:
4 levels of kernel 3 for the default 60-day window), so every step of the window can move the output."""

from __future__ import annotations

import torch
from torch import nn

from pipeline.config.schema import tcn_receptive_field
from pipeline.models.lstm import ModelConfig


class CausalBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        self.pad = (kernel - 1) * dilation
        self.conv1 = nn.Conv1d(c_in, c_out, kernel, dilation=dilation)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel, dilation=dilation)
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T) -> (N, C_out, T), causal."""
        y = self.drop(torch.relu(self.conv1(nn.functional.pad(x, (self.pad, 0)))))
        y = self.drop(torch.relu(self.conv2(nn.functional.pad(y, (self.pad, 0)))))
        return torch.relu(y + self.skip(x))


class TCNModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.blocks = nn.Sequential(
            *[
                CausalBlock(cfg.n_features if i == 0 else cfg.hidden, cfg.hidden, cfg.kernel_size, 2**i, cfg.dropout)
                for i in range(cfg.layers)
            ]
        )
        self.norm = {"none": nn.Identity(), "layer": nn.LayerNorm(cfg.hidden), "batch": nn.BatchNorm1d(cfg.hidden)}[
            cfg.norm
        ]
        self.drop = nn.Dropout(cfg.dropout)
        self.heads = nn.Linear(cfg.hidden, cfg.n_outputs)

    @property
    def receptive_field(self) -> int:
        """Steps the last output sees: 1 + 2 (k - 1)(2^L - 1)."""
        return tcn_receptive_field(self.cfg.layers, self.cfg.kernel_size)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, F) -> (N, T, hidden), causal."""
        return self.blocks(x.transpose(1, 2)).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.encode(x)
        z = out.mean(dim=1) if self.cfg.pool == "mean" else out[:, -1, :]
        return self.heads(self.drop(self.norm(z)))
