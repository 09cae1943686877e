"""Feature registry, named feature sets and the group map.

A feature module is one function ``fn(inp: FeatureInput) -> dict[group, DataFrame]`` registered with
``@feature("<set>")``. It must be causal: the value at date *t* may use only rows up to *t* (the test
suite checks this for every registered module by truncation invariance). Sets are ``ohlcv``,
``technical``, ``macro``, ``extra``, ``levels`` (indicators in price units, opt-in) and ``all`` (every set
but ``levels``); a spec composes them with ``+``: ``ohlcv+technical``, ``all+levels``.

Adding a feature::

    @feature("technical", levels=("vwap20",))
    def vwap(inp: FeatureInput) -> dict[str, pd.DataFrame]:
        \"\"\"20-day volume-weighted average price, relative to close.\"\"\"
        ...
        return {"vwap": pd.DataFrame({"vwap20": level, "close_vwap20_rel": rel}, index=inp.ohlcv.index)}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from features.macro import MacroSeries

SETS = ("ohlcv", "technical", "macro", "extra", "levels")
DEFAULT_SETS = ("ohlcv", "technical", "macro", "extra")  # what ``all`` means: scale-free features only


class FeatureSpecError(ValueError):
    """An unknown feature set or a spec that selects nothing."""


@dataclass
class FeatureInput:
    """What a feature module sees: one symbol's OHLCV frame (plus user columns) and macro series. Columns
    the data lack (close-only data) are present but empty; :attr:`available` says which are filled."""

    ohlcv: pd.DataFrame
    macro: list[MacroSeries] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)

    @property
    def available(self) -> set[str]:
        """The OHLCV columns this symbol's data actually have (close always)."""
        return {
            c
            for c in ("open", "high", "low", "close", "volume")
            if c in self.ohlcv.columns and self.ohlcv[c].notna().any()
        } | {"close"}

    def known_at(self, date: pd.Timestamp) -> "FeatureInput":
        """Everything as it stood at the close of ``date``: the truncation used by the causality check."""
        return FeatureInput(self.ohlcv.loc[:date], [m.known_at(date) for m in self.macro], list(self.extra_columns))


@dataclass
class FeatureTable:
    """A feature frame (date index, one column per feature), its group map and its price-level columns.
    ``left_out``: modules skipped because the data lack the columns they need (module -> columns)."""

    frame: pd.DataFrame
    groups: dict[str, list[str]]
    levels: list[str]
    warmup_dropped: int = 0
    gaps_dropped: int = 0
    left_out: dict[str, list[str]] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns)


@dataclass(frozen=True)
class FeatureModule:
    name: str
    set_name: str
    fn: Callable[[FeatureInput], dict[str, pd.DataFrame]]
    levels: tuple[str, ...] = ()
    needs: tuple[str, ...] = ("close",)  # OHLCV columns the module reads


_MODULES: dict[str, FeatureModule] = {}


def feature(set_name: str, levels: tuple[str, ...] = (), needs: tuple[str, ...] = ("close",)) -> Callable:
    """Register a feature module in ``set_name``; ``levels`` names its columns in price units; ``needs``
    the OHLCV columns it reads (a module is left out, with a notice, on data that lack one, e.g. close-only)."""
    if set_name not in SETS:
        raise ValueError(f"unknown feature set {set_name!r}; one of {SETS}")

    def register(fn: Callable[[FeatureInput], dict[str, pd.DataFrame]]) -> Callable:
        _MODULES[fn.__name__] = FeatureModule(fn.__name__, set_name, fn, tuple(levels), tuple(needs))
        return fn

    return register


def registered_modules() -> dict[str, FeatureModule]:
    return dict(_MODULES)


def parse_feature_sets(spec: str) -> list[str]:
    """``"ohlcv+technical"`` -> ``["ohlcv", "technical"]``; ``"all"`` -> every set but ``levels``."""
    parts = [p.strip().lower() for p in spec.split("+") if p.strip()]
    if not parts:
        raise FeatureSpecError("empty feature spec; use e.g. all, ohlcv, ohlcv+technical")
    out: list[str] = []
    for part in parts:
        names = DEFAULT_SETS if part == "all" else (part,)
        for name in names:
            if name not in SETS:
                raise FeatureSpecError(
                    f"unknown feature set {part!r}; choose from {', '.join(SETS)}, all (combine with +)"
                )
            if name not in out:
                out.append(name)
    return out


def compute_raw(inp: FeatureInput, sets: list[str], modules: dict[str, FeatureModule] | None = None) -> FeatureTable:
    """All registered modules of ``sets`` on ``inp``, warm-up NaN rows kept."""
    modules = _MODULES if modules is None else modules
    arrays: list[np.ndarray] = []
    names: list[str] = []
    groups: dict[str, list[str]] = {}
    levels: list[str] = []
    left_out: dict[str, list[str]] = {}
    available = inp.available
    for module in modules.values():
        if module.set_name not in sets:
            continue
        lacking = [c for c in module.needs if c not in available]
        if lacking:
            left_out[module.name] = lacking
            continue
        for group, block in module.fn(inp).items():
            clash = [c for c in block.columns if c in names]
            if clash:
                raise ValueError(f"feature module {module.name}: column(s) {clash} already produced by another module")
            if len(block) != len(inp.ohlcv) or not block.index.equals(inp.ohlcv.index):
                raise ValueError(f"feature module {module.name}: group {group!r} is not on the input's date index")
            groups.setdefault(group, []).extend(block.columns)
            names.extend(block.columns)
            arrays.append(block.to_numpy(dtype=float, copy=False).reshape(len(block), -1))
        levels.extend(module.levels)
    if not arrays:
        return FeatureTable(pd.DataFrame(index=inp.ohlcv.index), {}, [], left_out=left_out)
    values = np.hstack(arrays)
    values[~np.isfinite(values)] = np.nan
    frame = pd.DataFrame(values, index=inp.ohlcv.index, columns=names)
    frame.index.name = "date"
    return FeatureTable(frame, groups, [c for c in levels if c in names], left_out=left_out)


def build_features(inp: FeatureInput, spec: str = "all") -> FeatureTable:
    """Feature table for one symbol: the modules of ``spec``, warm-up rows (and rows with gaps) dropped.

    Raises :class:`FeatureSpecError` when ``spec`` is unknown or selects no column (``extra`` on data
    without user columns, say).
    """
    sets = parse_feature_sets(spec)
    table = compute_raw(inp, sets)
    if not table.groups:
        raise FeatureSpecError(
            f"feature spec {spec!r} selects no feature for this data (is 'extra' without user columns?)"
        )
    complete = ~np.isnan(table.frame.to_numpy()).any(axis=1)
    if not complete.any():
        empty = [c for c in table.frame.columns if table.frame[c].isna().all()]
        hint = f" (always empty: {', '.join(empty[:5])})" if empty else ""
        raise FeatureSpecError(f"feature spec {spec!r}: no date has every feature defined{hint}")
    first = int(np.argmax(complete))
    table.warmup_dropped = first
    table.gaps_dropped = int((~complete[first:]).sum())
    table.frame = table.frame.iloc[np.flatnonzero(complete)]
    return table
