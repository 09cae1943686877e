"""The LSTM: ``nn.LSTM`` -> optional norm -> pooling (last step or mean over time) -> dropout -> one
linear head per horizon. Input ``(N, T, F)`` float32, output ``(N, H)`` (logits for direction, scaled
values for regression). Config is plain data (:class:`ModelConfig`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from pipeline.config.schema import DEFAULTS


@dataclass
class ModelConfig:
    n_features: int
    n_outputs: int
    hidden: int = DEFAULTS.hidden  # the schema's defaults (pipeline.config.schema)
    layers: int = 1  # the built network's layers (the schema resolves --layers 0: model_layers)
    dropout: float = DEFAULTS.dropout
    norm: str = DEFAULTS.norm  # none | layer | batch
    bidirectional: bool = DEFAULTS.bidirectional
    pool: str = DEFAULTS.pool  # last | mean
    heads: int = DEFAULTS.heads  # transformer
    attention: str = DEFAULTS.attention  # transformer: causal | full
    kernel_size: int = DEFAULTS.kernel_size  # tcn
    trend_kernel: int = DEFAULTS.trend_kernel  # linear (DLinear), and the linear skip path
    skip: str = DEFAULTS.skip  # none | linear: a DLinear path beside the network (families.build)

    def to_dict(self) -> dict:
        return asdict(self)


class LSTMModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.pool not in ("last", "mean"):
            raise ValueError(f"pool must be 'last' or 'mean', got {cfg.pool!r}")
        if cfg.norm not in ("none", "layer", "batch"):
            raise ValueError(f"norm must be none, layer or batch, got {cfg.norm!r}")
        self.cfg = cfg
        self.lstm = nn.LSTM(
            input_size=cfg.n_features,
            hidden_size=cfg.hidden,
            num_layers=cfg.layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.layers > 1 else 0.0,
            bidirectional=cfg.bidirectional,
        )
        width = cfg.hidden * (2 if cfg.bidirectional else 1)
        self.norm = {"none": nn.Identity(), "layer": nn.LayerNorm(width), "batch": nn.BatchNorm1d(width)}[cfg.norm]
        self.drop = nn.Dropout(cfg.dropout)
        # One linear head per horizon, stored as the rows of one (H, width) weight: row j is horizon j's head.
        self.heads = nn.Linear(width, cfg.n_outputs)

    @property
    def rnn(self) -> nn.Module:
        """The recurrent layers (``nn.LSTM`` here, ``nn.GRU`` in :class:`pipeline.models.recurrent.GRUModel`)."""
        return self.lstm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, T, F) -> (N, H)."""
        out, _ = self.rnn(x)  # (N, T, width)
        return self._head(out, out.sum(dim=1), x.shape[1])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, F) -> (N, T, width): the representation of every step (causal unless bidirectional)."""
        return self.rnn(x)[0]

    @property
    def resumable(self) -> bool:
        """Whether :meth:`prefix` / :meth:`resume` apply (a one-directional LSTM)."""
        return not self.cfg.bidirectional

    def prefix(self, x_head: torch.Tensor):
        """The state after the first ``t`` steps ``x_head`` ``(N, t, F)``: ``(h, c)``, the sum of the outputs
        (for mean pooling) and ``t``. With :meth:`resume` it computes ``forward`` exactly while running only the
        remaining steps, e.g. when only the last days of the windows change."""
        out, state = self.rnn(x_head)
        return state, out.sum(dim=1), x_head.shape[1]

    @staticmethod
    def repeat_prefix(prefix, repeats: int):
        """A :meth:`prefix` for ``repeats`` stacked copies of its windows."""
        state, total, steps = prefix
        rep = lambda t: t.repeat(1, repeats, 1)  # noqa: E731  (layers, N, hidden)
        state = tuple(rep(t) for t in state) if isinstance(state, tuple) else rep(state)
        return state, total.repeat(repeats, 1), steps

    def resume(self, x_tail: torch.Tensor, prefix) -> torch.Tensor:
        """``forward`` of the windows whose first steps gave ``prefix`` and whose remaining steps are
        ``x_tail`` ``(N, T - t, F)``; ``(N, H)``."""
        state, head_sum, head_steps = prefix
        out, _ = self.rnn(x_tail, state)
        return self._head(out, head_sum + out.sum(dim=1), head_steps + x_tail.shape[1])

    def _head(self, out: torch.Tensor, out_sum: torch.Tensor, steps: int) -> torch.Tensor:
        if self.cfg.pool == "mean":
            z = out_sum / steps
        elif self.cfg.bidirectional:  # forward direction's last step, backward's first
            h = self.cfg.hidden
            z = torch.cat([out[:, -1, :h], out[:, 0, h:]], dim=1)
        else:
            z = out[:, -1, :]
        z = self.drop(self.norm(z))
        return self.heads(z)
