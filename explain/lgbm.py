"""LightGBM importance: gain and split counts summed to groups, and TreeSHAP on the test rows.

LightGBM is trained per fold and horizon on lag-flattened windows (the last ``lags`` steps of every
feature, columns named ``<feature>@t-<k>``), early-stopped on the fold's validation part. TreeSHAP uses
LightGBM's own ``pred_contrib=True`` (exact path-dependent TreeSHAP); mean |phi| per feature and group.
For importance, LightGBM is trained alongside a time-shuffled shadow of every group
(:func:`fit_with_shadows`, as Boruta does): the largest shadow's importance is the noise floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass
class LgbmFoldResult:
    """One fold and horizon of the shadow-augmented LightGBM fit: per flattened column (real, then shadow)."""

    fold: int
    horizon: int
    gain: np.ndarray  # (lags * F_all,)
    split: np.ndarray
    shap: np.ndarray  # (n_test, lags * F_all) TreeSHAP values (log-odds for classification)
    X_flat: np.ndarray  # (n_test, lags * F_all) the explained rows
    test_pos: np.ndarray  # (n_test,) positions of the rows in the run's test order


# The explain stage's shadow-augmented fits (twice the columns, per fold and horizon) use 63 histogram bins
# and column-wise histograms (half the time, plenty of bins for a few thousand rows) and stop after 20
# rounds without improvement. The baseline keeps LightGBM's default 255 bins and a patience of 30.
EXPLAIN_PARAMS = {"max_bin": 63, "force_row_wise": False, "force_col_wise": True}  # over the baseline's
EXPLAIN_PATIENCE = 20


def fit_with_shadows(
    fit: Callable[..., list],
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    X_test: np.ndarray,
    classification: bool,
    lags: int,
    group_idx: dict[str, np.ndarray],
    seed: int = 0,
    n_jobs: int = 2,
) -> list:
    """LightGBM (``fit``: :func:`pipeline.models.lightgbm.fit_lightgbm`, passed in) trained alongside a time-shuffled shadow of every group (Boruta): the shadows' importance
    is what a group with no relation to the target gets. Columns: the real ``F``, then the shadows in the
    order of ``group_idx``."""
    from explain.common import shadow_columns

    rng = np.random.default_rng(seed + 7919)
    lags = min(lags, X_train.shape[1])
    aug = lambda X: np.concatenate([X[:, -lags:, :], shadow_columns(X[:, -lags:, :], group_idx, rng)], axis=-1)  # noqa: E731
    return fit(
        aug(X_train),
        y_train,
        aug(X_val),
        y_val,
        aug(X_test),
        classification,
        lags,
        seed,
        n_jobs,
        params=EXPLAIN_PARAMS,
        patience=EXPLAIN_PATIENCE,
    )


def shadow_group_idx(group_idx: dict[str, np.ndarray], n_real: int) -> dict[str, np.ndarray]:
    """Positions of each group's shadow columns after the ``n_real`` real ones (see :func:`fit_with_shadows`)."""
    out, start = {}, n_real
    for g, cols in group_idx.items():
        out[f"shadow:{g}"] = np.arange(start, start + len(cols))
        start += len(cols)
    return out


def flat_names(columns: list[str], lags: int) -> list[str]:
    """Names of ``X[:, -lags:, :].reshape(N, -1)``: lag-major, newest last."""
    return [f"{c}@t-{k}" for k in range(lags - 1, -1, -1) for c in columns]


def to_groups(values: np.ndarray, n_columns: int, lags: int, group_idx: dict[str, np.ndarray]) -> dict[str, float]:
    """Sum a per-flat-column quantity (lags*F,) over lags and over each group's columns."""
    per_feature = values.reshape(lags, n_columns).sum(axis=0)
    return {g: float(per_feature[idx].sum()) for g, idx in group_idx.items()}


def group_shap(
    r: LgbmFoldResult, n_columns: int, lags: int, group_idx: dict[str, np.ndarray], signed: bool = False
) -> dict[str, np.ndarray]:
    """Per test row: the sum of the group's TreeSHAP values over its columns and lags (its absolute value
    unless ``signed``), ``group -> (n_test,)``."""
    per_feature = r.shap.reshape(len(r.shap), lags, n_columns).sum(axis=1)
    return {g: (lambda v: v if signed else np.abs(v))(per_feature[:, idx].sum(axis=1)) for g, idx in group_idx.items()}
