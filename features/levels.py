"""The opt-in ``levels`` set: indicators in price (and volume) units, e.g. ``--features all+levels``.

Levels drift with the market: on a 20-year index, most late test windows lie above every training value,
so every model, baseline and importance method extrapolates (the run's covariate-shift check says so).
They are log-transformed before scaling (``levels=`` below) unless ``--no-log-transform``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from ta.trend import MACD, SMAIndicator
from ta.volatility import BollingerBands

from features.registry import FeatureInput, feature


@feature("levels", levels=("ma5", "ma10", "ma20"))
def moving_average_levels(inp: FeatureInput) -> dict[str, pd.DataFrame]:
    """Group ``ma_level``: simple moving averages of close over 5, 10, 20 days, in price units (ta)."""
    close = inp.ohlcv["close"]
    return {
        "ma_level": pd.DataFrame(
            {f"ma{w}": SMAIndicator(close, window=w, fillna=False).sma_indicator() for w in (5, 10, 20)},
            index=close.index,
        )
    }


@feature("levels", levels=("bb_upper", "bb_lower"))
def bollinger_levels(inp: FeatureInput) -> dict[str, pd.DataFrame]:
    """Group ``bollinger_level``: 20-day, 2-sigma Bollinger upper and lower band, in price units (ta)."""
    bb = BollingerBands(inp.ohlcv["close"], window=20, window_dev=2, fillna=False)
    return {
        "bollinger_level": pd.DataFrame(
            {"bb_upper": bb.bollinger_hband(), "bb_lower": bb.bollinger_lband()}, index=inp.ohlcv.index
        )
    }


@feature("levels")
def macd_levels(inp: FeatureInput) -> dict[str, pd.DataFrame]:
    """Group ``macd_level``: MACD(12, 26, 9) line, signal and histogram in price units (ta)."""
    ind = MACD(inp.ohlcv["close"], window_slow=26, window_fast=12, window_sign=9, fillna=False)
    return {
        "macd_level": pd.DataFrame(
            {"macd": ind.macd(), "macd_signal": ind.macd_signal(), "macd_hist": ind.macd_diff()}, index=inp.ohlcv.index
        )
    }


@feature("levels", needs=("volume",))
def volume_level(inp: FeatureInput) -> dict[str, pd.DataFrame]:
    """Group ``volume_level``: ``log(1 + volume)``."""
    return {
        "volume_level": pd.DataFrame(
            {"log_volume": np.log1p(inp.ohlcv["volume"].to_numpy(float))}, index=inp.ohlcv.index
        )
    }
