"""LightGBM importance: gain and split counts summed to groups, and TreeSHAP on the test rows.

LightGBM is trained per fold and horizon on lag-flattened windows (the last ``lags`` steps of every
feature, columns named ``<feature>@t-<k>``), early-stopped on the fold's validation part. TreeSHAP uses
LightGBM's own ``pred_contrib=True`` (exact path-dependent TreeSHAP); mean |phi| per feature and group.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from explain.common import Importance, mean_interval


def flat_names(columns: list[str], lags: int) -> list[str]:
    """Names of ``X[:, -lags:, :].reshape(N, -1)``: lag-major, newest last."""
    return [f"{c}@t-{k}" for k in range(lags - 1, -1, -1) for c in columns]


@dataclass
class LgbmFoldResult:
    fold: int
    horizon: int
    gain: np.ndarray            # (lags * F,)
    split: np.ndarray
    shap: np.ndarray            # (n_test, lags * F) TreeSHAP values (log-odds for classification)
    X_flat: np.ndarray          # (n_test, lags * F) the explained rows


@dataclass
class LgbmFit:
    """One horizon's LightGBM fit on one fold."""

    gain: np.ndarray            # (lags * F,)
    split: np.ndarray           # (lags * F,)
    contrib: np.ndarray         # (n_test, lags * F) TreeSHAP values
    X_flat: np.ndarray          # (n_test, lags * F) flattened test rows
    pred: np.ndarray            # (n_test,) test predictions (probability of up, or training units)
    pred_val: np.ndarray        # (n_val,) validation predictions (the model early-stopped on these rows)


def fit_explain(
    X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, X_test: np.ndarray,
    classification: bool, lags: int, seed: int = 0, n_jobs: int = 2,
) -> list[LgbmFit]:
    """One :class:`LgbmFit` per horizon (column of ``y_train``)."""
    import lightgbm as lgb

    lags = min(lags, X_train.shape[1])
    flat = lambda X: X[:, -lags:, :].reshape(len(X), -1)  # noqa: E731
    Ft, Fv, Fs = flat(X_train), flat(X_val), flat(X_test)
    params = dict(n_estimators=300, learning_rate=0.03, num_leaves=15, min_child_samples=40, subsample=0.8,
                  subsample_freq=1, colsample_bytree=0.8, reg_lambda=1.0, random_state=seed, n_jobs=n_jobs,
                  verbose=-1, deterministic=True, force_row_wise=True, importance_type="gain")
    out = []
    for j in range(y_train.shape[1]):
        cls = lgb.LGBMClassifier if classification else lgb.LGBMRegressor
        model = cls(**params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(Ft, y_train[:, j], eval_set=[(Fv, y_val[:, j])], callbacks=[lgb.early_stopping(30, verbose=False)])
        booster = model.booster_
        gain = booster.feature_importance("gain")
        split = booster.feature_importance("split").astype(float)
        contrib = booster.predict(Fs, pred_contrib=True, num_iteration=model.best_iteration_ or None)
        predict = (lambda F: model.predict_proba(F)[:, 1]) if classification else model.predict
        out.append(LgbmFit(gain, split, contrib[:, :-1], Fs, predict(Fs), predict(Fv)))  # contrib's last column: expected value
    return out


def to_groups(values: np.ndarray, columns: list[str], lags: int, group_idx: dict[str, np.ndarray]) -> dict[str, float]:
    """Sum a per-flat-column quantity (lags*F,) over lags and over each group's columns."""
    per_feature = values.reshape(lags, len(columns)).sum(axis=0)
    return {g: float(per_feature[idx].sum()) for g, idx in group_idx.items()}


def summarise(results: list[LgbmFoldResult], columns: list[str], lags: int, group_idx: dict[str, np.ndarray]) -> list[Importance]:
    """Gain and split (shares of the fold's total) and mean |TreeSHAP| per group, with intervals across folds."""
    per: dict[tuple[int, str, str], dict[str, float]] = {}
    for r in results:
        label = f"fold{r.fold}"
        gain = to_groups(r.gain / max(r.gain.sum(), 1e-12), columns, lags, group_idx)
        split = to_groups(r.split / max(r.split.sum(), 1e-12), columns, lags, group_idx)
        # mean |sum over a group's columns and lags of phi|: the group's joint contribution per row
        per_feature = r.shap.reshape(len(r.shap), lags, len(columns)).sum(axis=1)
        tshap = {g: float(np.abs(per_feature[:, idx].sum(axis=1)).mean()) for g, idx in group_idx.items()}
        for method, values in (("lgbm_gain", gain), ("lgbm_split", split), ("tree_shap", tshap)):
            for g, v in values.items():
                per.setdefault((r.horizon, g, method), {})[label] = v
    out = []
    for (h, g, method), units in per.items():
        m, lo, hi = mean_interval(np.array(list(units.values())))
        out.append(Importance(h, g, method, m, lo, hi, units))
    return out
