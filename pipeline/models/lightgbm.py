"""The LightGBM baseline: gradient boosting on the last ``lags`` steps of each window flattened
(columns ``<feature>@t-<k>``), one booster per horizon, early-stopped on the rows it is given for that
(the baseline registry gives it the first part of a fold's validation days only: the comparator is chosen
on the later part, which LightGBM has not seen).

The explain stage reuses :func:`fit_lightgbm` (with its own parameters) for its shadow-augmented fits.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass
class LgbmFit:
    """One horizon's LightGBM fit on one fold. TreeSHAP (:attr:`contrib`) is computed on first use: the
    baseline needs only the predictions, and on a 500-symbol panel TreeSHAP of every test row costs more
    than the fit."""

    gain: np.ndarray  # (lags * F,)
    split: np.ndarray  # (lags * F,)
    X_flat: np.ndarray  # (n_test, lags * F) flattened test rows
    pred: np.ndarray  # (n_test,) test predictions (probability of up, or training units)
    pred_val: np.ndarray  # (n_val,) predictions on the early-stopping rows
    booster: object = None  # the fitted lightgbm.Booster
    best_iteration: int | None = None
    lags: int = 0  # steps of each window the booster reads
    _contrib: np.ndarray | None = None

    def predict(self, X) -> np.ndarray:
        """(n,) predictions (probability of up, or training units) on windows ``X`` (n, T, F) of other rows."""
        return self.booster.predict(_flat(X, self.lags), num_iteration=self.best_iteration)

    @property
    def contrib(self) -> np.ndarray:
        """(n_test, lags * F) TreeSHAP values (log-odds for classification), without the expected value."""
        if self._contrib is None:
            full = self.booster.predict(self.X_flat, pred_contrib=True, num_iteration=self.best_iteration)
            self._contrib = full[:, :-1]  # the last column is the expected value
        return self._contrib


PARAMS = dict(
    learning_rate=0.03,
    num_leaves=15,
    min_data_in_leaf=40,
    bagging_fraction=0.8,
    bagging_freq=1,
    feature_fraction=0.8,
    lambda_l2=1.0,
    max_bin=255,
    verbose=-1,
    deterministic=True,
    force_row_wise=True,
)
ROUNDS, PATIENCE = 300, 30


def _flat(X, lags: int) -> np.ndarray:
    """(n, lags * F) float32: the last ``lags`` steps of windows ``X`` (n, T, F), flattened step-major."""
    return np.asarray(X[:, -lags:, :], dtype=np.float32).reshape(len(X), -1)


def fit_lightgbm(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    X_test: np.ndarray,
    classification: bool,
    lags: int,
    seed: int = 0,
    n_jobs: int = 2,
    params: dict | None = None,
    patience: int = PATIENCE,
) -> list[LgbmFit]:
    """One :class:`LgbmFit` per horizon (column of ``y_train``), on the last ``lags`` steps flattened,
    early-stopped on the validation rows. The binned training and validation sets are built once and
    shared by the horizons (only the labels change). ``params``: changes to :data:`PARAMS`."""
    import lightgbm as lgb

    lags = min(lags, X_train.shape[1])
    Ft, Fv, Fs = (_flat(X, lags) for X in (X_train, X_val, X_test))
    base = {**PARAMS, **(params or {})}
    params = {**base, "objective": "binary" if classification else "regression", "seed": seed, "num_threads": n_jobs}
    train = lgb.Dataset(Ft, y_train[:, 0], params={"max_bin": base["max_bin"], "verbose": -1}, free_raw_data=False)
    val = lgb.Dataset(Fv, y_val[:, 0], reference=train, free_raw_data=False)
    out = []
    for j in range(y_train.shape[1]):
        train.set_label(y_train[:, j]) if j else None
        val.set_label(y_val[:, j]) if j else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            booster = lgb.train(
                params, train, ROUNDS, valid_sets=[val], callbacks=[lgb.early_stopping(patience, verbose=False)]
            )
        best = booster.best_iteration or None
        gain = booster.feature_importance("gain", iteration=best)
        split = booster.feature_importance("split", iteration=best).astype(float)
        predict = lambda F: booster.predict(F, num_iteration=best)  # noqa: E731  (probability of up, or values)
        out.append(LgbmFit(gain, split, Fs, predict(Fs), predict(Fv), booster, best, lags))
    return out
