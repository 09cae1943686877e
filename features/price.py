"""Price and volume transforms: returns, log returns, ranges, gaps, log volume, volume z-score."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.registry import FeatureInput, feature


@feature("ohlcv")
def return_transforms(inp: FeatureInput) -> dict[str, pd.DataFrame]:
    """Group ``price``: simple and log close-to-close return and the 5-day log return (close only)."""
    o = inp.ohlcv
    close = o["close"].to_numpy(float)
    log_close = np.log(close)
    prev_close = np.r_[np.nan, close[:-1]]
    return {
        "price": pd.DataFrame(
            {
                "ret_1": close / prev_close - 1.0,
                "logret_1": np.r_[np.nan, np.diff(log_close)],
                "logret_5": np.r_[np.full(min(5, len(close)), np.nan), log_close[5:] - log_close[:-5]],
            },
            index=o.index,
        )
    }


@feature("ohlcv", needs=("open", "high", "low", "close"))
def range_transforms(inp: FeatureInput) -> dict[str, pd.DataFrame]:
    """Group ``price`` (continued): high-low range ``(high - low) / close``, intraday return
    ``close / open - 1`` and overnight gap ``open / close[t-1] - 1``."""
    o = inp.ohlcv
    close, open_ = o["close"].to_numpy(float), o["open"].to_numpy(float)
    prev_close = np.r_[np.nan, close[:-1]]
    return {
        "price": pd.DataFrame(
            {
                "hl_range": (o["high"].to_numpy(float) - o["low"].to_numpy(float)) / close,
                "oc_ret": close / open_ - 1.0,
                "gap": open_ / prev_close - 1.0,
            },
            index=o.index,
        )
    }


@feature("ohlcv", needs=("volume",))
def volume_transforms(inp: FeatureInput) -> dict[str, pd.DataFrame]:
    """Group ``volume``: volume relative to its 20-day mean, ``log((1 + volume) / (1 + mean_20))``, and the 20-day z-score
    of volume (rolling mean and std up to t). Scale-free; ``log(1 + volume)`` is in the ``levels`` set."""
    volume = inp.ohlcv["volume"]
    roll = volume.rolling(20, min_periods=20)
    mean, std = roll.mean().to_numpy(), roll.std().to_numpy()
    v = volume.to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(std > 0, (v - mean) / std, np.nan)
        rel = np.log1p(v) - np.log1p(mean)
    return {"volume": pd.DataFrame({"volume_rel20": rel, "volume_z20": z}, index=volume.index)}
