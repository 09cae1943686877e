"""Build the embedded samples (``pipeline/data/sample/*.parquet``) from real series packaged by ``arch``
and ``skfolio``.

Run once by maintainers (``pip install arch skfolio`` first); the output is committed so users need no
network.

* ``prices.parquet``: long OHLCV, columns ``date, symbol, open, high, low, close, adj_close, volume`` for
  the S&P 500 (``SP500``) and NASDAQ Composite (``NASDAQ``) daily, 1999-01-04 .. 2018-12-31.
* ``macro.parquet``: long macro observations, columns ``date, series, value``: ``vix`` (CBOE VIX close,
  2014-2019), ``wti`` (WTI crude spot, FRED DCOILWTICO, 1986-2019), ``aaa`` / ``baa`` (Moody's seasoned
  corporate bond yields, monthly averages, FRED), ``core_cpi`` (CPI less food and energy, monthly, FRED).
* ``sp20.parquet``: long, close-only, columns ``date, symbol, close``: the daily adjusted closes of 20
  S&P 500 constituents, 1990-01-02 .. 2022-12-28, from ``skfolio.datasets.load_sp500_dataset`` (skfolio,
  BSD-3-Clause; the data are Yahoo Finance adjusted closes that skfolio ships for examples and tests).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "pipeline" / "data" / "sample"


def build() -> None:
    import arch.data.core_cpi
    import arch.data.default
    import arch.data.nasdaq
    import arch.data.sp500
    import arch.data.vix
    import arch.data.wti

    frames = []
    for symbol, module in (("SP500", arch.data.sp500), ("NASDAQ", arch.data.nasdaq)):
        raw = module.load()
        frame = pd.DataFrame(
            {
                "date": pd.DatetimeIndex(raw.index).tz_localize(None),
                "symbol": symbol,
                "open": raw["Open"].to_numpy(float),
                "high": raw["High"].to_numpy(float),
                "low": raw["Low"].to_numpy(float),
                "close": raw["Close"].to_numpy(float),
                "adj_close": raw["Adj Close"].to_numpy(float),
                "volume": raw["Volume"].to_numpy(float),
            }
        )
        frames.append(frame)
    prices = pd.concat(frames, ignore_index=True)
    prices["symbol"] = prices["symbol"].astype("category")

    series = {
        "vix": arch.data.vix.load()["vix"],
        "wti": arch.data.wti.load()["DCOILWTICO"],
        "aaa": arch.data.default.load()["AAA"],
        "baa": arch.data.default.load()["BAA"],
        "core_cpi": arch.data.core_cpi.load()["CPILFESL"],
    }
    macro = pd.concat(
        [
            pd.DataFrame({"date": pd.DatetimeIndex(s.index), "series": name, "value": s.to_numpy(float)}).dropna()
            for name, s in series.items()
        ],
        ignore_index=True,
    )
    macro["series"] = macro["series"].astype("category")

    OUT.mkdir(parents=True, exist_ok=True)
    prices.to_parquet(OUT / "prices.parquet", index=False, compression="zstd")
    macro.to_parquet(OUT / "macro.parquet", index=False, compression="zstd")
    print(f"wrote {len(prices)} price rows and {len(macro)} macro rows to {OUT}")
    build_sp20()


def build_sp20() -> None:
    """The file ``skfolio.datasets.load_sp500_dataset()`` reads, located without importing skfolio (whose
    package import pulls in cvxpy)."""
    import importlib.util

    spec = importlib.util.find_spec("skfolio")
    if spec is None or spec.origin is None:
        raise SystemExit("pip install skfolio first")
    path = Path(spec.origin).parent / "datasets" / "data" / "sp500_dataset.csv.gz"
    wide = pd.read_csv(path, index_col=0)
    wide.index = pd.DatetimeIndex(pd.to_datetime(wide.index, format="%Y-%m-%d"), name="date")
    long = wide.rename_axis(columns="symbol").stack().rename("close").reset_index()
    long = long[long["close"] > 0].sort_values(["symbol", "date"])
    long["symbol"] = long["symbol"].astype("category")
    long.to_parquet(OUT / "sp20.parquet", index=False, compression="zstd")
    print(f"wrote {len(long)} close rows of {long['symbol'].nunique()} symbols to {OUT / 'sp20.parquet'}")


if __name__ == "__main__":
    build()
