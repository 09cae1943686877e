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

    @property
    def year(self) -> int:
        """Observations in about a year: the window of the deviation feature."""
        return 12 if self.freq == "M" else 252

    def observations(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(availability dates, levels, changes, deviations from the trailing year's mean) sorted by
        availability; computed once per series. Changes and deviations are log-based for price-like
        series and absolute for rates."""
        cached = self.__dict__.get("_observations")
        if cached is None:
            values = self.values.astype(float)
            keep = values.notna().to_numpy()
            available = self.available_dates()[keep].to_numpy("datetime64[ns]")
            order = np.argsort(available, kind="stable")
            available, level = available[order], values.to_numpy()[keep][order]
            x = np.log(level) if self.change == "log" else level
            chg = np.diff(x, prepend=np.nan)
            dev = x - pd.Series(x).rolling(self.year, min_periods=self.year).mean().to_numpy()
            cached = (available, level, chg, dev)
            object.__setattr__(self, "_observations", cached)
        return cached

    def known_at(self, date: pd.Timestamp) -> "MacroSeries":
        """The series as it stood at the close of ``date`` (observations published by then)."""
        keep = self.available_dates() <= date
        return MacroSeries(self.name, self.values[keep], self.freq, self.delay_days, self.change)


def aligned_macro_features(index: pd.DatetimeIndex, series: MacroSeries, level_only: bool = False) -> pd.DataFrame:
    """Scale-free features of ``series`` on the trading days ``index``, using only published values.

    Returns ``macro_<name>_dev`` (last published value minus the mean of the year of observations up to
    it; in logs for price-like series) and ``macro_<name>_chg`` (change between the last two published
    observations: log change or difference); with ``level_only``, ``macro_<name>`` (the last published
    level, which drifts: the opt-in ``levels`` set). NaN before the first publication and when the last
    publication is older than one cycle and a bit (a series that stopped is not carried on).
    """
    available, level, chg, dev = series.observations()
    dates = pd.DatetimeIndex(index).to_numpy("datetime64[ns]")
    pos = np.searchsorted(available, dates, side="right") - 1  # last observation published on or before t
    ok = pos >= 0
    max_age = np.timedelta64(75 if series.freq == "M" else 15, "D")
    ok[ok] &= (dates[ok] - available[pos[ok]]) <= max_age
    take = np.where(ok, pos, 0)
    pick = lambda a: np.where(ok, a[take], np.nan) if len(a) else np.full(len(dates), np.nan)  # noqa: E731
    if level_only:
        return pd.DataFrame({f"macro_{series.name}": pick(level)}, index=index)
    return pd.DataFrame({f"macro_{series.name}_dev": pick(dev), f"macro_{series.name}_chg": pick(chg)}, index=index)
