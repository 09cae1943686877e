"""Targets from the future only, and leakage guards of windows, folds and preprocessing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.config.schema import RunConfig
from pipeline.stages.prepare import prepare
from pipeline.targets.core import make_target, momentum, persistence
from pipeline.splits.windows import Preprocessor, training_rows


def test_target_definitions():
    close = pd.Series([100.0, 110.0, 99.0, 120.0, 90.0], index=pd.bdate_range("2020-01-01", periods=5))
    np.testing.assert_array_equal(make_target(close, "direction", 1).to_numpy()[:4], [1, 0, 1, 0])
    np.testing.assert_allclose(make_target(close, "return", 2).iloc[0], np.log(99 / 100))
    np.testing.assert_allclose(make_target(close, "mean_close", 2).iloc[0], (110 + 99) / 2 / 100 - 1)
    np.testing.assert_allclose(make_target(close, "drawdown", 3).iloc[0], 99 / 110 - 1)
    np.testing.assert_allclose(
        make_target(close, "volatility", 2).iloc[0], np.sqrt(np.log(1.1) ** 2 + np.log(99 / 110) ** 2)
    )
    assert make_target(close, "return", 2).iloc[-2:].isna().all()
    assert make_target(close, "return", 1).name == "return_h1"


@pytest.mark.parametrize("kind", ["direction", "return", "drawdown", "volatility"])
def test_persistence_and_momentum_are_causal(sp500, kind):
    close = sp500["close"].iloc[:400]
    full = persistence(close, kind, 5)
    for cut in (50, 200, 399):
        part = persistence(close.iloc[:cut], kind, 5)
        pd.testing.assert_series_equal(part, full.iloc[:cut])
    pd.testing.assert_series_equal(momentum(close.iloc[:100], 5), momentum(close, 5).iloc[:100])


@pytest.fixture(scope="module")
def exp():
    cfg = RunConfig(
        symbols=["SP500", "NASDAQ"],
        features="ohlcv+technical",
        start="2008-01-01",
        end="2013-12-31",
        window=20,
        horizons=[1, 5],
        folds=2,
        progress=False,
    ).validate()
    return prepare(cfg)


def test_purge_gap_between_train_val_and_test(exp):
    dates = np.unique(exp.ws.dates)
    pos = lambda d: np.searchsorted(dates, d)  # noqa: E731
    for fold in exp.folds:
        last_train = pos(exp.ws.dates[fold.train].max())
        first_val, last_val = pos(exp.ws.dates[fold.val].min()), pos(exp.ws.dates[fold.val].max())
        first_test = pos(exp.ws.dates[fold.test].min())
        assert first_val - last_train - 1 >= max(exp.cfg.horizons)
        assert first_test - last_val - 1 >= max(exp.cfg.horizons)


def test_no_test_date_in_any_training_window(exp):
    ws = exp.ws
    for fold in exp.folds:
        test_dates = set(ws.dates[fold.test].tolist())
        rows = ws.ends[fold.train][:, None] + np.arange(-ws.window + 1, 1)[None, :]
        window_dates = set(ws.row_dates[rows].ravel().tolist())
        assert not (test_dates & window_dates)
        # the label of the last training sample ends before the first validation date
        assert ws.dates[fold.train].max() < ws.dates[fold.val].min()


def test_windows_never_cross_symbols(exp):
    ws = exp.ws
    rows = ws.ends[:, None] + np.arange(-ws.window + 1, 1)[None, :]
    assert (ws.row_symbols[rows] == ws.symbols[:, None]).all()
    assert set(ws.symbols) == {"SP500", "NASDAQ"}


def test_scaler_statistics_come_from_training_rows_only(exp):
    ws, fold = exp.ws, exp.folds[0]
    fd = exp.fold(fold.number)
    last_train_date = ws.dates[fold.train].max()
    first_window_date = ws.row_dates[ws.ends[fold.train].min() - ws.window + 1]
    mask = (ws.row_dates <= last_train_date) & (ws.row_dates >= first_window_date)
    rows = training_rows(ws, fold.train)
    assert set(rows.tolist()) == set(np.flatnonzero(mask).tolist())
    manual = Preprocessor("standard", fd.pre.log_columns).fit(ws.rows[mask])
    np.testing.assert_allclose(fd.pre.center_, manual.center_)
    np.testing.assert_allclose(fd.pre.scale_, manual.scale_)
    # and they differ from statistics that include the test period
    leaky = Preprocessor("standard", fd.pre.log_columns).fit(ws.rows)
    assert not np.allclose(fd.pre.center_, leaky.center_)


@pytest.mark.parametrize("scaler", ["standard", "robust", "minmax"])
def test_preprocessor_variants_and_clipping(scaler):
    rng = np.random.default_rng(0)
    train = rng.lognormal(0, 1, (500, 3))
    pre = Preprocessor(scaler, (0,), 0.01).fit(train)
    out = pre.transform(train)
    assert np.isfinite(out).all()
    assert out[:, 1].max() <= (pre.high_[1] - pre.center_[1]) / pre.scale_[1] + 1e-9


def test_lazy_windows_gather_exactly_the_materialised_windows():
    """Every way the pipeline reads windows (batches, last-k steps, one step, column subsets, permuted
    groups, shadows, subsets) equals the same operation on the materialised (N, T, F) array, bit for bit."""
    from explain.common import shadow_columns
    from pipeline.splits.windows import Windows

    rng = np.random.default_rng(0)
    R, F, T = 400, 7, 6
    rows = rng.normal(size=(R, F)).astype(np.float32)
    ends = np.sort(rng.choice(np.arange(T - 1, R), size=120, replace=False))
    W = Windows(rows, ends, T)
    X = rows[ends[:, None] + np.arange(-T + 1, 1)[None, :]]  # the materialised reference
    assert W.shape == X.shape and len(W) == len(X)
    np.testing.assert_array_equal(np.asarray(W), X)
    idx = rng.permutation(len(X))[:37]
    np.testing.assert_array_equal(W[idx], X[idx])
    np.testing.assert_array_equal(W[5], X[5])
    np.testing.assert_array_equal(W[3:50], X[3:50])
    np.testing.assert_array_equal(W[:, -2:, :], X[:, -2:, :])
    np.testing.assert_array_equal(W[:, -1, :], X[:, -1, :])
    np.testing.assert_array_equal(W[:, 0, :], X[:, 0, :])
    keep = np.array([0, 2, 5])
    np.testing.assert_array_equal(np.asarray(W[:, :, keep]), X[:, :, keep])
    np.testing.assert_array_equal(W.batch(torch.as_tensor(idx)).numpy(), X[idx])
    # a group's whole windows permuted across samples (permutation importance)
    cols, perm = np.array([1, 4]), rng.permutation(len(X))
    Xp = X.copy()
    Xp[:, :, cols] = X[perm][:, :, cols]
    P = W.permuted(cols, perm)
    np.testing.assert_array_equal(np.asarray(P), Xp)
    np.testing.assert_array_equal(P[idx], Xp[idx])
    np.testing.assert_array_equal(
        np.asarray(P.permuted(np.array([4, 6]), perm[::-1].copy())), _permute(Xp, np.array([4, 6]), perm[::-1])
    )
    # Boruta shadows, drawn from the same random stream
    groups = {"a": np.array([0, 1]), "b": np.array([6, 3]), "c": np.array([2])}
    S = W.with_shadows(groups, np.random.default_rng(7))
    ref = np.concatenate([X, shadow_columns(X, groups, np.random.default_rng(7))], axis=-1)
    np.testing.assert_array_equal(np.asarray(S), ref)
    np.testing.assert_array_equal(S[:, -3:, :], ref[:, -3:, :])
    np.testing.assert_array_equal(np.asarray(S[:, :, np.array([1, 8, 10])]), ref[:, :, [1, 8, 10]])
    np.testing.assert_array_equal(np.asarray(S.take(idx)), ref[idx])
    np.testing.assert_array_equal(np.asarray(W.to("cpu")), X)


def _permute(X, cols, perm):
    out = X.copy()
    out[:, :, cols] = X[perm][:, :, cols]
    return out


def test_pipeline_windows_match_the_reference_gather(sp500):
    """The run's fold data read the same windows as WindowSet.gather."""
    from pipeline.config.schema import RunConfig
    from pipeline.stages.prepare import prepare
    from pipeline.data.dataset import build_dataset

    cfg = RunConfig(features="ohlcv+technical", window=12, folds=2, progress=False).validate()
    dataset = build_dataset("sample", None, ["SP500"], cfg.features, None, "2010-01-01", "2013-01-01")
    exp = prepare(cfg, dataset)
    fd = exp.fold_data[0]
    rows = fd.pre.transform(exp.ws.rows).astype(np.float32)
    for part, idx in ((fd.X_train, exp.folds[0].train), (fd.X_test, exp.folds[0].test)):
        np.testing.assert_array_equal(np.asarray(part), exp.ws.gather(rows, idx))
