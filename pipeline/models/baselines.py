"""Simple baselines, fitted on the same training samples and scored on the same test days as the LSTM.

Direction: ``majority`` (the training set's majority class, "always up" in a rising market),
``previous`` (the direction of the past h days), ``logistic`` (logistic regression on the last step's
scaled features), ``lightgbm`` (gradient boosting on the last ``lags`` steps flattened; the model is
defined once, in :mod:`explain.lgbm`, and its fits are reused by the explain stage), ``window_ridge`` (ridge on
the whole window flattened, its penalty chosen on the training rows' own inner split: :func:`window_ridge`).
Regression: ``persistence`` (no change: see :func:`pipeline.targets.core.persistence`), ``momentum``
(past h-day return, for return-like targets), ``lightgbm``, ``window_ridge``.
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


RIDGE_PENALTIES = np.logspace(-3, 3, 13)  # ridge penalties, in units of the mean eigenvalue of the training Gram matrix
RIDGE_MAX_INPUTS = 3000  # inputs the window ridge reads: the last floor(3000 / F) steps beyond that
RIDGE_CHUNK = 4096  # windows gathered at a time (memory O(chunk x T x F))
RIDGE_MAX_ROWS = 50_000  # training windows it fits on: every k-th beyond that (large panels)


def _steps(X, max_inputs: int = RIDGE_MAX_INPUTS) -> slice:
    """The steps of ``X`` ``(N, T, F)`` the window ridge reads: all, or the last ones within ``max_inputs``."""
    _, t, f = X.shape
    return slice(max(0, t - max(1, max_inputs // f)), t)


class _Subset:
    """The windows ``keep`` of ``X``, indexable like ``X`` by :func:`_rows` (no copy)."""

    def __init__(self, X, keep: np.ndarray):
        self.X, self.keep, self.shape = X, keep, (len(keep), *X.shape[1:])

    def __len__(self) -> int:
        return len(self.keep)

    def batch(self, idx, steps: slice):
        import torch

        idx = self.keep[np.asarray(idx)]
        return (
            self.X.batch(idx, steps) if hasattr(self.X, "batch") else torch.as_tensor(np.asarray(self.X)[idx][:, steps])
        )


def _rows(X, idx: np.ndarray, steps: slice):
    """Flattened windows of ``idx`` in chunks: ``(chunk positions, (len, inputs) float64)``."""
    import torch

    for start in range(0, len(idx), RIDGE_CHUNK):
        part = idx[start : start + RIDGE_CHUNK]
        batch = X.batch(part, steps) if hasattr(X, "batch") else torch.as_tensor(np.asarray(X)[part][:, steps])
        yield slice(start, start + len(part)), batch.reshape(len(part), -1).double().cpu().numpy()


def _sums(X, y: np.ndarray, idx: np.ndarray, steps: slice, on_chunk=None) -> list:
    """Raw sums over the windows of ``idx``: ``[X'X, X'y, sum x, sum y, n]``; ``on_chunk(positions, x)`` sees each
    chunk of flattened windows as it passes (one gather per window)."""
    d = len(range(*steps.indices(X.shape[1]))) * X.shape[2]
    out = [np.zeros((d, d)), np.zeros((d, y.shape[1])), np.zeros(d), y[idx].sum(axis=0), len(idx)]
    for pos, x in _rows(X, idx, steps):
        out[0] += x.T @ x
        out[1] += x.T @ y[idx[pos]]
        out[2] += x.sum(axis=0)
        if on_chunk is not None:
            on_chunk(pos, x)
    return out


def _centred(sums: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centred Gram matrix and cross-products, and the means of the inputs and of y, from :func:`_sums`."""
    xx, xy, sx, sy, n = sums
    mx, my = sx / n, sy / n
    return xx - n * np.outer(mx, mx), xy - n * np.outer(mx, my), mx, my


def window_ridge(
    X_train, y_train: np.ndarray, train_dates: np.ndarray, X_apply: list, gap: int, classification: bool
) -> tuple[list[np.ndarray], np.ndarray]:
    """Ridge regression on the whole window flattened (``T x F`` inputs, the last steps within
    ``RIDGE_MAX_INPUTS``): the baseline that reads every lag the networks read, so that a lagged linear signal is
    in the comparator set. Direction: a linear probability model of the up-label, clipped to [0.01, 0.99];
    regression: the (scaled) target.

    The penalty of each horizon is chosen on the training rows alone: fitted on the earlier 75 % of the training
    dates, scored (mean squared error) on the last 25 % after a purge of ``gap`` dates; then the model is refitted
    on every training row with it. Validation and test days never choose anything here. Every training window is
    gathered once, in chunks (memory O(inputs^2), not O(rows x inputs)); beyond ``RIDGE_MAX_ROWS`` training windows
    (large panels) it fits on every k-th one.

    ``X_train`` ``(n, T, F)`` (lazy :class:`~pipeline.splits.windows.Windows` or an array), ``y_train`` ``(n, H)``,
    ``train_dates`` ``(n,)``; returns the predictions ``(n_i, H)`` for each array of ``X_apply`` and the chosen
    penalty per horizon (in units of the mean eigenvalue of the training Gram matrix)."""
    y = np.asarray(y_train, dtype=np.float64)
    steps = _steps(X_train)
    keep = np.arange(len(y))[:: int(np.ceil(len(y) / RIDGE_MAX_ROWS))]  # a panel of 500 symbols: every k-th window
    if len(keep) < len(y):
        X_train, y, train_dates = _Subset(X_train, keep), y[keep], np.asarray(train_dates)[keep]
    unique = np.unique(train_dates)
    cut = int(len(unique) * 0.75)
    pos = np.searchsorted(unique, train_dates)
    inner, purged, held = (
        np.flatnonzero(pos < cut - gap),
        np.flatnonzero((pos >= cut - gap) & (pos < cut)),
        np.flatnonzero(pos >= cut),
    )
    chosen = np.full(y.shape[1], 1.0)
    parts = [_sums(X_train, y, inner, steps), _sums(X_train, y, purged, steps)]
    if len(inner) > 1 and len(held) > 0:
        gram, xy, mx, my = _centred(parts[0])
        lam, q = np.linalg.eigh(gram)
        scale = max(float(np.mean(lam)), 1e-12)
        qxy = q.T @ xy
        coefs = [q @ (qxy / (np.maximum(lam, 0) + a * scale)[:, None]) for a in RIDGE_PENALTIES]
        sse = np.zeros((len(RIDGE_PENALTIES), y.shape[1]))

        def score(p, x):
            xc = x - mx
            for k, b in enumerate(coefs):
                sse[k] += ((xc @ b + my - y[held[p]]) ** 2).sum(axis=0)

        parts.append(_sums(X_train, y, held, steps, score))
        chosen = RIDGE_PENALTIES[np.argmin(sse, axis=0)]
    else:
        parts.append(_sums(X_train, y, held, steps))
    gram, xy, mx, my = _centred([sum(p[k] for p in parts) for k in range(5)])
    scale = max(float(np.trace(gram)) / len(gram), 1e-12)
    coef = np.column_stack(
        [np.linalg.solve(gram + chosen[j] * scale * np.eye(len(gram)), xy[:, j]) for j in range(y.shape[1])]
    )
    outs = []
    for X in X_apply:
        out = np.empty((len(X), y.shape[1]))
        for p, x in _rows(X, np.arange(len(X)), steps):
            out[p] = (x - mx) @ coef + my
        outs.append(np.clip(out, 0.01, 0.99) if classification else out)
    return outs, chosen
