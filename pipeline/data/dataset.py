"""From loaded data to feature tables: the one place the CLI commands turn flags into features."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features import FeatureInput, FeatureSpecError, FeatureTable, build_features, parse_feature_sets
from pipeline.data import load_macro, load_prices
from pipeline.errors import InputError, warn


@dataclass
class Dataset:
    """Validated prices and their feature tables, per symbol."""

    prices: dict[str, pd.DataFrame]
    tables: dict[str, FeatureTable]
    spec: str

    @property
    def groups(self) -> dict[str, list[str]]:
        return next(iter(self.tables.values())).groups

    @property
    def survivorship(self) -> str | None:
        """A warning when a panel looks like today's survivors (see :func:`survivorship_warning`)."""
        return survivorship_warning(self.prices)

    @property
    def columns(self) -> list[str]:
        return next(iter(self.tables.values())).columns

    def select(self, exclude_groups: list[str] | None = None, before: pd.Timestamp | None = None) -> "Dataset":
        """This data without the feature groups ``exclude_groups`` and, with ``before``, without every price and
        feature row dated on or after it (a search's trials never see its held-back days: their labels, which
        need later prices, cannot be formed). Features are causal, so the rows kept are unchanged."""
        drop = list(exclude_groups or [])
        groups = self.groups
        unknown = [g for g in drop if g not in groups]
        if unknown:
            raise InputError(
                f"--exclude-groups: unknown feature group {unknown[0]!r}; the data's groups are {', '.join(groups)}"
            )
        if drop and len(drop) >= len(groups):
            raise InputError("--exclude-groups leaves no feature group; keep at least one")
        cols = [c for g, cs in groups.items() if g not in drop for c in cs]
        tables, prices = {}, {}
        for symbol, table in self.tables.items():
            frame = table.frame[[c for c in table.columns if c in cols]]
            price = self.prices[symbol]
            if before is not None:
                frame, price = frame[frame.index < before], price[price.index < before]
            tables[symbol] = dataclasses.replace(
                table,
                frame=frame,
                groups={g: cs for g, cs in table.groups.items() if g not in drop},
                levels=[c for c in table.levels if c in cols],
            )
            prices[symbol] = price
        return Dataset(prices, tables, self.spec)

    def signature(self) -> pd.DataFrame:
        """One row per symbol and price date: ``symbol, date, row`` (a 64-bit hash of the day's OHLCV values and
        user columns). Saved with a run, it names the first symbol and date where later data differ. Computed once."""
        if "_signature" in self.__dict__:
            return self.__dict__["_signature"]
        parts = []
        for symbol in sorted(self.prices):
            frame = self.prices[symbol]
            values = frame.select_dtypes("number")
            row = pd.util.hash_pandas_object(values.round(10), index=False).to_numpy().view(np.int64)
            parts.append(pd.DataFrame({"symbol": symbol, "date": frame.index.strftime("%Y-%m-%d"), "row": row}))
        self.__dict__["_signature"] = pd.concat(parts, ignore_index=True)
        return self.__dict__["_signature"]

    def market_key(self) -> str:
        """SHA-256 (16 hex digits) of the sorted symbols: the ledger's coarse key, which market was judged. Which
        days, and whether their prices agree, is :meth:`day_hashes`' part."""
        return hashlib.sha256("|".join(sorted(self.prices)).encode()).hexdigest()[:16]

    def day_hashes(self) -> pd.Series:
        """date -> a 63-bit hash of every symbol's OHLCV that day (the columns it has of open, high, low, close,
        volume; rounded to 6 decimals), in date order. The user's other columns and the loaded range play no part,
        so a re-download or an added column with equal prices on the judged days gives equal hashes: the ledger
        compares judged days by them. Computed once."""
        if "_day_hashes" not in self.__dict__:
            parts = []
            for k, symbol in enumerate(sorted(self.prices)):
                frame = self.prices[symbol]
                cols = [c for c in ("open", "high", "low", "close", "volume") if c in frame.columns]
                row = pd.util.hash_pandas_object(frame[cols].astype(float).round(6), index=False).to_numpy()
                parts.append(pd.Series((row * np.uint64(2 * k + 1)) & np.uint64((1 << 63) - 1), index=frame.index))
            rows = pd.concat(parts).sort_index(kind="stable")
            dates, values = rows.index, rows.to_numpy()
            starts = np.r_[0, np.flatnonzero(dates[1:] != dates[:-1]) + 1]  # each date's first row
            self.__dict__["_day_hashes"] = pd.Series(
                np.bitwise_xor.reduceat(values, starts).astype(np.int64), index=dates[starts]
            )
        return self.__dict__["_day_hashes"]

    def price_fingerprint(self) -> str:
        """SHA-256 (16 hex digits) of the prices alone (every symbol, date and value; not the features): what the
        ledger keys on, so that runs with other feature sets on the same prices count as judged on the same data.
        Computed once."""
        if "_price_fingerprint" not in self.__dict__:
            sig = self.signature()
            h = hashlib.sha256("|".join(sig.symbol).encode())
            h.update("|".join(sig.date).encode())
            h.update(np.ascontiguousarray(sig.row.to_numpy()).tobytes())
            self.__dict__["_price_fingerprint"] = h.hexdigest()[:16]
        return self.__dict__["_price_fingerprint"]

    def fingerprint(self) -> str:
        """SHA-256 (16 hex digits) of every symbol's prices and feature values: two processes that built
        the same data agree on it; a changed download, macro series or feature code changes it. Computed once."""
        if "_fingerprint" in self.__dict__:
            return self.__dict__["_fingerprint"]
        h = hashlib.sha256()
        for symbol in sorted(self.prices):
            prices, table = self.prices[symbol], self.tables[symbol].frame
            h.update(symbol.encode())
            for frame in (prices[["open", "high", "low", "close", "volume"]], table):
                h.update(np.ascontiguousarray(frame.index.asi8).tobytes())
                h.update("|".join(map(str, frame.columns)).encode())
                h.update(np.ascontiguousarray(frame.to_numpy(np.float64)).tobytes())
        self.__dict__["_fingerprint"] = h.hexdigest()[:16]
        return self.__dict__["_fingerprint"]


def build_dataset(
    source: str = "sample",
    data: str | None = None,
    symbols: list[str] | None = None,
    features: str = "all",
    macro: list[str] | None = None,
    start: str | None = None,
    end: str | None = None,
    cache_dir: str | None = None,
    offline: bool = False,
) -> Dataset:
    """Load prices (and macro series if the spec asks for them) and build features for every symbol."""
    prices, macro_series = load_inputs(source, data, symbols, features, macro, start, end, cache_dir, offline)
    return dataset_from_prices(prices, features, macro_series)


def _feature_sets(features: str) -> list[str]:
    try:
        return parse_feature_sets(features)
    except FeatureSpecError as exc:
        raise InputError(str(exc)) from None


def load_inputs(
    source: str = "sample",
    data: str | None = None,
    symbols: list[str] | None = None,
    features: str = "all",
    macro: list[str] | None = None,
    start: str | None = None,
    end: str | None = None,
    cache_dir: str | None = None,
    offline: bool = False,
) -> tuple[dict[str, pd.DataFrame], list]:
    """The validated prices per symbol and the macro series the feature spec asks for (none without
    ``macro``): what :func:`dataset_from_prices` turns into features."""
    sets = _feature_sets(features)
    prices = load_prices(source, data, symbols, start, end, cache_dir, offline)
    macro_series = []
    if "macro" in sets and not (macro is not None and len(macro) == 0):
        macro_source = "yfinance" if source == "yfinance" else "sample"
        first = min(f.index[0] for f in prices.values()) - pd.Timedelta(days=120)  # room for a monthly release lag
        macro_series = load_macro(macro_source, macro, str(first.date()), end, cache_dir, offline)
    return prices, macro_series


def dataset_from_prices(
    prices: dict[str, pd.DataFrame], features: str = "all", macro_series: list | None = None
) -> Dataset:
    """Feature tables for validated prices (the user's columns named in each frame's ``attrs["extra_columns"]``)."""
    sets = _feature_sets(features)
    if "all" in [p.strip().lower() for p in features.split("+")] and not any(
        f.attrs.get("extra_columns") for f in prices.values()
    ):
        sets = [s for s in sets if s != "extra"]  # 'all' means every set the data can fill
    spec = "+".join(sets)
    inputs = {
        s: FeatureInput(f, list(macro_series or []), list(f.attrs.get("extra_columns", []))) for s, f in prices.items()
    }
    tables = build_feature_tables(inputs, spec, jobs=2 if len(inputs) >= 8 else 1)
    column_sets = {tuple(t.columns) for t in tables.values()}
    if len(column_sets) > 1:
        raise InputError(
            "the symbols do not share the same feature columns (different user columns, or some "
            "symbols close-only?); load them separately"
        )
    left_out = {m: cols for t in tables.values() for m, cols in t.left_out.items()}
    if left_out:
        lacking = sorted({c for cols in left_out.values() for c in cols})
        warn(
            f"the data have no {', '.join(lacking)}: left out the features that need them "
            f"({', '.join(sorted(left_out))}); everything else runs as usual"
        )
    dataset = Dataset(prices, tables, spec)
    if dataset.survivorship:
        warn(dataset.survivorship)
    return dataset


def survivorship_warning(prices: dict[str, pd.DataFrame]) -> str | None:
    """One sentence when a panel of several symbols has every symbol trading on its last date: a universe chosen
    today (every member survived to the end) overstates what a strategy could have held then; ``None`` otherwise
    (a single symbol, or a panel where some symbol stops earlier, as delisted ones do)."""
    if len(prices) < 2:
        return None
    last = {s: f.index.max() for s, f in prices.items()}
    if len(set(last.values())) > 1:
        return None
    return (
        f"survivorship: all {len(prices)} symbols trade on the panel's last date ({max(last.values()).date()}), so the "
        "universe may be today's survivors; a panel that leaves out the symbols that were delisted or dropped "
        "overstates what a strategy could have held at the time"
    )


def _build_one(item: tuple[str, FeatureInput, str]) -> tuple[str, FeatureTable | str]:
    symbol, inp, spec = item
    try:
        return symbol, build_features(inp, spec)
    except FeatureSpecError as exc:
        return symbol, str(exc)


def build_feature_tables(inputs: dict[str, FeatureInput], spec: str, jobs: int = 1) -> dict[str, FeatureTable]:
    """Feature tables for many symbols, in ``jobs`` worker processes when there are many symbols."""
    from tqdm.auto import tqdm

    items = [(s, inp, spec) for s, inp in inputs.items()]
    bar = dict(total=len(items), desc="features", unit="symbol", leave=False, disable=None if len(items) > 20 else True)
    if jobs > 1 and len(items) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(tqdm(pool.map(_build_one, items, chunksize=max(1, len(items) // (4 * jobs))), **bar))
    else:
        results = [_build_one(item) for item in tqdm(items, **bar)]
    tables = {}
    for symbol, result in results:
        if isinstance(result, str):
            raise InputError(f"symbol {symbol}: {result}")
        tables[symbol] = result
    return tables


def long_feature_frame(dataset: Dataset) -> pd.DataFrame:
    """All symbols' features in one frame indexed by date, with a ``symbol`` column when there are several."""
    if len(dataset.tables) == 1:
        return next(iter(dataset.tables.values())).frame
    parts = [t.frame.assign(symbol=s) for s, t in dataset.tables.items()]
    out = pd.concat(parts)
    return out[["symbol", *[c for c in out.columns if c != "symbol"]]]


def first_difference(saved: pd.DataFrame, now: pd.DataFrame) -> str | None:
    """Where two :meth:`Dataset.signature` tables first differ, in words (symbol, then date), or None."""
    a, b = set(saved.symbol), set(now.symbol)
    if a - b:
        return f"symbol {sorted(a - b)[0]} is no longer in the data"
    if b - a:
        return f"symbol {sorted(b - a)[0]} is new in the data"
    for symbol in sorted(a):
        x = saved[saved.symbol == symbol].set_index("date")["row"]
        y = now[now.symbol == symbol].set_index("date")["row"]
        dates = sorted(set(x.index) | set(y.index))
        for date in dates:
            if date not in x.index:
                return f"symbol {symbol}: {date} is a new date"
            if date not in y.index:
                return f"symbol {symbol}: {date} is missing now"
            if x[date] != y[date]:
                return f"symbol {symbol}: the prices of {date} differ"
    return None
