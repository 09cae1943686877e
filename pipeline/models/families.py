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

With ``skip="linear"`` every family but the linear ones is built as :class:`LinearSkip`: the network plus a
DLinear path over the same window, summed into one output (LSTNet's autoregressive "highway", Lai et al. 2018).

Every family takes ``(N, T, F)`` and returns ``(N, H)``; the settings each one uses are
:data:`pipeline.config.schema.MODEL_FAMILIES`; every stage downstream is family-agnostic.
"""

from __future__ import annotations

import torch
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


class LinearSkip(nn.Module):
    """A network plus a linear path over its window: ``net(x) + linear(x)``, ``(N, T, F) -> (N, H)``. The linear path
    (DLinear: one map over time per trend and remainder, shared by the features, then one head per horizon; a few
    hundred weights) learns a lagged linear signal from as few samples as a linear model does, which recurrent
    networks alone do not (docs/learnability.md); the network learns what is left. Trained together by the one
    trainer; every stage downstream sees one model."""

    def __init__(self, net: nn.Module, linear: nn.Module):
        super().__init__()
        self.net, self.linear = net, linear
        self.cfg = getattr(net, "cfg", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) + self.linear(x)

    def first_stage(self) -> nn.Module:
        """The first stage of ``--skip-fit staged`` (:func:`pipeline.models.trainer.fit`): the linear path restarted
        from equal weights over the window and the network's output heads set to zero (the model's output is the
        linear path's alone until the second stage trains the network); returns the linear path."""
        self.linear.reset_equal()
        with torch.no_grad():
            for m in self.net.heads.modules():
                if isinstance(m, nn.Linear):
                    m.weight.zero_()
                    if m.bias is not None:
                        m.bias.zero_()
        return self.linear

    @property
    def resumable(self) -> bool:
        """Whether :meth:`prefix` / :meth:`resume` apply: when they apply to the network."""
        return bool(getattr(self.net, "resumable", False))

    def prefix(self, x_head: torch.Tensor):
        """The network's state after the first steps, and those steps (the linear path reads them again)."""
        return self.net.prefix(x_head), x_head

    def repeat_prefix(self, prefix, repeats: int):
        state, head = prefix
        return self.net.repeat_prefix(state, repeats), head.repeat(repeats, 1, 1)

    def resume(self, x_tail: torch.Tensor, prefix) -> torch.Tensor:
        """``forward`` of the windows whose first steps gave ``prefix``: the network resumed, the linear path whole."""
        state, head = prefix
        return self.net.resume(x_tail, state) + self.linear(torch.cat([head, x_tail], dim=1))

    def __getattr__(self, name: str):
        """The network's own attributes (``encode``, ``receptive_field``, ...) through the wrapper."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("net"), name)


def build(name: str, cfg: ModelConfig, window: int) -> nn.Module:
    """A fresh network of family ``name`` for windows of ``window`` steps (with ``cfg.skip == "linear"``, beside a
    linear path: :class:`LinearSkip`)."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown model family {name!r}; choose from {', '.join(FAMILIES)}")
    net = _BUILDERS[name](cfg, window)
    if getattr(cfg, "skip", "none") == "linear" and name not in ("linear", "window_linear"):
        return LinearSkip(net, DLinearModel(cfg, window))
    return net
