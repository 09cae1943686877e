"""yfinance source with an atomic parquet disk cache.

Cache files live in ``<cache_dir>/<SYMBOL>_1d_adj.parquet`` (interval and ``auto_adjust=True`` are part
of the key and recorded in the file, with the download time). A later call downloads only the dates the
cache does not cover yet, plus an overlap it compares with the cache: adjusted prices move after a split
or dividend, so on a mismatch the whole range is downloaded again (see :func:`fetch_cached`).
A corrupt cache file is reported, deleted and refetched. Nothing is ever half-written: files are written
to a temporary name in the same folder and renamed (:func:`pipeline.io.atomic_path`).
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from features.macro import MacroSeries
from pipeline.data.validate import validate_ohlcv
from pipeline.errors import InputError, warn

INTERVAL = "1d"
AUTO_ADJUST = True  # pinned: split- and dividend-adjusted OHLC; recorded in every cache file
META_KEY = b"featureproof"
FIELDS = {"Open": "open", "High": "high", "Low": "low", "Close": "close", "Volume": "volume"}


def default_cache_dir() -> Path:
    return Path(os.environ.get("FEATUREPROOF_CACHE", Path.home() / ".cache" / "featureproof" / "yfinance"))


def _cache_path(cache_dir: Path, symbol: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._=-]", "_", symbol)
    return cache_dir / f"{safe}_{INTERVAL}_{'adj' if AUTO_ADJUST else 'raw'}.parquet"


def _read_cache(path: Path) -> tuple[pd.DataFrame, dict] | None:
    if not path.exists():
        return None
    try:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {}).get(META_KEY, b"{}"))
        frame = table.to_pandas()
        if meta.get("auto_adjust") != AUTO_ADJUST or "covered_start" not in meta:
            raise ValueError("cache metadata missing or from another adjustment")
        frame.index = pd.DatetimeIndex(frame.index, name="date")
        return frame, meta
    except Exception as exc:  # any unreadable file is treated as corrupt and refetched
        warn(f"yfinance cache {path} is unreadable ({type(exc).__name__}); deleting it and downloading again")
        path.unlink(missing_ok=True)
        return None


def _write_cache(path: Path, frame: pd.DataFrame, meta: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.io import atomic_path

    table = pa.Table.from_pandas(frame)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: json.dumps(meta).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


YAHOO_HOST = "query2.finance.yahoo.com"
NETWORK_ERRORS = ("resolve", "connection", "timed out", "timeout", "network", "unreachable", "ssl", "curl")


def yahoo_reachable(symbol: str = "", timeout: float = 3.0) -> bool:
    """Whether an empty answer may be the ticker's fault: ``False`` when yfinance recorded a network error for
    ``symbol`` (it prints such errors and returns an empty frame instead of raising) or when Yahoo's host
    cannot be reached at all."""
    import socket

    try:
        import yfinance.shared as shared

        recorded = str(getattr(shared, "_ERRORS", {}).get(symbol, "")).lower()
    except ImportError:
        recorded = ""
    if any(word in recorded for word in NETWORK_ERRORS):
        return False
    try:
        socket.create_connection((YAHOO_HOST, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _download(symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """One ``yfinance.download`` call, normalised to our lowercase columns (may be empty)."""
    import yfinance as yf

    try:
        raw = yf.download(
            symbol,
            start=start.strftime("%Y-%m-%d"),
            end=end.strftime("%Y-%m-%d"),
            interval=INTERVAL,
            auto_adjust=AUTO_ADJUST,
            progress=False,
            threads=False,
            multi_level_index=True,
        )
    except Exception as exc:  # network failure, rate limit (YFRateLimitError), ...
        raise InputError(
            f"yfinance: download of {symbol} failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            "try again later, rerun with --offline to use the cache, or use --source sample"
        ) from None
    if raw is None or raw.empty:
        return pd.DataFrame(columns=list(FIELDS.values()), index=pd.DatetimeIndex([], name="date"), dtype=float)
    if isinstance(raw.columns, pd.MultiIndex):
        level = "Ticker" if "Ticker" in raw.columns.names else 1
        tickers = raw.columns.get_level_values(level)
        if symbol in set(tickers):
            raw = raw.xs(symbol, axis=1, level=level)
        else:
            raw = raw.droplevel(level, axis=1)
    missing = [c for c in FIELDS if c not in raw.columns]
    if missing:
        raise InputError(
            f"yfinance: the answer for {symbol} lacks {', '.join(missing)}; try again later or use --source sample"
        )
    frame = raw[list(FIELDS)].rename(columns=FIELDS).astype(float)
    index = pd.DatetimeIndex(raw.index)
    frame.index = (index.tz_localize(None) if index.tz is not None else index).normalize()
    frame.index.name = "date"
    return frame.dropna(how="all")


OVERLAP = pd.Timedelta(days=10)  # each top-up re-downloads this much of the cached range, to compare
RTOL = 1e-5  # relative tolerance of the overlap check (a 0.01% dividend adjustment is 10x larger)


def _mismatch(cached: pd.DataFrame, fresh: pd.DataFrame) -> str | None:
    """Where the fresh download disagrees with the cache on the days both cover, in words (or None).

    The cache's last day is left out: it may have been an intraday bar, which the fresh one replaces."""
    if fresh.empty:
        return None
    lo = max(fresh.index[0], cached.index[0])
    hi = min(fresh.index[-1], cached.index[-1] - pd.Timedelta(days=1))
    old = cached.loc[lo:hi]
    new = fresh.loc[lo:hi]
    if old.empty and new.empty:
        return None
    if not old.index.equals(new.index):
        days = old.index.symmetric_difference(new.index)
        return f"the trading days differ (e.g. {days[0].date()})"
    cols = ["open", "high", "low", "close"]
    bad = ~np.isclose(new[cols].to_numpy(), old[cols].to_numpy(), rtol=RTOL, atol=0.0)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        day = old.index[row]
        return f"close on {day.date()} was {old['close'].iloc[row]:.6g}, now {new['close'].iloc[row]:.6g}"
    return None


def _stamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def fetch_cached(
    symbol: str, start: str | None, end: str | None, cache_dir: str | Path | None = None, offline: bool = False
) -> pd.DataFrame:
    """Daily bars of ``symbol`` for [start, end), from the cache where it covers them, else downloaded.

    A top-up downloads only what the cache lacks, plus :data:`OVERLAP` of the cached range, and compares
    the two on the days both cover. Adjusted prices change for all earlier days after a split or
    dividend, so on any difference the whole range is downloaded again and replaces the cache: a cache
    never joins prices adjusted on different days. The cache records when it was downloaded
    (``downloaded_at``) and last checked and extended (``updated_at``)."""
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    path = _cache_path(cache, symbol)
    want_start = pd.Timestamp(start) if start else pd.Timestamp("2000-01-01")
    want_end = pd.Timestamp(end) if end else pd.Timestamp.today().normalize() + pd.Timedelta(days=1)
    cached = _read_cache(path)
    frame, meta = cached if cached else (None, {})
    if offline:
        if frame is None:
            raise InputError(
                f"yfinance: --offline but no cache for {symbol} in {cache}; run once online or use --source sample"
            )
        return frame.loc[want_start : want_end - pd.Timedelta(days=1)]
    if frame is not None and frame.empty:
        frame, meta = None, {}
    if frame is None:
        lo, hi = want_start, want_end
        merged = _download(symbol, lo, hi)
        meta = {"downloaded_at": _stamp()}
    else:
        covered_start, covered_end = pd.Timestamp(meta["covered_start"]), pd.Timestamp(meta["covered_end"])
        lo, hi = min(want_start, covered_start), max(want_end, covered_end)
        ranges = []
        if want_start < covered_start:
            ranges.append((want_start, covered_start + OVERLAP))
        if want_end > covered_end:
            ranges.append((covered_end - OVERLAP, want_end))
        if not ranges:
            return frame.loc[want_start : want_end - pd.Timedelta(days=1)]
        pieces = [_download(symbol, a, b) for a, b in ranges]
        why = next((m for m in (_mismatch(frame, p) for p in pieces) if m), None)
        if why:
            warn(
                f"yfinance: {symbol} prices changed since the cached download of {meta.get('downloaded_at', '?')} "
                f"({why}: a split, dividend or revision); downloading {lo.date()} .. {hi.date()} again"
            )
            merged = _download(symbol, lo, hi)
            meta = {"downloaded_at": _stamp()}
        else:
            merged = pd.concat([frame, *[p for p in pieces if not p.empty]])
            merged = merged[~merged.index.duplicated(keep="last")].sort_index()
            meta = {"downloaded_at": meta.get("downloaded_at", "unknown")}
    if merged.empty:
        if not yahoo_reachable(symbol):
            raise InputError(
                f"yfinance: no data for {symbol!r}: there is no network connection to Yahoo Finance ({YAHOO_HOST}); "
                "connect and try again, rerun with --offline to use the cache, or use --source sample"
            )
        raise InputError(
            f"yfinance: no data for {symbol!r} between {want_start.date()} and {want_end.date()}: the ticker may "
            "be unknown or delisted, or Yahoo refused the request; check the ticker, try later, or use --source sample"
        )
    meta.update(
        {
            "symbol": symbol,
            "interval": INTERVAL,
            "auto_adjust": AUTO_ADJUST,
            "covered_start": str(lo.date()),
            "covered_end": str(hi.date()),
            "updated_at": _stamp(),
        }
    )
    _write_cache(path, merged, meta)
    return merged.loc[want_start : want_end - pd.Timedelta(days=1)]


def load_yfinance(
    symbols: list[str],
    start: str | None = None,
    end: str | None = None,
    cache_dir: str | Path | None = None,
    offline: bool = False,
) -> dict[str, pd.DataFrame]:
    """Validated OHLCV frames from yfinance (adjusted prices) for each symbol."""
    out = {}
    for symbol in symbols:
        frame = fetch_cached(symbol, start, end, cache_dir, offline)
        frame = validate_ohlcv(frame, "yfinance", symbol)
        frame.attrs["symbol"] = symbol
        frame.attrs["extra_columns"] = []
        out[symbol] = frame
    return out


def macro_name(ticker: str) -> str:
    """Feature-safe name of a yfinance ticker: ``^VIX`` -> ``vix``, ``DX-Y.NYB`` -> ``dx_y_nyb``."""
    return re.sub(r"[^a-z0-9]+", "_", ticker.lower()).strip("_")


def load_yfinance_macro(
    tickers: list[str], start: str | None, end: str | None, cache_dir: str | Path | None = None, offline: bool = False
) -> list[MacroSeries]:
    """Daily closes of macro tickers; each used from the next business day (no same-day look-ahead)."""
    out = []
    for ticker in tickers:
        frame = fetch_cached(ticker, start, end, cache_dir, offline)
        rate_like = ticker.upper() in {"^TNX", "^IRX", "^FVX", "^TYX"}
        out.append(MacroSeries(macro_name(ticker), frame["close"], "D", 1, "diff" if rate_like else "log"))
    return out
