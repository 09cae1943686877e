"""Data sources: the embedded sample, user CSV files and yfinance (with a disk cache).

Every source returns a dict ``symbol -> OHLCV frame`` that passed :func:`validate_ohlcv`, and a list of
:class:`features.macro.MacroSeries` where macro data was asked for.
"""

from pipeline.data.load import load_macro, load_prices

__all__ = ["load_prices", "load_macro"]
