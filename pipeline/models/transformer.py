"""``transformer``: an encoder over the window (Vaswani et al. 2017), as Qlib's Transformer: a linear
input layer to ``hidden`` (d_model), sinusoidal positional encoding, ``layers`` encoder layers with
``heads`` attention heads, a causal mask (no step attends to a later one; ``--attention full`` lifts it),
then pooled like the LSTM (last step or mean) -> norm -> dropout -> one head per horizon."""

from __future__ import annotations

import math

import torch
from torch import nn

from pipeline.models.lstm import ModelConfig


def positional_encoding(steps: int, width: int) -> torch.Tensor:
    """(steps, width) sinusoidal encoding (sin on even, cos on odd columns)."""
    pos = torch.arange(steps, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, width, 2, dtype=torch.float32) * (-math.log(10000.0) / width))
    pe = torch.zeros(steps, width)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div[: width // 2])
    return pe


class TransformerModel(nn.Module):
    def __init__(self, cfg: ModelConfig, window: int):
        super().__init__()
        if cfg.hidden % cfg.heads:
            raise ValueError(f"hidden {cfg.hidden} must be a multiple of heads {cfg.heads}")
        self.cfg = cfg
        self.inp = nn.Linear(cfg.n_features, cfg.hidden)
        self.register_buffer("pe", positional_encoding(window, cfg.hidden), persistent=False)
        layer = nn.TransformerEncoderLayer(
            cfg.hidden, cfg.heads, dim_feedforward=2 * cfg.hidden, dropout=cfg.dropout, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = {"none": nn.Identity(), "layer": nn.LayerNorm(cfg.hidden), "batch": nn.BatchNorm1d(cfg.hidden)}[
            cfg.norm
        ]
        self.drop = nn.Dropout(cfg.dropout)
        self.heads = nn.Linear(cfg.hidden, cfg.n_outputs)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, F) -> (N, T, hidden); with the causal mask, step t depends on steps <= t only."""
        T = x.shape[1]
        pe = self.pe[:T] if T <= len(self.pe) else positional_encoding(T, self.cfg.hidden).to(x.device)
        z = self.inp(x) + pe
        mask = None
        if self.cfg.attention == "causal":
            mask = torch.triu(torch.full((T, T), float("-inf"), device=x.device), diagonal=1)
        return self.encoder(z, mask=mask, is_causal=mask is not None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.encode(x)
        z = out.mean(dim=1) if self.cfg.pool == "mean" else out[:, -1, :]
        return self.heads(self.drop(self.norm(z)))
