"""The ``macro`` feature set: each macro series' published change and deviation from its trailing year,
group ``macro:<name>``; the raw published level is in the opt-in ``levels`` set (group ``macro_level:<name>``)."""

from __future__ import annotations

import pandas as pd

from features.macro import aligned_macro_features
from features.registry import FeatureInput, feature


@feature("macro")
def macro_series(inp: FeatureInput) -> dict[str, pd.DataFrame]:
    """Change and deviation from the trailing year of every macro series, as-of joined on its publication
    date (see ``features.macro``)."""
    return {f"macro:{m.name}": aligned_macro_features(inp.ohlcv.index, m) for m in inp.macro}


@feature("levels")
def macro_levels(inp: FeatureInput) -> dict[str, pd.DataFrame]:
    """The last published level of every macro series (drifts over the years; opt-in)."""
    return {f"macro_level:{m.name}": aligned_macro_features(inp.ohlcv.index, m, level_only=True) for m in inp.macro}
