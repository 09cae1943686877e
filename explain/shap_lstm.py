"""Summaries of gradient attributions on the LSTM, and ``shap.GradientExplainer`` as the reference.

The run computes expected gradients with the batched :func:`explain.gradients.expected_gradients` (the
same estimator); :func:`reference_expected_gradients` calls ``shap.GradientExplainer`` itself and is kept
to check it (``shap.DeepExplainer`` does not support ``nn.LSTM``). It loops over samples and outputs and
runs with cuDNN disabled on CUDA.

From attributions phi ``(N, T, F, H)`` (expected or integrated gradients): per feature and group ``mean_n |sum_t phi|``, per lag
``mean_n |sum_f phi|``, a feature x lag heatmap ``mean_n |phi|``, and a beeswarm of ``sum_t phi``
against the feature's last value.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


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
    """One (fold, seed) model's attributions on its explained test windows."""

    fold: int
    seed: int
    phi: np.ndarray  # (N, T, F, H)
    X: np.ndarray  # (N, T, F) explained windows (scaled)
    test_pos: np.ndarray  # (N,) positions of the explained windows in the run's test order


def reference_expected_gradients(
    model: nn.Module,
    background: np.ndarray,
    X: np.ndarray,
    device: torch.device,
    nsamples: int = 64,
    seed: int = 0,
) -> np.ndarray:
    """phi ``(N, T, F, H)`` of ``model`` on windows ``X`` against ``background`` windows, by
    ``shap.GradientExplainer`` (slow; the reference for :func:`explain.gradients.expected_gradients`)."""
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


def group_values(
    r: "LstmShapResult", j: int, group_idx: dict[str, np.ndarray], signed: bool = False
) -> dict[str, np.ndarray]:
    """Per explained window: the sum of phi over the group's features and all lags (its absolute value
    unless ``signed``), ``group -> (N,)``."""
    summed = r.phi[..., j].sum(axis=1)  # (N, F)
    return {
        g: summed[:, idx].sum(axis=1) if signed else np.abs(summed[:, idx].sum(axis=1)) for g, idx in group_idx.items()
    }


def per_feature(results: list[LstmShapResult], j: int) -> np.ndarray:
    """(F,) mean |sum_t phi| over all explained windows, horizon j."""
    return np.concatenate([np.abs(r.phi[..., j].sum(axis=1)) for r in results]).mean(axis=0)


def per_lag(results: list[LstmShapResult], j: int) -> np.ndarray:
    """(T,) mean |sum_f phi|; index T-1 is the most recent day."""
    return np.concatenate([np.abs(r.phi[..., j].sum(axis=2)) for r in results]).mean(axis=0)


def heatmap(results: list[LstmShapResult], j: int) -> np.ndarray:
    """(F, T) mean |phi| per feature and lag."""
    return np.concatenate([np.abs(r.phi[..., j]) for r in results]).mean(axis=0).T
