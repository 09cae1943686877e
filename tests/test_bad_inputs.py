"""Every bad input gets one clear line, exit code 2, no traceback, and no output file."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from pipeline.cli.main import main
from tests.conftest import yahoo_layout


def _yahoo(sp500, tmp_path, mutate, name="bad.csv"):
    raw = yahoo_layout(sp500.loc["2014":"2015"]).astype({"Open": object, "Close": object, "Date": object})
    raw = mutate(raw)
    path = tmp_path / name
    if isinstance(raw, (bytes, str)):
        path.write_bytes(raw if isinstance(raw, bytes) else raw.encode())
    else:
        raw.to_csv(path, index=False)
    return path


def _set(raw, row, col, value):
    raw.loc[row, col] = value
    return raw


CASES = {
    "empty": (lambda r: b"", ["is empty"]),
    "header_only": (lambda r: "Date,Open,High,Low,Close,Adj Close,Volume\n", ["header only"]),
    "missing_column": (lambda r: r.drop(columns=["Close"]), ["missing column close"]),
    "non_numeric": (lambda r: _set(r, 10, "Close", "abc"), ["'close'", "non-numeric", "'abc'", "line 12"]),
    "bad_date": (lambda r: _set(r, 5, "Date", "2015-13-45"), ["unparseable", "'2015-13-45'", "line 7"]),
    "conflicting_duplicate": (lambda r: _set(r, 3, "Date", r.loc[2, "Date"]), ["duplicate date", "line"]),
    "nan_block": (
        lambda r: _set(_set(r, 20, "Close", np.nan), 21, "Close", np.nan),
        ["'close'", "2 empty/NaN", "line 22"],
    ),
    "inf": (lambda r: _set(r, 30, "Open", "inf"), ["'open'", "infinite", "line 32"]),
    "non_positive": (lambda r: _set(r, 40, "Close", -1.0), ["'close'", "non-positive", "line 42"]),
    "high_below_low": (lambda r: _set(r, 50, "High", 1.0), ["high < low", "line 52"]),
    "binary": (lambda r: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200), ["binary file"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_csv_gets_one_clear_line_and_exit_2(case, sp500, tmp_path, capsys):
    mutate, needles = CASES[case]
    path = _yahoo(sp500, tmp_path, mutate)
    out = tmp_path / "features.csv"
    rc = main(["features", "--data", str(path), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    line = [l for l in err.splitlines() if l.startswith("error:")]
    assert len(line) == 1, err
    assert str(path) in line[0] or case in {"missing_column"}
    for needle in needles:
        assert needle in line[0], (needle, line[0])
    assert "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".features.csv*"))


def test_unknown_symbol_in_long_file(nyse_csv, tmp_path, capsys):
    rc = main(["features", "--data", str(nyse_csv), "--symbol", "ZZZZ", "--out", str(tmp_path / "o.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and "'ZZZZ' not in the file" in err and "--symbol" in err


def test_unknown_sample_symbol_and_missing_file(tmp_path, capsys):
    assert main(["features", "--symbol", "FOO", "--out", str(tmp_path / "o.csv")]) == 2
    assert "unknown symbol 'FOO'" in capsys.readouterr().err
    assert main(["features", "--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o.csv")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_bad_output_extension(tmp_path, capsys):
    assert main(["features", "--out", str(tmp_path / "o.xlsx")]) == 2
    assert "unknown output type" in capsys.readouterr().err


def test_too_short_series(sp500, tmp_path, capsys):
    path = tmp_path / "short.csv"
    yahoo_layout(sp500.iloc[:20]).to_csv(path, index=False)
    assert main(["features", "--data", str(path), "--out", str(tmp_path / "o.csv")]) == 2
    assert "no date has every feature defined" in capsys.readouterr().err


def test_unsorted_and_exact_duplicates_are_repaired_with_a_warning(sp500, tmp_path, capsys):
    raw = yahoo_layout(sp500.loc["2014":"2015"])
    raw = raw.iloc[::-1]
    raw = pd.concat([raw, raw.iloc[[5]]])
    path = tmp_path / "rev.csv"
    raw.to_csv(path, index=False)
    assert main(["features", "--data", str(path), "--out", str(tmp_path / "o.csv")]) == 0
    err = capsys.readouterr().err
    assert "not in ascending order; sorted" in err and "exact duplicate" in err


def test_split_like_jump_is_warned_with_its_date(sp500, tmp_path, capsys):
    raw = yahoo_layout(sp500.loc["2014":"2015"])
    cut = 100
    for col in ["Open", "High", "Low", "Close", "Adj Close"]:
        raw.loc[cut:, col] = raw.loc[cut:, col] / 2.0
    path = tmp_path / "split.csv"
    raw.to_csv(path, index=False)
    assert main(["features", "--data", str(path), "--out", str(tmp_path / "o.csv")]) == 0
    err = capsys.readouterr().err
    assert "look like a stock split" in err and raw.loc[cut, "Date"] in err and "adjusted" in err


def test_real_process_exit_code_and_no_traceback(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "features", "--data", str(path), "--out", str(tmp_path / "o.csv")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
