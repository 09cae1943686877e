"""Technical indicators from the ``ta`` package, each as its own group, in scale-free form.

Indicators in price units (moving averages, Bollinger bands, MACD) enter the default sets only relative
to the close (``close / MA - 1``, ``%b``, band width, ``MACD / close``): their distribution does not drift
with the price level, so test windows stay inside the range the model was trained on. The raw levels
live in :mod:`features.levels` (set ``levels``, opt-in).
"""

from __future__ import annotations

import pandas as pd
from ta.momentum import RSIIndicator
from ta.trend import MACD, SMAIndicator
from ta.volatility import BollingerBands

from features.registry import FeatureInput, feature


@feature("technical")
def moving_averages(inp: FeatureInput) -> dict[str, pd.DataFrame]:
    """Group ``ma``: ``close / SMA_n - 1`` for simple moving averages of close over n = 5, 10, 20 days (ta)."""
    close = inp.ohlcv["close"]
    cols = {
        f"close_ma{w}_rel": close / SMAIndicator(close, window=w, fillna=False).sma_indicator() - 1.0
        for w in (5, 10, 20)
    }
    return {"ma": pd.DataFrame(cols, index=close.index)}


@feature("technical")
def rsi(inp: FeatureInput) -> dict[str, pd.DataFrame]:
    """Group ``rsi``: Wilder's 14-day relative strength index (0-100)."""
    close = inp.ohlcv["close"]
    return {"rsi": pd.DataFrame({"rsi14": RSIIndicator(close, window=14, fillna=False).rsi()}, index=close.index)}


@feature("technical")
def macd(inp: FeatureInput) -> dict[str, pd.DataFrame]:
    """Group ``macd``: MACD(12, 26, 9) line, signal and histogram divided by the close (ta)."""
    close = inp.ohlcv["close"]
    ind = MACD(close, window_slow=26, window_fast=12, window_sign=9, fillna=False)
    return {
        "macd": pd.DataFrame(
            {
                "macd_rel": ind.macd() / close,
                "macd_signal_rel": ind.macd_signal() / close,
                "macd_hist_rel": ind.macd_diff() / close,
            },
            index=close.index,
        )
    }


@feature("technical")
def bollinger(inp: FeatureInput) -> dict[str, pd.DataFrame]:
    """Group ``bollinger``: 20-day, 2-sigma Bollinger bands as %b, width, and bands relative to close (ta)."""
    close = inp.ohlcv["close"]
    bb = BollingerBands(close, window=20, window_dev=2, fillna=False)
    return {
        "bollinger": pd.DataFrame(
            {
                "bb_pctb": bb.bollinger_pband(),
                "bb_width": bb.bollinger_wband(),
                "bb_upper_rel": bb.bollinger_hband() / close - 1.0,
                "bb_lower_rel": bb.bollinger_lband() / close - 1.0,
            },
            index=close.index,
        )
    }
