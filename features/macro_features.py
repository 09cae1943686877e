"""The ``macro`` feature set: each macro series' published level and change, group ``macro:<name>``."""
from __future__ import annotations

import pandas as pd

from features.macro import aligned_macro_features
from features.registry import FeatureInput, feature


@feature("macro")
def macro_series(inp: FeatureInput) -> dict[str, pd.DataFrame]:
    """Level and change of every macro series, as-of joined on its publication date (see ``features.macro``)."""
    return {f"macro:{m.name}": aligned_macro_features(inp.ohlcv.index, m) for m in inp.macro}
