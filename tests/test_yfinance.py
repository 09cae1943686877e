"""yfinance source: mocked at ``yfinance.download`` in the shape it really returns; cache behaviour."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.cli.main import main
from pipeline.data import yf as yfsrc


def yf_shape(frame: pd.DataFrame, ticker: str) -> pd.DataFrame:
    """What ``yfinance.download(ticker, auto_adjust=True, multi_level_index=True)`` returns: columns a
    MultiIndex (Price, Ticker) with Close/High/Low/Open/Volume, index 'Date'."""
    data = frame[["close", "high", "low", "open", "volume"]].copy()
    data.columns = pd.MultiIndex.from_tuples(
        [(f, ticker) for f in ["Close", "High", "Low", "Open", "Volume"]], names=["Price", "Ticker"]
    )
    data.index = pd.DatetimeIndex(frame.index, name="Date")
    return data


class FakeDownload:
    def __init__(self, frames: dict[str, pd.DataFrame], fail: Exception | None = None):
        self.frames, self.fail, self.calls = frames, fail, []

    def __call__(self, tickers, start=None, end=None, **kwargs):
        self.calls.append((tickers, start, end, kwargs))
        if self.fail:
            raise self.fail
        frame = self.frames.get(tickers)
        if frame is None:  # unknown ticker: yfinance prints an error and returns an empty frame
            return pd.DataFrame(columns=pd.MultiIndex.from_tuples([], names=["Price", "Ticker"]))
        part = frame.loc[pd.Timestamp(start) : pd.Timestamp(end) - pd.Timedelta(days=1)]
        return yf_shape(part, tickers)


@pytest.fixture
def fake(monkeypatch, sp500):
    import yfinance

    dl = FakeDownload({"AAPL": sp500.loc["2014":"2016"], "^VIX": sp500.loc["2014":"2016"] / 100})
    monkeypatch.setattr(yfinance, "download", dl)
    return dl


def test_download_is_cached_and_topped_up(fake, tmp_path, sp500):
    cache = tmp_path / "cache"
    first = yfsrc.fetch_cached("AAPL", "2015-01-01", "2015-07-01", cache)
    assert len(fake.calls) == 1 and fake.calls[0][3]["auto_adjust"] is True
    assert first.index[0] >= pd.Timestamp("2015-01-01") and first.index[-1] < pd.Timestamp("2015-07-01")
    np.testing.assert_allclose(first["close"].to_numpy(), sp500.loc["2015-01-01":"2015-06-30", "close"].to_numpy())
    again = yfsrc.fetch_cached("AAPL", "2015-02-01", "2015-06-01", cache)
    assert len(fake.calls) == 1 and len(again) > 50  # served from the cache
    more = yfsrc.fetch_cached("AAPL", "2015-01-01", "2015-12-31", cache)
    assert len(fake.calls) == 2
    _, start, end, _ = fake.calls[1]
    assert pd.Timestamp(start) >= pd.Timestamp("2015-06-20") and end == "2015-12-31"  # only the missing tail
    assert more.index.is_unique and more.index[-1] >= pd.Timestamp("2015-12-30")


def test_corrupt_cache_is_detected_and_refetched(fake, tmp_path, capsys):
    cache = tmp_path / "cache"
    yfsrc.fetch_cached("AAPL", "2015-01-01", "2015-03-01", cache)
    path = next(cache.glob("AAPL_*.parquet"))
    path.write_bytes(b"not parquet at all")
    frame = yfsrc.fetch_cached("AAPL", "2015-01-01", "2015-03-01", cache)
    assert len(frame) > 30 and len(fake.calls) == 2
    assert "unreadable" in capsys.readouterr().err
    assert not list(cache.glob("*.tmp"))


def test_run_through_cli_with_macro(fake, tmp_path):
    out = tmp_path / "f.csv"
    rc = main(
        [
            "features",
            "--source",
            "yfinance",
            "--symbols",
            "AAPL",
            "--macro",
            "^VIX",
            "--start",
            "2014-01-01",
            "--end",
            "2016-12-31",
            "--cache-dir",
            str(tmp_path / "c"),
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    table = pd.read_csv(out, index_col=0)
    assert {"macro_vix_dev", "macro_vix_chg", "rsi14"} <= set(table.columns)


def test_unknown_ticker_is_a_clear_error(fake, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(yfsrc, "yahoo_reachable", lambda symbol="", timeout=3.0: True)
    rc = main(
        [
            "features",
            "--source",
            "yfinance",
            "--symbols",
            "NOPE",
            "--features",
            "ohlcv",
            "--cache-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "o.csv"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "no data for 'NOPE'" in err and "unknown or delisted" in err and "--source sample" in err
    assert "Traceback" not in err


def test_no_network_is_named_as_such(fake, tmp_path, capsys, monkeypatch):
    """yfinance prints network errors and returns an empty frame: the error must blame the network, not the ticker."""
    import yfinance.shared as shared

    monkeypatch.setitem(
        shared._ERRORS, "AAPL", "Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com"
    )
    monkeypatch.setattr(fake, "frames", {}, raising=False)
    rc = main(
        [
            "features",
            "--source",
            "yfinance",
            "--symbols",
            "AAPL",
            "--features",
            "ohlcv",
            "--cache-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "o.csv"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "no network connection to Yahoo Finance" in err and "--offline" in err
    assert "delisted" not in err


def test_network_failure_is_a_clear_error(monkeypatch, tmp_path, capsys):
    import yfinance

    monkeypatch.setattr(yfinance, "download", FakeDownload({}, fail=ConnectionError("Failed to resolve host")))
    rc = main(
        [
            "features",
            "--source",
            "yfinance",
            "--symbols",
            "AAPL",
            "--features",
            "ohlcv",
            "--cache-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "o.csv"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "try again later" in err and "--offline" in err
    assert not list(tmp_path.glob("*.parquet"))


def test_offline_uses_cache_only(fake, tmp_path, capsys):
    rc = main(
        [
            "features",
            "--source",
            "yfinance",
            "--symbols",
            "AAPL",
            "--features",
            "ohlcv",
            "--offline",
            "--cache-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "o.csv"),
        ]
    )
    assert rc == 2 and "no cache for AAPL" in capsys.readouterr().err
    yfsrc.fetch_cached("AAPL", "2015-01-01", "2016-01-01", tmp_path)
    calls = len(fake.calls)
    rc = main(
        [
            "features",
            "--source",
            "yfinance",
            "--symbols",
            "AAPL",
            "--features",
            "ohlcv",
            "--offline",
            "--start",
            "2015-01-01",
            "--end",
            "2016-01-01",
            "--cache-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "o.csv"),
        ]
    )
    assert rc == 0 and len(fake.calls) == calls


def test_split_between_downloads_refetches_the_whole_range(monkeypatch, tmp_path, sp500, capsys):
    """Day 1: the cache is filled. A 2:1 split happens in September; Yahoo now returns every earlier price
    halved (auto-adjusted). Day 2's top-up sees the overlap disagree and downloads everything again. Joining
    the two downloads, as before, would leave a false -50% jump at the join."""
    import yfinance

    history = sp500.loc["2014":"2016"].copy()
    dl = FakeDownload({"AAPL": history})
    monkeypatch.setattr(yfinance, "download", dl)
    cache = tmp_path / "cache"
    yfsrc.fetch_cached("AAPL", "2015-01-01", "2015-07-01", cache)
    first_meta = yfsrc._read_cache(next(cache.glob("AAPL_*.parquet")))[1]
    assert first_meta["downloaded_at"] and first_meta["updated_at"]

    # the raw price halves on the split day; Yahoo's auto-adjusted series, seen after it, is halved throughout
    adjusted = history.copy()
    adjusted[["open", "high", "low", "close"]] /= 2.0
    adjusted["volume"] *= 2.0
    dl.frames["AAPL"] = adjusted
    frame = yfsrc.fetch_cached("AAPL", "2015-01-01", "2016-01-01", cache)

    assert len(dl.calls) == 3  # first fill, the top-up with its overlap, then the whole range again
    assert (dl.calls[2][1], dl.calls[2][2]) == ("2015-01-01", "2016-01-01")
    expected = adjusted.loc["2015-01-01":"2015-12-31", "close"].to_numpy()
    np.testing.assert_allclose(frame["close"].to_numpy(), expected)
    assert np.abs(np.diff(np.log(frame["close"].to_numpy()))).max() < 0.1  # no false 50% jump at the join
    assert "prices changed since the cached download" in capsys.readouterr().err
    meta = yfsrc._read_cache(next(cache.glob("AAPL_*.parquet")))[1]
    assert meta["downloaded_at"] >= first_meta["downloaded_at"] and meta["covered_end"] == "2016-01-01"


def test_unchanged_overlap_keeps_the_cache_and_only_tops_up(fake, tmp_path, capsys):
    cache = tmp_path / "cache"
    yfsrc.fetch_cached("AAPL", "2015-03-01", "2015-07-01", cache)
    yfsrc.fetch_cached("AAPL", "2015-01-01", "2015-12-31", cache)  # both ends missing: two top-ups, both overlap
    assert len(fake.calls) == 3 and "prices changed" not in capsys.readouterr().err
    early, late = fake.calls[1], fake.calls[2]
    assert early[1] == "2015-01-01" and pd.Timestamp(early[2]) > pd.Timestamp("2015-03-01")
    assert pd.Timestamp(late[1]) < pd.Timestamp("2015-07-01") and late[2] == "2015-12-31"
