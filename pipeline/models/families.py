"""The network families and the one way to build one: ``build(name, model_config, window)``.

* ``lstm`` (the default): :class:`pipeline.models.lstm.LSTMModel`;
* ``linear``: :class:`pipeline.models.linear.LinearModel`, a linear map of the whole window (the
  calibration study's cheap fitted model).

Every family takes ``(N, T, F)`` and returns ``(N, H)``; every stage downstream is family-agnostic.
"""
from __future__ import annotations

from torch import nn

from pipeline.models.linear import LinearModel
from pipeline.models.lstm import LSTMModel, ModelConfig

FAMILIES = ("lstm", "linear")


def build(name: str, cfg: ModelConfig, window: int) -> nn.Module:
    if name == "lstm":
        return LSTMModel(cfg)
    if name == "linear":
        return LinearModel(cfg, window)
    raise ValueError(f"unknown model family {name!r}; choose from {', '.join(FAMILIES)}")
