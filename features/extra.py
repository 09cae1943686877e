"""The ``extra`` feature set: the user's own numeric columns, each in its group ``extra:<column>``.

The user vouches for their causality (a column dated *t* must be known at the close of *t*); the
truncation check still runs on them, so a column that is computed from the future *within the file*
cannot be detected, but one produced by a transform here can.
"""

from __future__ import annotations

import pandas as pd

from features.registry import FeatureInput, feature


@feature("extra")
def user_columns(inp: FeatureInput) -> dict[str, pd.DataFrame]:
    """Each extra numeric column of the input file, unchanged, named ``extra_<column>``."""
    return {
        f"extra:{c}": pd.DataFrame({f"extra_{c}": inp.ohlcv[c].astype(float)}, index=inp.ohlcv.index)
        for c in inp.extra_columns
    }
