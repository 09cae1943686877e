"""Simulated daily prices with a known answer, as the CSV files users bring (a Yahoo export with extra
columns): a planted signal the next return follows, and a random walk with nothing to learn. The selftest
and the calibration study's end-to-end cells run the real stages on them."""

from __future__ import annotations

import numpy as np
import pandas as pd


def planted_signal_frame(
    n: int, seed: int = 1, strength: float = 0.006, noise: float = 0.002, lag: int = 1, copy: bool = False
) -> pd.DataFrame:
    """Daily OHLCV whose return from t to t+1 is ``strength * signal[t - lag + 1] + N(0, noise)``; plus noise
    columns (and with ``copy`` a column ``signal_copy = 2 signal + 1``, perfectly correlated with it). With
    ``lag`` beyond the baselines' view (logistic: the last day; LightGBM: ``--lgbm-lags`` days) but inside
    the LSTM's window, only the LSTM can use the signal."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(0, 1, n)
    drive = np.r_[np.zeros(lag - 1), signal[: n - lag + 1]]  # drive[t] = signal[t - lag + 1]
    ret = np.r_[0.0, strength * drive[:-1] + rng.normal(0, noise, n - 1)]
    extra = {"signal": signal, "noise_a": rng.normal(0, 1, n), "noise_b": rng.normal(0, 1, n)}
    return ohlcv_frame(ret, rng, {**extra, "signal_copy": 2 * signal + 1} if copy else extra)


def random_walk_frame(n: int, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return ohlcv_frame(np.r_[0.0, rng.normal(0, 0.01, n - 1)], rng, {})


def ohlcv_frame(ret: np.ndarray, rng: np.random.Generator, extra: dict) -> pd.DataFrame:
    n = len(ret)
    close = 100 * np.exp(np.cumsum(ret))
    open_ = close * np.exp(rng.normal(0, 0.001, n))
    frame = pd.DataFrame(
        {
            "Date": pd.bdate_range("2005-01-03", periods=n).strftime("%Y-%m-%d"),
            "Open": open_,
            "High": np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.002, n))),
            "Low": np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.002, n))),
            "Close": close,
            "Volume": rng.lognormal(15, 0.3, n),
            **extra,
        }
    )
    return frame


def garch_walk_frame(n: int, seed: int = 3, drift_sharpe: float = 0.03, daily_vol: float = 0.01) -> pd.DataFrame:
    """Daily OHLCV of a market with nothing to learn, as users' markets look: Student-t(4) shocks, GARCH(1,1)-like
    volatility clustering (persistence 0.95) and a drift of ``drift_sharpe`` daily Sharpe ratio (about 0.5 a year);
    returns are independent of the past in their sign and mean, so no predictor of the next return has skill."""
    rng = np.random.default_rng(seed)
    z = rng.standard_t(4, n) / np.sqrt(2.0)  # unit variance
    v, r = 1.0, np.empty(n)
    for t in range(n):
        r[t] = np.sqrt(v) * z[t]
        v = 0.05 + 0.9 * v + 0.05 * r[t] ** 2
    ret = daily_vol * (r / r.std() + drift_sharpe)
    ret[0] = 0.0
    return ohlcv_frame(ret, rng, {})
