"""The one trainer for every target and model variant: AdamW, linear LR warm-up, ReduceLROnPlateau,
gradient clipping, early stopping on validation loss with restore of the best weights, and a progress
bar. No batch is ever dropped: the last partial batch of an epoch and of an evaluation is used.

Loss: binary cross-entropy on logits for classification (one per horizon), MSE for regression.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from pipeline.config.schema import DEFAULTS
from pipeline.errors import InputError
from pipeline.splits.windows import Windows


class TrainingError(InputError):
    """Training cannot go on (NaN/inf loss); reported as one line, exit 2."""


@dataclass
class TrainConfig:
    """The trainer's settings; the defaults are the schema's (:data:`pipeline.config.schema.DEFAULTS`)."""

    epochs: int = DEFAULTS.epochs
    batch_size: int = DEFAULTS.batch_size
    lr: float = DEFAULTS.lr
    lr_scaling: str = DEFAULTS.lr_scaling  # none | linear (lr is stated for batch 256 and scaled)
    weight_decay: float = DEFAULTS.weight_decay
    warmup_epochs: float = DEFAULTS.warmup_epochs
    patience: int = DEFAULTS.patience
    plateau_patience: int = 2  # ReduceLROnPlateau (not a setting of the schema)
    plateau_factor: float = 0.5
    clip_grad: float = DEFAULTS.clip_grad
    staged: bool = DEFAULTS.skip_fit == "staged"  # a model's first-stage parameters alone first (see fit)
    classification: bool = True
    seed: int = DEFAULTS.seed
    progress: bool = DEFAULTS.progress

    def effective_lr(self) -> float:
        return self.lr * self.batch_size / 256 if self.lr_scaling == "linear" else self.lr

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    best_epoch: int = 0
    samples_per_s: float = 0.0
    first_stage_epochs: int = 0  # staged fitting: the epochs of the first stage (the linear path), counted first


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present (cuDNN on), else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda asked for, but no CUDA device is available; use --device auto or cpu")
    if name == "cuda":
        torch.backends.cudnn.enabled = True
        torch.backends.cudnn.benchmark = True
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def _loss_fn(classification: bool) -> nn.Module:
    return nn.BCEWithLogitsLoss() if classification else nn.MSELoss()


def clip_gradients(params: list[nn.Parameter], max_norm: float, device: torch.device) -> None:
    """``clip_grad_norm_``: scale the gradients so that their global norm is at most ``max_norm``. On the CPU,
    where reading the norm costs no device sync, the scaling is skipped when it would multiply by 1 (most
    steps): for a small network those few kernels are a tenth of a training step."""
    if device.type != "cpu" or not hasattr(nn.utils, "get_total_norm"):  # torch < 2.6, or CUDA: no sync per step
        nn.utils.clip_grad_norm_(params, max_norm, foreach=True)
        return
    norm = nn.utils.get_total_norm([p.grad for p in params if p.grad is not None], foreach=True)
    if float(norm) + 1e-6 > max_norm:
        nn.utils.clip_grads_with_norm_(params, max_norm, norm, foreach=True)


def _batches(n: int, batch_size: int, order: torch.Tensor | None = None, min_last: int = 1):
    """Index slices covering all n samples, the last one partial if need be (never dropped). A last
    batch smaller than ``min_last`` joins the one before it (training: batch norm needs two samples)."""
    idx = order if order is not None else torch.arange(n)
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] < min_last:
        starts.pop()
    for i, start in enumerate(starts):
        yield idx[start : starts[i + 1] if i + 1 < len(starts) else n]


@torch.no_grad()
def evaluate_loss(model: nn.Module, X: torch.Tensor, y: torch.Tensor, cfg: TrainConfig) -> float:
    model.eval()
    loss_fn = _loss_fn(cfg.classification)
    total, n = 0.0, 0
    for b in _batches(len(X), max(cfg.batch_size, 512)):
        out = model(take(X, b.to(y.device)))
        total += float(loss_fn(out, y[b])) * len(b)
        n += len(b)
    return total / max(n, 1)


@torch.no_grad()
def predict(model: nn.Module, X: np.ndarray | torch.Tensor, device: torch.device, batch_size: int = 1024) -> np.ndarray:
    """Model outputs ``(N, H)``: probabilities for classification models' logits are NOT applied here."""
    model.eval()
    if isinstance(X, Windows):
        X = X.to(device)  # the rows move once; every batch is gathered on the device
        batches = (X.batch(b.to(device)) for b in _batches(len(X), batch_size))
    else:
        X = torch.as_tensor(X, dtype=torch.float32)
        batches = (X[b].to(device) for b in _batches(len(X), batch_size))
    outs = [model(xb).float().cpu() for xb in batches]
    return torch.cat(outs).numpy() if outs else np.zeros((0, 0), dtype=np.float32)


def on_device(X: "np.ndarray | Windows", device: torch.device) -> "torch.Tensor | Windows":
    """Training data on ``device``: lazy windows move their rows (batches are gathered there); an array
    becomes a tensor."""
    if isinstance(X, Windows):
        return X.to(device)
    return torch.as_tensor(X, dtype=torch.float32, device=device)


def take(X: "torch.Tensor | Windows", idx: torch.Tensor) -> torch.Tensor:
    """The batch ``idx`` of ``X`` as a tensor ``(B, T, F)``."""
    return X.batch(idx) if isinstance(X, Windows) else X[idx]


def fit(
    model: nn.Module,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    cfg: TrainConfig,
    device: torch.device,
    desc: str = "train",
) -> TrainResult:
    """Train ``model`` in place; it ends holding the weights of the best validation epoch.

    X_*: (N, T, F) float32, an array or lazy :class:`~pipeline.splits.windows.Windows` (gathered per batch, on the
    device); y_*: (N, H) float32 (0/1 for classification, scaled values for regression).

    With ``cfg.staged`` and a model that has ``first_stage()`` (the network with a linear skip path: it resets its
    linear path, silences the network and returns the linear path), training runs in two stages: the linear path
    alone (trained and evaluated as its own module: the silenced network adds exactly 0), then every parameter from
    there; the weights kept are the best validation epoch of either stage, so the network's part stays only where
    it lowers the validation loss.
    """
    gen = seed_everything(cfg.seed)
    model.to(device)
    data = (
        on_device(X_train, device),
        torch.as_tensor(y_train, dtype=torch.float32, device=device),
        on_device(X_val, device),
        torch.as_tensor(y_val, dtype=torch.float32, device=device),
    )
    result, best = TrainResult(), _Best()
    if cfg.staged and hasattr(model, "first_stage"):
        # the first stage's module alone is trained and evaluated (the rest of the model outputs exactly 0 until the
        # second stage), while the state kept is the whole model's
        stage = model.first_stage()
        _epochs(model, list(stage.parameters()), data, cfg, device, gen, result, best, f"{desc} (linear path)", stage)
        model.load_state_dict(best.state)  # the second stage starts from the first stage's best
        result.first_stage_epochs = len(result.val_loss)
    _epochs(model, [p for p in model.parameters() if p.requires_grad], data, cfg, device, gen, result, best, desc)
    if best.state is not None:
        model.load_state_dict(best.state)
    return result


@dataclass
class _Best:
    """The best validation epoch so far (over every stage)."""

    loss: float = math.inf
    state: dict | None = None


def _epochs(
    model: nn.Module,
    params: list,
    data: tuple,
    cfg: TrainConfig,
    device: torch.device,
    gen: torch.Generator,
    result: TrainResult,
    best: _Best,
    desc: str,
    forward: nn.Module | None = None,
) -> None:
    """One stage: AdamW on ``params`` with warm-up, plateau and early stopping; appends to ``result`` and updates
    ``best`` with ``model``'s state (the best epoch of this stage counts only where it beats the earlier stages').
    ``forward``: the module that computes the output in this stage (default ``model``)."""
    forward = model if forward is None else forward
    import time

    from tqdm.auto import tqdm

    from pipeline.progress import detail

    Xt, yt, Xv, yv = data
    lr = cfg.effective_lr()
    # On CUDA the fused AdamW kernel updates every parameter in one launch (this small model is launch-bound).
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay, fused=device.type == "cuda")
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=cfg.plateau_factor, patience=cfg.plateau_patience
    )
    loss_fn = _loss_fn(cfg.classification)
    steps_per_epoch = math.ceil(len(Xt) / cfg.batch_size)
    warmup_steps = int(cfg.warmup_epochs * steps_per_epoch)
    offset = len(result.val_loss)  # epochs of earlier stages
    stage_best, since_best, step = math.inf, 0, 0
    seen, busy = 0, 0.0
    bar = tqdm(range(cfg.epochs), desc=desc, leave=False, disable=None if cfg.progress else True, unit="epoch")
    for epoch in bar:
        forward.train()
        order = torch.randperm(len(Xt), generator=gen).to(device)
        total, t0 = torch.zeros((), device=device), time.perf_counter()
        for b in _batches(len(Xt), cfg.batch_size, order, min_last=2):
            if step < warmup_steps:
                for g in opt.param_groups:
                    g["lr"] = lr * (step + 1) / warmup_steps
            out = forward(take(Xt, b))
            loss = loss_fn(out, yt[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_grad > 0:
                clip_gradients(params, cfg.clip_grad, device)
            opt.step()
            total += loss.detach() * len(b)  # stays on the device: no sync per batch
            step += 1
        total = float(total)
        if not math.isfinite(total):
            raise TrainingError(
                f"training diverged: the loss became {total} in epoch {epoch + 1}; lower --lr, "
                "use --scaler robust or --clip-quantile 0.01, or check the input for extreme values"
            )
        busy += time.perf_counter() - t0
        seen += len(Xt)
        train_loss = total / len(Xt)
        val_loss = evaluate_loss(forward, Xv, yv, cfg)
        if not math.isfinite(val_loss):
            raise TrainingError(
                f"training diverged: the validation loss became {val_loss} at epoch {epoch + 1}; lower --lr"
            )
        result.train_loss.append(train_loss)
        result.val_loss.append(val_loss)
        result.lr.append(opt.param_groups[0]["lr"])
        if step >= warmup_steps:
            plateau.step(val_loss)
        if val_loss < stage_best - 1e-6:
            stage_best, since_best = val_loss, 0
            if val_loss < best.loss - 1e-6:
                best.loss, result.best_epoch = val_loss, offset + epoch + 1
                best.state = copy.deepcopy(model.state_dict())
        else:
            since_best += 1
        bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}", best=result.best_epoch)
        detail(
            f"{desc or 'training'}: epoch {epoch + 1}: train loss {train_loss:.4f}, validation loss {val_loss:.4f}, "
            f"lr {result.lr[-1]:.2e}, best epoch {result.best_epoch}"
        )
        if since_best >= cfg.patience:
            break
    bar.close()
    if busy > 0:  # the last stage's speed (the whole model's, where there are two)
        result.samples_per_s = seen / busy
