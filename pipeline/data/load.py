"""Load prices and macro series from the embedded sample, a user CSV or yfinance.

``load_prices`` is the one entry point the CLI uses; it dispatches on ``source`` and validates every frame.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from features.macro import MacroSeries
from pipeline.data.validate import validate_ohlcv
from pipeline.errors import InputError, warn

SAMPLE_SYMBOLS = ("SP500", "NASDAQ")
SP20 = "SP20"  # the close-only panel of 20 S&P 500 constituents (sample/sp20.parquet)
# Sample macro series: (freq, publication delay, change kind). Daily closes are used from the next
# business day (VIX settles after the equity close; FRED posts WTI a day later); monthly averages and
# CPI after their release following the month's end.
SAMPLE_MACRO = {
    "vix": ("D", 1, "log"),
    "wti": ("D", 1, "log"),
    "aaa": ("M", 3, "diff"),
    "baa": ("M", 3, "diff"),
    "core_cpi": ("M", 20, "log"),
}
# The default macro list on the sample leaves out VIX: it only covers 2014-2019 and would cut the
# 1999-2018 price history to four years. Ask for it with --macro vix,... .
SAMPLE_MACRO_DEFAULT = ("wti", "aaa", "baa", "core_cpi")
YF_MACRO_DEFAULT = ("^VIX", "^TNX", "DX-Y.NYB", "GC=F", "CL=F")

COLUMN_ALIASES = {
    "date": "date",
    "datetime": "date",
    "timestamp": "date",
    "time": "date",
    "symbol": "symbol",
    "ticker": "symbol",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "adjclose": "adj_close",
    "adjustedclose": "adj_close",
    "volume": "volume",
    "vol": "volume",
}


def _sample_path(name: str) -> Path:
    return Path(str(resources.files("pipeline").joinpath("data", "sample", name)))


def load_sample_prices(symbols: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """The embedded samples: S&P 500 / NASDAQ daily OHLCV (1999-2018, from ``arch.data``) and the
    close-only panel of 20 S&P 500 constituents (1990-2022, from ``skfolio``): ``SP20`` selects all 20,
    a ticker such as ``AAPL`` one of them."""
    long = pd.read_parquet(_sample_path("prices.parquet"))
    long["symbol"] = long["symbol"].astype(str)
    wanted = [s.upper() for s in (symbols or ["SP500"])]
    panel = None
    if any(s not in SAMPLE_SYMBOLS for s in wanted):
        panel = pd.read_parquet(_sample_path("sp20.parquet"))
        panel["symbol"] = panel["symbol"].astype(str)
        members = sorted(panel["symbol"].unique())
        wanted = [m for s in wanted for m in (members if s == SP20 else [s])]
    out = {}
    for symbol in dict.fromkeys(wanted):
        part = long[long["symbol"] == symbol] if symbol in SAMPLE_SYMBOLS else panel[panel["symbol"] == symbol]
        if part.empty:
            raise InputError(
                f"embedded sample: unknown symbol {symbol!r}; the sample holds {', '.join(SAMPLE_SYMBOLS)}, and {SP20} "
                f"(20 S&P 500 constituents: {', '.join(members)})"
            )
        frame = part.drop(columns="symbol").set_index("date")
        frame.index = pd.DatetimeIndex(frame.index).astype("datetime64[ns]")
        out[symbol] = validate_ohlcv(frame, "embedded sample", symbol)
    return out


def load_sample_macro(names: list[str] | None = None) -> list[MacroSeries]:
    """Embedded macro series by name (default :data:`SAMPLE_MACRO_DEFAULT`)."""
    long = pd.read_parquet(_sample_path("macro.parquet"))
    long["series"] = long["series"].astype(str)
    out = []
    for name in names or SAMPLE_MACRO_DEFAULT:
        if name not in SAMPLE_MACRO:
            raise InputError(f"embedded sample: unknown macro series {name!r}; choose from {', '.join(SAMPLE_MACRO)}")
        part = long[long["series"] == name]
        freq, delay, change = SAMPLE_MACRO[name]
        out.append(MacroSeries(name, part.set_index("date")["value"].sort_index(), freq, delay, change))
    return out


def _normalise(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "", str(name).strip().lower())


COMPRESSED = (".gz", ".zip", ".bz2", ".xz", ".zst")  # read as CSVs by pandas (compression inferred from the suffix)


def _looks_binary(path: Path) -> bool:
    if path.suffix.lower() in COMPRESSED:
        return False
    with path.open("rb") as fh:
        head = fh.read(8192)
    return b"\x00" in head


def _wide_closes(raw: pd.DataFrame) -> pd.DataFrame | None:
    """A wide table of closes (a date column and one numeric column per symbol, the layout of skfolio's datasets
    and most notebooks) as the long layout ``date, symbol, close``; ``None`` when ``raw`` is not one."""
    others = [c for c in raw.columns if c != "date"]
    if {"symbol", "open", "high", "low", "adj_close", "volume"} & set(raw.columns) or len(others) < 2:
        return None  # a price file that lacks its close: the error says so
    numeric = raw[others].apply(pd.to_numeric, errors="coerce")
    if (numeric.notna().mean() < 0.5).any():  # a text column: not a table of closes
        return None
    long = raw[["date"]].join(numeric).melt(id_vars="date", var_name="symbol", value_name="close")
    return long.dropna(subset=["close"]).astype({"close": str}).reset_index(drop=True)


def read_price_csv(path: str | Path, symbols: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """Read a user CSV: the NYSE long layout (with ``symbol``) or a single-ticker Yahoo export.

    Column names match case-, space- and underscore-insensitively. Extra numeric columns are kept as
    user features (``frame.attrs["extra_columns"]``); non-numeric extras are dropped with a warning.
    A long file with no ``symbols`` given yields every symbol in it.
    """
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise InputError(f"{name}: file not found; check the --data path")
    if path.is_dir():
        raise InputError(f"{name}: is a folder; --data takes a CSV file")
    if path.stat().st_size == 0:
        raise InputError(f"{name}: the file is empty; expected a CSV with a header row and data rows")
    if _looks_binary(path):
        raise InputError(f"{name}: this is a binary file, not a text CSV; export the data as CSV first")
    try:
        raw = pd.read_csv(path, dtype=str, skipinitialspace=True, compression="infer")
    except pd.errors.EmptyDataError:
        raise InputError(f"{name}: the file is empty; expected a CSV with a header row and data rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise InputError(f"{name}: cannot be parsed as CSV ({first}); check the delimiter and quoting") from None
    except (OSError, EOFError, ValueError) as exc:  # a damaged archive (gzip, zip, bz2, xz)
        if path.suffix.lower() not in COMPRESSED:
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(
            f"{name}: cannot be decompressed as {path.suffix} ({first}); check the file or decompress it first"
        ) from None
    rename: dict[str, str] = {}
    for column in raw.columns:
        target = COLUMN_ALIASES.get(_normalise(column))
        if target and target not in rename.values():
            rename[column] = target
    raw = raw.rename(columns=rename)
    if raw.empty:
        raise InputError(f"{name}: header only, no data rows")
    if "date" not in raw.columns:
        raise InputError(
            f"{name}: no date column; expected a column named Date (columns: {', '.join(map(str, raw.columns))})"
        )
    if "close" not in raw.columns and (wide := _wide_closes(raw)) is not None:
        raw = wide  # one column per symbol: the long layout, every symbol a panel member
    if "close" not in raw.columns:
        raise InputError(
            f"{name}: missing column close; expected date, close and, where you have them, open, high, low, volume "
            f"(found: {', '.join(map(str, raw.columns))})"
        )
    raw["_line"] = np.arange(len(raw)) + 2  # header is line 1
    dates = pd.to_datetime(raw["date"], errors="coerce", format="ISO8601")
    if dates.isna().any():
        retry = pd.to_datetime(raw["date"], errors="coerce", format="mixed")
        dates = dates.fillna(retry)
    if dates.isna().any():
        pos = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise InputError(
            f"{name}: column 'date' has an unparseable value {raw['date'].iloc[pos]!r} at line {pos + 2}; "
            "use ISO dates like 2016-01-04"
        )
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    raw["date"] = dates.dt.normalize() if (dates.dt.normalize() == dates).all() else dates
    known = {"date", "symbol", "open", "high", "low", "close", "adj_close", "volume", "_line"}
    extras = []
    for column in [c for c in raw.columns if c not in known]:
        numeric = pd.to_numeric(raw[column], errors="coerce")
        share = numeric.notna().mean() if len(raw) else 0.0
        if share == 0.0:
            warn(f"{name}: column {column!r} is not numeric; ignored")
            raw = raw.drop(columns=column)
            continue
        safe = re.sub(r"\W+", "_", str(column).strip()).strip("_").lower() or "extra"
        raw = raw.rename(columns={column: safe})
        extras.append(safe)

    if "symbol" in raw.columns:
        raw["symbol"] = raw["symbol"].astype(str).str.strip()
        available = pd.unique(raw["symbol"])
        wanted = symbols or list(available)
        groups = {}
        for symbol in wanted:
            part = raw[raw["symbol"] == symbol]
            if part.empty:
                part = raw[raw["symbol"].str.upper() == symbol.upper()]
            if part.empty:
                shown = ", ".join(sorted(map(str, available))[:8])
                raise InputError(
                    f"{name}: symbol {symbol!r} not in the file (it has {len(available)} symbols, e.g. {shown}); "
                    "pick one with --symbol"
                )
            groups[symbol] = part.drop(columns="symbol")
    else:
        symbol = (symbols[0] if symbols else path.stem.split(".")[0]).upper()
        if symbols and len(symbols) > 1:
            raise InputError(f"{name}: holds a single ticker (no symbol column) but --symbols named {len(symbols)}")
        groups = {symbol: raw}

    out = {}
    for symbol, part in groups.items():
        frame = part.set_index("date")
        frame.index.name = "date"
        frame = validate_ohlcv(frame, name, symbol)
        frame = frame.drop(columns="_line")
        frame.attrs["symbol"] = symbol
        frame.attrs["extra_columns"] = list(extras)
        out[symbol] = frame
    return out


def load_prices(
    source: str = "sample",
    data: str | None = None,
    symbols: list[str] | None = None,
    start: str | None = None,
    end: str | None = None,
    cache_dir: str | None = None,
    offline: bool = False,
) -> dict[str, pd.DataFrame]:
    """Load validated OHLCV frames ``symbol -> frame`` from ``sample``, ``csv`` or ``yfinance``."""
    if data is not None and source == "sample":
        source = "csv"
    if source == "sample":
        frames = load_sample_prices(symbols)
    elif source == "csv":
        if data is None:
            raise InputError("--source csv needs --data PATH")
        frames = read_price_csv(data, symbols)
    elif source == "yfinance":
        from pipeline.data.yf import load_yfinance

        if not symbols:
            raise InputError("--source yfinance needs --symbols, e.g. --symbols AAPL,MSFT")
        frames = load_yfinance(symbols, start=start, end=end, cache_dir=cache_dir, offline=offline)
    else:
        raise InputError(f"unknown --source {source!r}; use sample, csv or yfinance")
    if start or end:
        frames = {s: _clip_dates(f, start, end) for s, f in frames.items()}
        for symbol, frame in frames.items():
            if frame.empty:
                raise InputError(f"{source} (symbol {symbol}): no rows between {start} and {end}")
    return frames


def _clip_dates(frame: pd.DataFrame, start: str | None, end: str | None) -> pd.DataFrame:
    attrs = dict(frame.attrs)
    out = frame.loc[pd.Timestamp(start) if start else None : pd.Timestamp(end) if end else None]
    out.attrs.update(attrs)
    return out


def load_macro(
    source: str,
    names: list[str] | None,
    start: str | None = None,
    end: str | None = None,
    cache_dir: str | None = None,
    offline: bool = False,
) -> list[MacroSeries]:
    """Macro series from the sample (names like ``wti``) or yfinance (tickers like ``^VIX``)."""
    if source == "yfinance":
        from pipeline.data.yf import load_yfinance_macro

        return load_yfinance_macro(list(names or YF_MACRO_DEFAULT), start, end, cache_dir, offline)
    return load_sample_macro(names)
