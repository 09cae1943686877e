"""Simple baselines, fitted on the same training samples and scored on the same test days as the LSTM.

Direction: ``majority`` (the training set's majority class, "always up" in a rising market),
``previous`` (the direction of the past h days), ``logistic`` (logistic regression on the last step's
scaled features), ``lightgbm`` (gradient boosting on the last ``lags`` steps flattened; the model is
defined once, in :mod:`explain.lgbm`, and its fits are reused by the explain stage).
Regression: ``persistence`` (no change: see :func:`pipeline.targets.core.persistence`), ``momentum``
(past h-day return, for return-like targets), ``lightgbm``.
Every baseline returns predictions ``(n_test, H)`` in model units (probability of up for direction).
"""
from __future__ import annotations

import numpy as np


def majority(y_train: np.ndarray, n_test: int) -> np.ndarray:
    """The training up-rate as the probability of up on every test day: it always predicts the majority
    class (accuracy = share of that class) and is calibrated to the training base rate (log loss, Brier)."""
    rate = y_train.mean(axis=0)
    rate = np.where(rate == 0.5, 0.5 + 1e-9, rate)  # ties go to "up"
    return np.tile(rate, (n_test, 1))


def logistic(X_train: np.ndarray, y_train: np.ndarray, X_apply: list[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    """Logistic regression per horizon on the last step's features ``(N, T, F)``; probabilities ``(n, H)``
    for each array in ``X_apply`` (e.g. test and validation windows)."""
    from sklearn.linear_model import LogisticRegression

    outs = [np.zeros((len(X), y_train.shape[1])) for X in X_apply]
    for j in range(y_train.shape[1]):
        if len(np.unique(y_train[:, j])) < 2:
            for out in outs:
                out[:, j] = y_train[0, j]
            continue
        model = LogisticRegression(C=1.0, max_iter=1000, random_state=seed)
        model.fit(X_train[:, -1, :], y_train[:, j])
        for out, X in zip(outs, X_apply):
            out[:, j] = model.predict_proba(X[:, -1, :])[:, 1]
    return outs
