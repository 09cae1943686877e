"""Shared fixtures: real slices of the embedded sample, written in the layouts users bring."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.data.load import load_sample_prices

# pytest -n 2 runs two workers on two cores: one torch thread each avoids oversubscription.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def sp500() -> pd.DataFrame:
    return load_sample_prices(["SP500"])["SP500"]


@pytest.fixture(scope="session")
def nasdaq() -> pd.DataFrame:
    return load_sample_prices(["NASDAQ"])["NASDAQ"]


def nyse_layout(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The NYSE ``prices.csv`` layout: date, symbol, open, close, low, high, volume."""
    parts = []
    for symbol, frame in frames.items():
        part = frame.reset_index()[["date", "open", "close", "low", "high", "volume"]]
        part.insert(1, "symbol", symbol)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    out["date"] = out["date"].dt.strftime("%Y-%m-%d")
    return out


def yahoo_layout(frame: pd.DataFrame) -> pd.DataFrame:
    """A Yahoo export: Date, Open, High, Low, Close, Adj Close, Volume."""
    out = frame.reset_index()[["date", "open", "high", "low", "close", "adj_close", "volume"]]
    out.columns = ["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]
    out["Date"] = out["Date"].dt.strftime("%Y-%m-%d")
    return out


@pytest.fixture
def yahoo_csv(tmp_path, sp500):
    path = tmp_path / "spx.csv"
    yahoo_layout(sp500.loc["2015":"2016"]).to_csv(path, index=False)
    return path


@pytest.fixture
def nyse_csv(tmp_path, sp500, nasdaq):
    path = tmp_path / "prices.csv"
    nyse_layout({"IBM": sp500.loc["2012":"2014"], "AAPL": nasdaq.loc["2012":"2014"]}).to_csv(path, index=False)
    return path


def random_walk_prices(n: int = 1500, seed: int = 0, start: str = "2005-01-03") -> pd.DataFrame:
    """A geometric random walk in OHLCV form (the negative control of every skill test)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, 0.002, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.003, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.003, n)))
    volume = rng.lognormal(15, 0.3, n)
    index = pd.bdate_range(start, periods=n, name="date")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index)


def planted_signal_prices(n: int = 1600, seed: int = 1, strength: float = 0.006, noise: float = 0.002) -> pd.DataFrame:
    """Prices whose next-day direction is (almost) the sign of a user column known today.

    ``signal`` at t is iid N(0, 1); the return from t to t+1 is ``strength * signal[t] + N(0, noise)``.
    Extra ``noise_a`` / ``noise_b`` columns are pure noise.
    """
    rng = np.random.default_rng(seed)
    signal = rng.normal(0, 1, n)
    ret = np.r_[0.0, strength * signal[:-1] + rng.normal(0, noise, n - 1)]
    close = 100 * np.exp(np.cumsum(ret))
    open_ = close * np.exp(rng.normal(0, 0.001, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.002, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.002, n)))
    index = pd.bdate_range("2005-01-03", periods=n, name="date")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": rng.lognormal(15, 0.3, n),
                         "signal": signal, "noise_a": rng.normal(0, 1, n), "noise_b": rng.normal(0, 1, n)}, index=index)


def write_yahoo(frame: pd.DataFrame, path) -> None:
    out = frame.reset_index().rename(columns={"date": "Date", "open": "Open", "high": "High", "low": "Low",
                                              "close": "Close", "volume": "Volume"})
    out["Date"] = pd.DatetimeIndex(out["Date"]).strftime("%Y-%m-%d")
    out.to_csv(path, index=False)


TINY = ["--window", "20", "--hidden", "8", "--epochs", "4", "--patience", "2", "--bootstrap", "60",
        "--folds", "2", "--no-progress", "--lgbm-lags", "2", "--shap-windows", "40"]
