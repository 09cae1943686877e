"""Metrics on out-of-sample predictions, in plain numpy so the bootstrap can call them thousands of times.

Direction (``p`` = probability of up, ``y`` in {0, 1}): accuracy, balanced accuracy, ROC AUC, MCC, log
loss, Brier score. Regression (``pred``, ``y`` and the persistence forecast ``ref``): RMSE, MAE,
out-of-sample R^2 against persistence (1 - SSE/SSE_persistence), sign accuracy of the predicted change
from persistence, and the Spearman information coefficient of the predicted change.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

DIRECTION_METRICS = ("accuracy", "balanced_accuracy", "auc", "mcc", "log_loss", "brier")
REGRESSION_METRICS = ("rmse", "mae", "r2", "sign_accuracy", "ic")
HIGHER_IS_BETTER = {"accuracy": True, "balanced_accuracy": True, "auc": True, "mcc": True, "log_loss": False,
                    "brier": False, "rmse": False, "mae": False, "r2": True, "sign_accuracy": True, "ic": True}


def auc(y: np.ndarray, score: np.ndarray) -> float:
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def direction_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    y = y.astype(float)
    hat = (p > 0.5).astype(float)
    tp = float(((hat == 1) & (y == 1)).sum()); tn = float(((hat == 0) & (y == 0)).sum())
    fp = float(((hat == 1) & (y == 0)).sum()); fn = float(((hat == 0) & (y == 1)).sum())
    tpr = tp / (tp + fn) if tp + fn else float("nan")
    tnr = tn / (tn + fp) if tn + fp else float("nan")
    denom = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    pc = np.clip(p, 1e-7, 1 - 1e-7)
    return {
        "accuracy": float((hat == y).mean()),
        "balanced_accuracy": float(np.nanmean([tpr, tnr])),
        "auc": auc(y, p),
        "mcc": float((tp * tn - fp * fn) / denom) if denom > 0 else 0.0,
        "log_loss": float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc))),
        "brier": float(np.mean((p - y) ** 2)),
    }


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if np.std(a) == 0 or np.std(b) == 0:
        return 0.0
    return float(np.corrcoef(rankdata(a), rankdata(b))[0, 1])


def regression_metrics(y: np.ndarray, pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    err = pred - y
    sse_ref = float(np.sum((ref - y) ** 2))
    change_pred, change_true = pred - ref, y - ref
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "r2": float(1 - np.sum(err**2) / sse_ref) if sse_ref > 0 else float("nan"),
        "sign_accuracy": float(np.mean(np.sign(change_pred) == np.sign(change_true))),
        "ic": _spearman(change_pred, change_true),
    }


def compute_metrics(classification: bool, y: np.ndarray, pred: np.ndarray, ref: np.ndarray | None = None) -> dict[str, float]:
    if classification:
        return direction_metrics(y, pred)
    return regression_metrics(y, pred, ref if ref is not None else np.zeros_like(y))
