"""Gradient attributions on a recurrent model, batched on the run's device, and their sanity checks.

* :func:`expected_gradients`: the estimator of ``shap.GradientExplainer`` (expected gradients, Erion et
  al. 2021): for each explained window ``x`` and each of ``nsamples`` draws, a background window ``b``
  and ``t ~ U(0, 1)``; ``phi = mean_draws grad f(b + t (x - b)) * (x - b)``. Every window x draw goes
  through the model in large batches (one forward, one backward per output) instead of shap's loop over
  samples and outputs. ``shap`` stays the reference in the tests.
* :func:`integrated_gradients`: integrated gradients (Sundararajan et al. 2017) from the mean background
  window with captum's Gauss-Legendre rule, on the same batched path engine; captum's
  ``IntegratedGradients`` (one output per call) is the reference in the tests.
* :func:`randomisation_check`: Adebayo et al. (2018) model randomisation: the attributions of the trained
  model against those of the same architecture with re-initialised weights. A method whose maps barely
  change explains the input, not the model.
* :func:`infidelity`: captum's infidelity (Yeh et al. 2019) of an attribution under perturbations towards
  the baseline, scale-normalised, beside the infidelity of random attributions as a reference.

Attributions are ``(N, T, F, H)``: windows, lags (index ``T - 1`` is the most recent day), features,
outputs. cuDNN's RNN backward refuses eval mode, so :func:`grad_ready` puts only the recurrent layers in
training mode with their dropout set to 0 (the function is unchanged; everything else stays in eval).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

# A method fails the randomisation check when its attribution maps of the trained and of a re-initialised
# model keep this rank correlation or more (Adebayo et al. call maps that "remain similar" a failure; an
# attribution that ignores the model, e.g. input x constant, scores 1).
RANDOMISATION_FLAG = 0.5


def grad_ready(model: nn.Module, device: torch.device) -> nn.Module:
    """A copy of ``model`` on ``device`` for input gradients: eval mode (no dropout, batch norm frozen),
    recurrent layers in training mode with dropout 0 (the eval-mode-safe cuDNN path), weights frozen."""
    net = copy.deepcopy(model).to(device).eval()
    for m in net.modules():
        if isinstance(m, nn.RNNBase):
            m.dropout = 0.0
            m.train()
            if device.type == "cuda":
                m.flatten_parameters()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _tensor(X, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(X, dtype=np.float32), device=device)


def _path_attributions(
    net: nn.Module,
    X_t: torch.Tensor,
    starts: Callable[[slice], torch.Tensor],
    alpha: torch.Tensor,
    weights: torch.Tensor,
    batch_size: int,
) -> np.ndarray:
    """``phi[n] = sum_k weights[k] * grad f(s_nk + alpha_nk (x_n - s_nk)) * (x_n - s_nk)`` for every output, where
    ``starts(rows) -> (m, k, T, F)`` are the path starts of windows ``rows``; ``alpha`` ``(N, k)``. All
    windows x points go through ``net`` in batches of about ``batch_size``: one forward, one backward per
    output. Returns ``(N, T, F, H)``."""
    N, T, F = X_t.shape
    k = alpha.shape[1]
    chunk = max(1, batch_size // k)
    parts = []
    for i0 in range(0, N, chunk):
        rows = slice(i0, i0 + chunk)
        x = X_t[rows]
        s = starts(rows)  # (m, k, T, F)
        delta = x[:, None] - s
        points = (s + alpha[rows, :, None, None] * delta).reshape(-1, T, F).requires_grad_(True)
        out = net(points).reshape(len(points), -1)  # (m k, H)
        H = out.shape[1]
        phi = []
        for j in range(H):
            (g,) = torch.autograd.grad(out[:, j].sum(), points, retain_graph=j < H - 1)
            phi.append((g.reshape(delta.shape) * delta * weights[None, :, None, None]).sum(dim=1))
        parts.append(torch.stack(phi, dim=-1).cpu())
    return torch.cat(parts).numpy()


def expected_gradients(
    model: nn.Module, background, X, device: torch.device, nsamples: int = 16, seed: int = 0, batch_size: int = 8192
) -> np.ndarray:
    """phi ``(N, T, F, H)`` of ``model`` on windows ``X`` ``(N, T, F)`` against ``background`` ``(B, T, F)``
    (training windows), ``nsamples`` interpolation points per window (a background window and
    ``t ~ U(0, 1)`` each), drawn with ``seed``."""
    net = grad_ready(model, device)
    X_t, bg = _tensor(X, device), _tensor(background, device)
    rng = np.random.default_rng(seed)
    rind = torch.as_tensor(rng.integers(len(bg), size=(len(X_t), nsamples)), device=device)
    alpha = torch.as_tensor(rng.uniform(size=(len(X_t), nsamples)), dtype=torch.float32, device=device)
    weights = torch.full((nsamples,), 1.0 / nsamples, device=device)
    return _path_attributions(net, X_t, lambda rows: bg[rind[rows]], alpha, weights, batch_size)


def integrated_gradients(
    model: nn.Module, baseline, X, device: torch.device, steps: int = 16, batch_size: int = 8192
) -> np.ndarray:
    """phi ``(N, T, F, H)``: integrated gradients from ``baseline`` ``(T, F)`` (the mean training window) to
    each window of ``X``, with captum's default rule (``steps`` Gauss-Legendre points), batched over
    windows and outputs. :func:`captum_integrated_gradients` is the reference it is tested against."""
    net = grad_ready(model, device)
    X_t = _tensor(X, device)
    base = _tensor(baseline, device)
    nodes, w = np.polynomial.legendre.leggauss(steps)  # on [-1, 1]; captum maps them to [0, 1] the same way
    alpha = torch.as_tensor((nodes + 1) / 2, dtype=torch.float32, device=device)
    weights = torch.as_tensor(w / 2, dtype=torch.float32, device=device)

    def starts(rows: slice) -> torch.Tensor:
        m = len(X_t[rows])
        return base.expand(m, steps, *base.shape)

    return _path_attributions(net, X_t, starts, alpha[None].expand(len(X_t), steps), weights, batch_size)


def captum_integrated_gradients(model: nn.Module, baseline, X, device: torch.device, steps: int = 16) -> np.ndarray:
    """``captum.attr.IntegratedGradients`` output by output, ``(N, T, F, H)``: the reference for
    :func:`integrated_gradients`."""
    from captum.attr import IntegratedGradients

    net = grad_ready(model, device)
    X_t = _tensor(X, device)
    base = _tensor(baseline, device)[None].expand_as(X_t).contiguous()
    with torch.no_grad():
        H = net(X_t[:1]).reshape(1, -1).shape[1]
    ig = IntegratedGradients(lambda z: net(z).reshape(len(z), -1))
    phi = [ig.attribute(X_t, baselines=base, target=j, n_steps=steps).detach().cpu() for j in range(H)]
    return torch.stack(phi, dim=-1).numpy()


def randomised_copy(model: nn.Module, seed: int = 12345) -> nn.Module:
    """The same architecture with every layer re-initialised (its own default initialisation), on the CPU."""
    clone = copy.deepcopy(model).cpu()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in clone.modules():
            if m is not clone and hasattr(m, "reset_parameters"):
                m.reset_parameters()
            elif m is not clone and hasattr(m, "_reset_parameters"):  # nn.MultiheadAttention's in-projection
                m._reset_parameters()
    return clone


@dataclass
class RandomisationCheck:
    """Rank correlations between a method's attributions on the trained and on a re-initialised model:
    ``signed_rho`` mean Spearman of the signed maps ``phi`` over the (lag, feature) cells of each window
    and output (the check: :attr:`passed` when below :data:`RANDOMISATION_FLAG`); ``abs_rho`` the same for
    ``|phi|`` (shown, not used: for methods scaled by ``x - baseline`` the magnitude maps keep the input's
    structure whatever the weights, as Adebayo et al. found for gradient x input); ``feature_rho`` Spearman
    of the per-feature mean ``|sum_t phi|``."""

    method: str
    signed_rho: float
    abs_rho: float
    feature_rho: float
    n_windows: int

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.signed_rho) and self.signed_rho < RANDOMISATION_FLAG)


def map_rank_correlation(a: np.ndarray, b: np.ndarray, absolute: bool = False) -> float:
    """Mean Spearman correlation of ``a`` and ``b`` ``(N, T, F, H)`` (or of their absolute values) over
    each window's and output's (lag, feature) cells."""
    A = np.moveaxis(a, -1, 1).reshape(a.shape[0] * a.shape[-1], -1)
    B = np.moveaxis(b, -1, 1).reshape(A.shape)
    if absolute:
        A, B = np.abs(A), np.abs(B)
    ra = np.argsort(np.argsort(A, axis=1), axis=1).astype(float)
    rb = np.argsort(np.argsort(B, axis=1), axis=1).astype(float)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    den = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    ok = den > 0
    return float(np.mean((ra * rb).sum(axis=1)[ok] / den[ok])) if ok.any() else float("nan")


def randomisation_check(
    method: str,
    attribute: Callable[[nn.Module], np.ndarray],
    model: nn.Module,
    trained: np.ndarray | None = None,
    seed: int = 12345,
) -> RandomisationCheck:
    """``attribute(model) -> phi (N, T, F, H)`` on fixed windows; compares the trained model's maps
    (``trained``, computed if not given) with a re-initialised copy's."""
    phi = attribute(model) if trained is None else trained
    rnd = attribute(randomised_copy(model, seed))
    feat = lambda p: np.abs(p.sum(axis=1)).mean(axis=(0, 2))  # noqa: E731  (F,)
    rho = spearmanr(feat(phi), feat(rnd)).statistic if phi.shape[2] > 1 else float("nan")
    return RandomisationCheck(
        method,
        map_rank_correlation(phi, rnd),
        map_rank_correlation(phi, rnd, absolute=True),
        float(rho),
        int(phi.shape[0]),
    )


def infidelity(
    model: nn.Module,
    X,
    phi: np.ndarray,
    baseline,
    device: torch.device,
    n_perturb: int = 20,
    share: float = 0.2,
    seed: int = 0,
) -> float:
    """Mean over windows and outputs of captum's scale-normalised infidelity of ``phi`` ``(N, T, F, H)``:
    how well ``sum(phi * I)`` predicts ``f(x) - f(x - I)`` when ``I`` moves a random ``share`` of the
    (lag, feature) cells of ``x`` to ``baseline`` ``(T, F)`` (the perturbation Yeh et al. pair with
    baseline attributions such as expected and integrated gradients). Lower is better; compare with
    :func:`random_infidelity`."""
    from captum.metrics import infidelity as captum_infidelity

    net = grad_ready(model, device)
    X_t = _tensor(X, device)
    base = _tensor(baseline, device)
    gen = torch.Generator(device=device).manual_seed(seed)

    def perturb(inputs: torch.Tensor):
        mask = (torch.rand(inputs.shape, generator=gen, device=inputs.device) < share).float()
        moved = mask * (inputs - base)
        return moved, inputs - moved

    forward = lambda z: net(z).reshape(len(z), -1)  # noqa: E731
    values = []
    with torch.no_grad():
        for j in range(phi.shape[-1]):
            attr = torch.as_tensor(phi[..., j], dtype=torch.float32, device=device)
            v = captum_infidelity(forward, perturb, X_t, attr, target=j, n_perturb_samples=n_perturb, normalize=True)
            values.append(v.detach().cpu().numpy())
    return float(np.mean(values))


def random_infidelity(model: nn.Module, X, baseline, shape: tuple, device: torch.device, seed: int = 0, **kw) -> float:
    """The infidelity of Gaussian random attributions of ``shape``: the reference a method must beat."""
    rnd = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    return infidelity(model, X, rnd, baseline, device, seed=seed, **kw)
