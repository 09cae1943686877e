"""Technical indicators from the ``ta`` package, each as its own group, also relative to close.

Indicators in price units (MA, Bollinger bands, MACD) are given twice: as the level (listed in
``levels`` so the trainer can log-transform them) and relative to the close, which is stationary.
"""
from __future__ import annotations

import pandas as pd
from ta.momentum import RSIIndicator
from ta.trend import MACD, SMAIndicator
from ta.volatility import BollingerBands

from features.registry import FeatureInput, feature


@feature("technical", levels=("ma5", "ma10", "ma20"))
def moving_averages(inp: FeatureInput) -> dict[str, pd.DataFrame]:
    """Group ``ma``: simple moving averages of close over 5, 10, 20 days and ``close / MA - 1``."""
    close = inp.ohlcv["close"]
    cols = {}
    for window in (5, 10, 20):
        ma = SMAIndicator(close, window=window, fillna=False).sma_indicator()
        cols[f"ma{window}"] = ma
        cols[f"close_ma{window}_rel"] = close / ma - 1.0
    return {"ma": pd.DataFrame(cols, index=close.index)}


@feature("technical")
def rsi(inp: FeatureInput) -> dict[str, pd.DataFrame]:
    """Group ``rsi``: Wilder's 14-day relative strength index (0-100)."""
    close = inp.ohlcv["close"]
    return {"rsi": pd.DataFrame({"rsi14": RSIIndicator(close, window=14, fillna=False).rsi()}, index=close.index)}


@feature("technical")
def macd(inp: FeatureInput) -> dict[str, pd.DataFrame]:
    """Group ``macd``: MACD(12, 26, 9) line, signal and histogram, in price units and divided by close."""
    close = inp.ohlcv["close"]
    ind = MACD(close, window_slow=26, window_fast=12, window_sign=9, fillna=False)
    line, signal, hist = ind.macd(), ind.macd_signal(), ind.macd_diff()
    return {
        "macd": pd.DataFrame(
            {
                "macd": line, "macd_signal": signal, "macd_hist": hist,
                "macd_rel": line / close, "macd_signal_rel": signal / close, "macd_hist_rel": hist / close,
            },
            index=close.index,
        )
    }


@feature("technical", levels=("bb_upper", "bb_lower"))
def bollinger(inp: FeatureInput) -> dict[str, pd.DataFrame]:
    """Group ``bollinger``: 20-day, 2-sigma Bollinger bands: upper, lower, %b, width, bands relative to close."""
    close = inp.ohlcv["close"]
    bb = BollingerBands(close, window=20, window_dev=2, fillna=False)
    upper, lower = bb.bollinger_hband(), bb.bollinger_lband()
    return {
        "bollinger": pd.DataFrame(
            {
                "bb_upper": upper, "bb_lower": lower, "bb_pctb": bb.bollinger_pband(), "bb_width": bb.bollinger_wband(),
                "bb_upper_rel": upper / close - 1.0, "bb_lower_rel": lower / close - 1.0,
            },
            index=close.index,
        )
    }
