"""SHAP on the LSTM with expected gradients (``shap.GradientExplainer``).

``shap.DeepExplainer`` does not support ``nn.LSTM`` (and fails its additivity check), so it is not used.
The model is wrapped to return a 2-D tensor ``(N, H)`` and put in eval mode (dropout off). cuDNN's RNN
backward refuses eval mode, so on CUDA the explanation pass runs with cuDNN disabled.

From attributions phi ``(N, T, F, H)``: per feature and group ``mean_n |sum_t phi|``, per lag
``mean_n |sum_f phi|``, a feature x lag heatmap ``mean_n |phi|``, and a beeswarm of ``sum_t phi``
against the feature's last value.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from explain.common import Importance, mean_interval


class TwoD(nn.Module):
    """Wrap a model so its output is always ``(N, H)``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return out.reshape(len(x), -1)


@dataclass
class LstmShapResult:
    fold: int
    seed: int
    phi: np.ndarray      # (N, T, F, H)
    X: np.ndarray        # (N, T, F) explained windows (scaled)


def expected_gradients(
    model: nn.Module, background: np.ndarray, X: np.ndarray, device: torch.device, nsamples: int = 64, seed: int = 0,
) -> np.ndarray:
    """phi ``(N, T, F, H)`` of ``model`` on windows ``X`` against ``background`` windows."""
    import shap

    wrapped = TwoD(model).to(device).eval()
    bg = torch.as_tensor(background, dtype=torch.float32, device=device)
    xs = torch.as_tensor(X, dtype=torch.float32, device=device)
    cudnn_off = torch.backends.cudnn.flags(enabled=False) if device.type == "cuda" else nullcontext()
    with cudnn_off:
        explainer = shap.GradientExplainer(wrapped, bg, batch_size=nsamples)
        phi = explainer.shap_values(xs, nsamples=nsamples, rseed=seed)
    phi = np.asarray(phi)
    if phi.ndim == 3:  # one output: (N, T, F)
        phi = phi[..., None]
    if phi.shape[0] != len(X):  # older shap: list over outputs -> (H, N, T, F)
        phi = np.moveaxis(phi, 0, -1)
    model.cpu()
    return phi


def summarise(results: list[LstmShapResult], horizons: list[int], group_idx: dict[str, np.ndarray]) -> list[Importance]:
    """Per group and horizon: mean |sum over the group's features and all lags of phi|, across (fold, seed)."""
    per: dict[tuple[int, str], dict[str, float]] = {}
    for r in results:
        summed = r.phi.sum(axis=1)  # (N, F, H)
        for j, h in enumerate(horizons):
            for g, idx in group_idx.items():
                per.setdefault((h, g), {})[f"fold{r.fold}-seed{r.seed}"] = float(np.abs(summed[:, idx, j].sum(axis=1)).mean())
    out = []
    for (h, g), units in per.items():
        m, lo, hi = mean_interval(np.array(list(units.values())))
        out.append(Importance(h, g, "lstm_shap", m, lo, hi, units))
    return out


def per_feature(results: list[LstmShapResult], j: int) -> np.ndarray:
    """(F,) mean |sum_t phi| over all explained windows, horizon j."""
    return np.concatenate([np.abs(r.phi[..., j].sum(axis=1)) for r in results]).mean(axis=0)


def per_lag(results: list[LstmShapResult], j: int) -> np.ndarray:
    """(T,) mean |sum_f phi|; index T-1 is the most recent day."""
    return np.concatenate([np.abs(r.phi[..., j].sum(axis=2)) for r in results]).mean(axis=0)


def heatmap(results: list[LstmShapResult], j: int) -> np.ndarray:
    """(F, T) mean |phi| per feature and lag."""
    return np.concatenate([np.abs(r.phi[..., j]) for r in results]).mean(axis=0).T
