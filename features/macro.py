"""Macro series (rates, FX, VIX, commodities) and their leak-free alignment to trading days.

A :class:`MacroSeries` holds raw observations dated as their source dates them (a monthly average is
dated at the month's first day) and a publication rule. Each observation becomes *available* at
:meth:`MacroSeries.available_dates`; features are then attached to each trading day by an as-of join on
the availability date, so a value is used only on or after the day it was published.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class MacroSeries:
    """One macro input.

    name:  short feature-safe name (``vix``, ``core_cpi``); the group is ``macro:<name>``.
    values: observations indexed by their source date.
    freq:  ``"D"`` (daily) or ``"M"`` (monthly, dated at the start of the month it describes).
    delay_days: publication delay: business days after the date for daily series, calendar days after
        the end of the month for monthly ones.
    change: ``"log"`` (price-like: log change) or ``"diff"`` (rates, yields: absolute change).
    """

    name: str
    values: pd.Series
    freq: str = "D"
    delay_days: int = 1
    change: str = "log"

    def available_dates(self) -> pd.DatetimeIndex:
        """The first date on whose close each observation is known."""
        index = pd.DatetimeIndex(self.values.index)
        if self.freq == "M":
            return index + pd.offsets.MonthEnd(0) + pd.Timedelta(days=self.delay_days)
        if self.freq == "D":
            return index + pd.offsets.BDay(self.delay_days) if self.delay_days else index
        raise ValueError(f"macro series {self.name}: unknown freq {self.freq!r} (use 'D' or 'M')")

    def observations(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(availability dates, levels, changes) sorted by availability; computed once per series."""
        cached = self.__dict__.get("_observations")
        if cached is None:
            values = self.values.astype(float)
            keep = values.notna().to_numpy()
            available = self.available_dates()[keep].to_numpy("datetime64[ns]")
            level = values.to_numpy()[keep]
            chg = np.diff(np.log(level), prepend=np.nan) if self.change == "log" else np.diff(level, prepend=np.nan)
            order = np.argsort(available, kind="stable")
            cached = (available[order], level[order], chg[order])
            object.__setattr__(self, "_observations", cached)
        return cached

    def known_at(self, date: pd.Timestamp) -> "MacroSeries":
        """The series as it stood at the close of ``date`` (observations published by then)."""
        keep = self.available_dates() <= date
        return MacroSeries(self.name, self.values[keep], self.freq, self.delay_days, self.change)


def aligned_macro_features(index: pd.DatetimeIndex, series: MacroSeries) -> pd.DataFrame:
    """Level and change of ``series`` on the trading days ``index``, using only published values.

    Returns columns ``macro_<name>`` (last published level) and ``macro_<name>_chg`` (change between the
    last two published observations: log change or difference), NaN before the first publication and
    when the last publication is older than one cycle and a bit (a series that stopped is not carried on).
    """
    available, level, chg = series.observations()
    dates = pd.DatetimeIndex(index).to_numpy("datetime64[ns]")
    pos = np.searchsorted(available, dates, side="right") - 1  # last observation published on or before t
    ok = pos >= 0
    max_age = np.timedelta64(75 if series.freq == "M" else 15, "D")
    ok[ok] &= (dates[ok] - available[pos[ok]]) <= max_age
    take = np.where(ok, pos, 0)
    out_level = np.where(ok, level[take], np.nan) if len(level) else np.full(len(dates), np.nan)
    out_chg = np.where(ok, chg[take], np.nan) if len(chg) else np.full(len(dates), np.nan)
    return pd.DataFrame({f"macro_{series.name}": out_level, f"macro_{series.name}_chg": out_chg}, index=index)
