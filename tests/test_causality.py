"""Truncation invariance for every registered feature, on real data, and proof that the check bites."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import FeatureInput, registered_modules
from features.causality import truncation_violations
from features.registry import FeatureModule
from pipeline.data import load_macro


def _real_input(sp500) -> FeatureInput:
    prices = sp500.loc["2013-06":"2016-06"].copy()
    prices["sentiment"] = np.log(prices["volume"]).diff(3).fillna(0.0)  # a user column (causal by build)
    macro = load_macro("sample", ["vix", "wti", "aaa", "baa", "core_cpi"])
    return FeatureInput(prices, macro, ["sentiment"])


def _cuts(inp: FeatureInput, n: int = 12) -> list[pd.Timestamp]:
    index = inp.ohlcv.index
    positions = np.linspace(5, len(index) - 2, n).astype(int)
    return [index[p] for p in positions]


def test_every_registered_feature_is_truncation_invariant(sp500):
    inp = _real_input(sp500)
    modules = registered_modules()
    # The check runs every module registered now, so a module added later is covered automatically.
    assert {
        "return_transforms",
        "range_transforms",
        "volume_transforms",
        "moving_averages",
        "rsi",
        "macd",
        "bollinger",
        "macro_series",
        "user_columns",
    } <= set(modules)
    assert truncation_violations(inp, _cuts(inp), modules) == {}


def test_planted_peek_is_caught(sp500):
    inp = _real_input(sp500)

    def peeking(inp: FeatureInput) -> dict[str, pd.DataFrame]:
        return {"peek": pd.DataFrame({"next_close": inp.ohlcv["close"].shift(-1)}, index=inp.ohlcv.index)}

    modules = {**registered_modules(), "peeking": FeatureModule("peeking", "ohlcv", peeking)}
    bad = truncation_violations(inp, _cuts(inp), modules)
    assert set(bad) == {"next_close"}


def test_full_sample_normalisation_is_caught(sp500):
    inp = _real_input(sp500)

    def zscore(inp: FeatureInput) -> dict[str, pd.DataFrame]:
        c = inp.ohlcv["close"]
        return {"z": pd.DataFrame({"close_z": (c - c.mean()) / c.std()}, index=c.index)}

    bad = truncation_violations(inp, _cuts(inp), {"z": FeatureModule("z", "ohlcv", zscore)})
    assert "close_z" in bad


def test_macro_used_before_release_is_caught(sp500):
    """A monthly series joined on its own date instead of its release date leaks; the check sees it."""
    inp = _real_input(sp500)

    def naive_join(inp: FeatureInput) -> dict[str, pd.DataFrame]:
        cpi = next(m for m in inp.macro if m.name == "core_cpi")
        s = cpi.values.reindex(inp.ohlcv.index, method="ffill")  # uses month M's CPI from M's first day
        return {"naive": pd.DataFrame({"naive_cpi": s}, index=inp.ohlcv.index)}

    bad = truncation_violations(inp, _cuts(inp, 20), {"n": FeatureModule("n", "macro", naive_join)})
    assert "naive_cpi" in bad


def test_macro_values_appear_only_after_publication(sp500):
    inp = _real_input(sp500)
    cpi = next(m for m in inp.macro if m.name == "core_cpi")
    from features.macro import aligned_macro_features

    aligned = aligned_macro_features(inp.ohlcv.index, cpi, level_only=True)["macro_core_cpi"]
    # The CPI for January 2015 (dated 2015-01-01) is not visible in January or in early February.
    jan_value = cpi.values.loc["2015-01-01"]
    seen = aligned[aligned == jan_value].index
    assert seen.min() > pd.Timestamp("2015-02-15")
    # the default, scale-free features move only on publication days, never before
    dev = aligned_macro_features(inp.ohlcv.index, cpi)["macro_core_cpi_dev"].dropna()
    level = aligned.loc[dev.index]
    moved_dev = set(dev.index[dev.diff().fillna(0) != 0])
    moved_level = set(level.index[level.diff().fillna(0) != 0])
    assert moved_dev and moved_dev <= moved_level
