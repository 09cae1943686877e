"""The network families and the one way to build one: ``build(name, model_config, window)``.

| family | module | reference |
|---|---|---|
| ``lstm`` (default) | :class:`pipeline.models.lstm.LSTMModel` | Hochreiter & Schmidhuber 1997 |
| ``gru`` | :class:`pipeline.models.recurrent.GRUModel` | Cho et al. 2014 |
| ``alstm`` | :class:`pipeline.models.recurrent.ALSTMModel` | Qlib's ALSTM (Qin et al. 2017) |
| ``transformer`` | :class:`pipeline.models.transformer.TransformerModel` | Vaswani et al. 2017; Qlib's Transformer |
| ``tcn`` | :class:`pipeline.models.tcn.TCNModel` | Bai, Kolter & Koltun 2018 |
| ``mlp`` | :class:`pipeline.models.mlp.MLPModel` | Qlib's MLP |
| ``linear`` | :class:`pipeline.models.linear.DLinearModel` | DLinear, Zeng et al. 2023 |
| ``window_linear`` | :class:`pipeline.models.linear.LinearModel` | the calibration study's cheap model |

Every family takes ``(N, T, F)`` and returns ``(N, H)``; the settings each one uses are
:data:`pipeline.config.schema.MODEL_FAMILIES`; every stage downstream is family-agnostic.
"""
from __future__ import annotations

from torch import nn

from pipeline.config.schema import MODEL_FAMILIES
from pipeline.models.linear import DLinearModel, LinearModel
from pipeline.models.lstm import LSTMModel, ModelConfig
from pipeline.models.mlp import MLPModel
from pipeline.models.recurrent import ALSTMModel, GRUModel
from pipeline.models.tcn import TCNModel
from pipeline.models.transformer import TransformerModel

FAMILIES = tuple(MODEL_FAMILIES)
_BUILDERS = {
    "lstm": lambda cfg, window: LSTMModel(cfg),
    "gru": lambda cfg, window: GRUModel(cfg),
    "alstm": lambda cfg, window: ALSTMModel(cfg),
    "transformer": TransformerModel,
    "tcn": lambda cfg, window: TCNModel(cfg),
    "mlp": MLPModel,
    "linear": DLinearModel,
    "window_linear": LinearModel,
}
assert set(_BUILDERS) == set(MODEL_FAMILIES)


def build(name: str, cfg: ModelConfig, window: int) -> nn.Module:
    """A fresh network of family ``name`` for windows of ``window`` steps."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown model family {name!r}; choose from {', '.join(FAMILIES)}")
    return _BUILDERS[name](cfg, window)
