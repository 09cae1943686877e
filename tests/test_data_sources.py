"""Loading the embedded sample and user CSVs in the NYSE and Yahoo layouts."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.cli.main import main
from pipeline.data import load_macro, load_prices
from pipeline.data.load import read_price_csv
from tests.conftest import yahoo_layout


def test_sample_is_real_and_follows_the_contract(sp500):
    assert sp500.index.name == "date" and sp500.index.is_monotonic_increasing and sp500.index.is_unique
    assert sp500.index[0] == pd.Timestamp("1999-01-04") and sp500.index[-1] == pd.Timestamp("2018-12-31")
    assert list(sp500.columns[:5]) == ["open", "high", "low", "close", "volume"]
    assert sp500.attrs["symbol"] == "SP500"
    # A known real close: S&P 500 on 2008-10-15 closed at 907.84.
    assert sp500.loc["2008-10-15", "close"] == pytest.approx(907.84, abs=0.01)


def test_sample_macro_series_carry_publication_rules():
    series = {m.name: m for m in load_macro("sample", ["vix", "wti", "aaa", "core_cpi"])}
    assert series["core_cpi"].freq == "M" and series["core_cpi"].delay_days >= 10
    first = series["aaa"].values.index[-1]
    assert series["aaa"].available_dates()[-1] > first + pd.offsets.MonthEnd(0)


def test_yahoo_export_reads_case_and_space_insensitively(tmp_path, sp500):
    raw = yahoo_layout(sp500.loc["2016"])
    raw.columns = [" date", "OPEN", "High ", "low", "Close", "adj  close", "VOLUME"]
    path = tmp_path / "spy.csv"
    raw.to_csv(path, index=False)
    frames = read_price_csv(path)
    assert list(frames) == ["SPY"]
    frame = frames["SPY"]
    assert {"open", "high", "low", "close", "adj_close", "volume"} <= set(frame.columns)
    assert frame["close"].iloc[0] == pytest.approx(sp500.loc["2016", "close"].iloc[0])


def test_nyse_layout_picks_symbols(nyse_csv, sp500):
    frames = load_prices("csv", str(nyse_csv), ["IBM"])
    assert list(frames) == ["IBM"]
    assert len(frames["IBM"]) == len(sp500.loc["2012":"2014"])
    both = load_prices("csv", str(nyse_csv), None)
    assert set(both) == {"IBM", "AAPL"}


def test_extra_numeric_columns_become_user_feature_groups(tmp_path, sp500, capsys):
    raw = yahoo_layout(sp500.loc["2015":"2016"])
    raw["News Score"] = range(len(raw))
    raw["comment"] = "text"
    path = tmp_path / "x.csv"
    raw.to_csv(path, index=False)
    out = tmp_path / "f.csv"
    assert main(["features", "--data", str(path), "--features", "ohlcv+extra", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "extra:news_score" in printed.out
    assert "'comment' is not numeric; ignored" in printed.err
    table = pd.read_csv(out, index_col=0)
    assert "extra_news_score" in table.columns


def test_features_command_writes_sample_nyse_and_yahoo(tmp_path, nyse_csv, yahoo_csv, capsys):
    assert main(["features", "--out", str(tmp_path / "s.parquet")]) == 0
    s = pd.read_parquet(tmp_path / "s.parquet")
    assert len(s) > 4000 and "rsi14" in s.columns and "macro_wti_dev" in s.columns
    assert "ma5" not in s.columns and "macro_wti" not in s.columns  # price levels are opt-in (--features all+levels)
    assert main(["features", "--data", str(nyse_csv), "--symbol", "IBM", "--out", str(tmp_path / "n.csv")]) == 0
    assert main(["features", "--data", str(yahoo_csv), "--out", str(tmp_path / "y.csv")]) == 0
    out = capsys.readouterr().out
    assert "warm-up rows dropped" in out and "bollinger" in out
    n = pd.read_csv(tmp_path / "n.csv", index_col="date", parse_dates=True)
    assert n.index.min() >= pd.Timestamp("2012-01-01") and n.notna().all().all()


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.bz2", ".csv.xz", ".zip"])
def test_compressed_csvs_load_like_the_plain_file(tmp_path, sp500, suffix):
    frame = yahoo_layout(sp500.loc["2014":"2015"])
    frame["Date"] = pd.to_datetime(frame["Date"]).dt.strftime("%Y-%m-%d 00:00:00")  # NYSE prices.csv's stamps
    plain, packed = tmp_path / "spx.csv", tmp_path / f"spx{suffix}"
    frame.to_csv(plain, index=False)
    frame.to_csv(
        packed,
        index=False,
        **({"compression": {"method": "zip", "archive_name": "spx.csv"}} if suffix == ".zip" else {}),
    )
    a, b = read_price_csv(plain)["SPX"], read_price_csv(packed)["SPX"]
    pd.testing.assert_frame_equal(a, b)
    assert a.index[0] == pd.Timestamp("2014-01-02") and (a.index == a.index.normalize()).all()


def test_a_damaged_archive_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "prices.csv.gz"
    bad.write_bytes(b"\x1f\x8b\x08" + b"not really gzip" * 20)
    assert main(["run", "--source", "csv", "--data", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "prices.csv.gz: cannot be decompressed as .gz" in err[0]


def test_a_wide_table_of_closes_is_a_panel(tmp_path, sp500):
    """A date column and one close column per symbol (skfolio's datasets, most notebooks): each column a symbol,
    its missing days left out (a symbol that starts later)."""
    closes = sp500.loc["2014":"2015", "close"]
    wide = pd.DataFrame({"Date": closes.index.strftime("%Y-%m-%d"), "AAA": closes.values, "BBB": closes.values * 2})
    wide["CCC"] = closes.values[::-1]
    wide.loc[:9, "CCC"] = None
    wide.to_csv(tmp_path / "closes.csv", index=False)
    got = read_price_csv(tmp_path / "closes.csv")
    assert sorted(got) == ["AAA", "BBB", "CCC"]
    assert len(got["AAA"]) == len(closes) and len(got["CCC"]) == len(closes) - 10
    assert got["BBB"]["close"].iloc[0] == pytest.approx(2 * closes.iloc[0])
    assert got["AAA"][["open", "high", "low", "volume"]].isna().all().all()  # close-only, as the SP20 panel


def test_a_panel_of_survivors_is_warned_about(tmp_path, capsys):
    """Every symbol trading on the panel's last date (the SP20 sample: today's S&P 500 members) gets the
    survivorship warning on the command line; a panel where a symbol stops earlier (delisted) does not."""
    from pipeline.data.dataset import survivorship_warning

    out = tmp_path / "f.csv"
    assert main(["features", "--source", "sample", "--symbols", "AAPL,MSFT,XOM", "--out", str(out)]) == 0
    assert "survivorship: all 3 symbols trade on the panel's last date" in capsys.readouterr().err
    days = pd.bdate_range("2020-01-01", periods=50)
    frame = pd.DataFrame({"close": 1.0}, index=days)
    assert survivorship_warning({"A": frame, "B": frame}) is not None
    assert survivorship_warning({"A": frame, "B": frame.iloc[:40]}) is None
    assert survivorship_warning({"A": frame}) is None
