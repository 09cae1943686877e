"""Simple baselines, fitted on the same training samples and scored on the same test days as the LSTM.

Direction: ``majority`` (the training set's majority class, "always up" in a rising market),
``previous`` (the direction of the past h days), ``logistic`` (logistic regression on the last step's
scaled features), ``lightgbm`` (gradient boosting on the last ``lags`` steps flattened).
Regression: ``persistence`` (no change: see :func:`pipeline.targets.persistence`), ``momentum``
(past h-day return, for return-like targets), ``lightgbm``.
Every baseline returns predictions ``(n_test, H)`` in model units (probability of up for direction).
"""
from __future__ import annotations

import warnings

import numpy as np


def flatten_lags(X: np.ndarray, lags: int) -> np.ndarray:
    """(N, T, F) windows -> (N, lags * F): the last ``lags`` steps side by side, newest last."""
    lags = min(lags, X.shape[1])
    return X[:, -lags:, :].reshape(len(X), -1)


def majority(y_train: np.ndarray, n_test: int) -> np.ndarray:
    """The training up-rate as the probability of up on every test day: it always predicts the majority
    class (accuracy = share of that class) and is calibrated to the training base rate (log loss, Brier)."""
    rate = y_train.mean(axis=0)
    rate = np.where(rate == 0.5, 0.5 + 1e-9, rate)  # ties go to "up"
    return np.tile(rate, (n_test, 1))


def logistic(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, seed: int = 0) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    out = np.zeros((len(X_test), y_train.shape[1]))
    for j in range(y_train.shape[1]):
        if len(np.unique(y_train[:, j])) < 2:
            out[:, j] = y_train[0, j]
            continue
        model = LogisticRegression(C=1.0, max_iter=1000, random_state=seed)
        model.fit(X_train[:, -1, :], y_train[:, j])
        out[:, j] = model.predict_proba(X_test[:, -1, :])[:, 1]
    return out


def lightgbm(
    X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, X_test: np.ndarray,
    classification: bool, lags: int = 5, seed: int = 0, n_jobs: int = 2,
) -> np.ndarray:
    """One LightGBM per horizon on flattened lags, early-stopped on the validation part."""
    import lightgbm as lgb

    Ft, Fv, Fs = flatten_lags(X_train, lags), flatten_lags(X_val, lags), flatten_lags(X_test, lags)
    out = np.zeros((len(X_test), y_train.shape[1]))
    params = dict(n_estimators=300, learning_rate=0.03, num_leaves=15, min_child_samples=40, subsample=0.8,
                  subsample_freq=1, colsample_bytree=0.8, reg_lambda=1.0, random_state=seed, n_jobs=n_jobs,
                  verbose=-1, deterministic=True, force_row_wise=True)
    for j in range(y_train.shape[1]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if classification:
                if len(np.unique(y_train[:, j])) < 2:
                    out[:, j] = y_train[0, j]
                    continue
                model = lgb.LGBMClassifier(**params)
                model.fit(Ft, y_train[:, j], eval_set=[(Fv, y_val[:, j])], callbacks=[lgb.early_stopping(30, verbose=False)])
                out[:, j] = model.predict_proba(Fs)[:, 1]
            else:
                model = lgb.LGBMRegressor(**params)
                model.fit(Ft, y_train[:, j], eval_set=[(Fv, y_val[:, j])], callbacks=[lgb.early_stopping(30, verbose=False)])
                out[:, j] = model.predict(Fs)
    return out
