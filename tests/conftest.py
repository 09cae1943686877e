"""Shared fixtures: real slices of the embedded sample, written in the layouts users bring."""

from __future__ import annotations

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


TINY = [
    "--window",
    "20",
    "--hidden",
    "8",
    "--epochs",
    "4",
    "--patience",
    "2",
    "--bootstrap",
    "100",
    "--folds",
    "2",
    "--no-progress",
    "--lgbm-lags",
    "2",
    "--shap-windows",
    "40",
]


# The smallest run that exercises every stage: one fold, one epoch, a 5-day window, OHLCV features.
FAST = [
    "--features",
    "ohlcv",
    "--window",
    "5",
    "--hidden",
    "4",
    "--epochs",
    "1",
    "--folds",
    "1",
    "--bootstrap",
    "0",
    "--horizons",
    "1",
    "--lgbm-lags",
    "1",
    "--shap-windows",
    "10",
    "--no-progress",
]


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory, sp500):
    """Two years of the real S&P 500 sample as a Yahoo export."""
    path = tmp_path_factory.mktemp("tiny") / "spx.csv"
    yahoo_layout(sp500.loc["2014":"2015"]).to_csv(path, index=False)
    return path
