"""Recurrent families beside the LSTM: ``gru`` (the LSTM's layout with ``nn.GRU``: Cho et al. 2014) and
``alstm`` (an LSTM whose steps are pooled by temporal attention, as Qlib's ALSTM: Qin et al. 2017; Feng et
al. 2019). Input ``(N, T, F)``, output ``(N, H)``, one head per horizon, like every family."""

from __future__ import annotations

import torch
from torch import nn

from pipeline.models.lstm import LSTMModel, ModelConfig


class GRUModel(LSTMModel):
    """The LSTM model with GRU layers: same pooling, norm, dropout and heads; resumable like the LSTM
    (its state is the hidden state alone)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        del self.lstm
        self.gru = nn.GRU(
            input_size=cfg.n_features,
            hidden_size=cfg.hidden,
            num_layers=cfg.layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.layers > 1 else 0.0,
            bidirectional=cfg.bidirectional,
        )

    @property
    def rnn(self) -> nn.Module:
        return self.gru


class ALSTMModel(nn.Module):
    """Qlib's ALSTM: a linear + tanh input layer, LSTM layers, and an attention net (Linear -> tanh -> Linear)
    that weighs every step; the head reads the last step and the attention-weighted sum together."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.norm not in ("none", "layer", "batch"):
            raise ValueError(f"norm must be none, layer or batch, got {cfg.norm!r}")
        self.cfg = cfg
        h = cfg.hidden
        self.inp = nn.Sequential(nn.Linear(cfg.n_features, h), nn.Tanh())
        self.lstm = nn.LSTM(
            h, h, num_layers=cfg.layers, batch_first=True, dropout=cfg.dropout if cfg.layers > 1 else 0.0
        )
        self.att = nn.Sequential(
            nn.Linear(h, max(h // 2, 1)), nn.Dropout(cfg.dropout), nn.Tanh(), nn.Linear(max(h // 2, 1), 1, bias=False)
        )
        self.norm = {"none": nn.Identity(), "layer": nn.LayerNorm(2 * h), "batch": nn.BatchNorm1d(2 * h)}[cfg.norm]
        self.drop = nn.Dropout(cfg.dropout)
        self.heads = nn.Linear(2 * h, cfg.n_outputs)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, F) -> (N, T, hidden): the LSTM's output at every step (causal)."""
        return self.lstm(self.inp(x))[0]

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, F) -> (N, T): the attention weights over the window's steps (sum to 1)."""
        return torch.softmax(self.att(self.encode(x)).squeeze(-1), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.encode(x)  # (N, T, h)
        w = torch.softmax(self.att(out).squeeze(-1), dim=1)  # (N, T)
        z = torch.cat([out[:, -1, :], (out * w.unsqueeze(-1)).sum(dim=1)], dim=1)
        return self.heads(self.drop(self.norm(z)))
