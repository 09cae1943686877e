"""The linear families.

* ``linear`` — DLinear (Zeng et al. 2023, "Are Transformers Effective for Time Series Forecasting?"): the
  window is split into a trend (a moving average over ``trend_kernel`` steps, edges padded with the
  window's first and last step, as in DLinear) and a remainder; one linear map over time per part, shared
  by the features (DLinear's default), gives one value per feature and part; one linear head per horizon
  reads them (dropout before it). Linear in the inputs, like DLinear.
* ``window_linear`` — one linear map of the whole flattened ``(T, F)`` window per head: the calibration
  study's cheap fitted model (its seeds are real refits), not a user choice.

Input ``(N, T, F)``, output ``(N, H)`` (logits for direction, scaled values for regression); trained by the
one trainer like every network."""

from __future__ import annotations

import torch
from torch import nn

from pipeline.models.lstm import ModelConfig


def moving_average(x: torch.Tensor, kernel: int) -> torch.Tensor:
    """(N, T, F) -> (N, T, F): the mean over ``kernel`` steps centred on each step, the window's edges
    repeated (DLinear's ``series_decomp``). Uses only steps inside the window, so it is as causal as the
    window itself."""
    if kernel <= 1:
        return x
    front = x[:, :1, :].repeat(1, (kernel - 1) // 2, 1)
    back = x[:, -1:, :].repeat(1, kernel // 2, 1)
    padded = torch.cat([front, x, back], dim=1).transpose(1, 2)  # (N, F, T + k - 1)
    return nn.functional.avg_pool1d(padded, kernel, stride=1).transpose(1, 2)


def moving_average_matrix(window: int, kernel: int) -> torch.Tensor:
    """``(T, T)`` ``A`` with ``moving_average(x, kernel) == A @ x`` along time (edges repeated, as DLinear)."""
    eye = torch.eye(window).unsqueeze(-1)  # (T, T, 1): each step as a series
    return moving_average(eye, kernel).squeeze(-1).T  # column s: the average's weights on step s


class DLinearModel(nn.Module):
    def __init__(self, cfg: ModelConfig, window: int):
        super().__init__()
        self.cfg = cfg
        self.kernel = min(cfg.trend_kernel, window)
        self.trend = nn.Linear(window, 1)
        self.remainder = nn.Linear(window, 1)
        self.drop = nn.Dropout(cfg.dropout)
        self.heads = nn.Linear(2 * cfg.n_features, cfg.n_outputs)
        self.register_buffer("average", moving_average_matrix(window, self.kernel), persistent=False)

    def reset_equal(self) -> None:
        """Start from equal weights over the window for the trend and the remainder, no bias, and a zero head: the
        output is 0 and every step's gradient is alike, so the fit does not depend on where a random start put the
        shared map over time (a rank-one time-by-feature map is slow to leave a poor start)."""
        with torch.no_grad():
            T = self.trend.weight.shape[1]
            self.trend.weight.fill_(1.0 / T)
            self.remainder.weight.fill_(1.0 / T)
            for layer in (self.trend, self.remainder, self.heads):
                layer.bias.zero_()
            self.heads.weight.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, T, F) -> (N, H). The trend's and the remainder's maps over time are folded through the moving
        average into one weight per step each (the same linear function, without building the trend)."""
        a = self.average.to(x.dtype)
        w_trend = self.trend.weight[0] @ a  # (T,): trend(A x) = (w A) x
        w_rem = self.remainder.weight[0] - self.remainder.weight[0] @ a  # remainder(x - A x) = (r - r A) x
        w = torch.stack([w_trend, w_rem], dim=1)  # (T, 2): one pass over the window
        z = torch.einsum("ntf,tk->nkf", x, w) + torch.cat([self.trend.bias, self.remainder.bias])[None, :, None]
        return self.heads(self.drop(z.reshape(len(x), -1)))  # (N, 2F): trend part, then remainder


class LinearModel(nn.Module):
    """``window_linear``: one linear map of the flattened window per head."""

    def __init__(self, cfg: ModelConfig, window: int):
        super().__init__()
        self.cfg = cfg
        self.window = window
        self.drop = nn.Dropout(cfg.dropout)
        self.heads = nn.Linear(window * cfg.n_features, cfg.n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, T, F) -> (N, H)."""
        return self.heads(self.drop(x.reshape(len(x), -1)))
