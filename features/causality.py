"""Truncation-invariance check: the test that features are causal.

Cut the inputs at a date *t* (prices up to *t*, macro observations published by *t*), recompute the
features, and compare with the full-history values at and before *t*. A causal feature is unchanged;
one that peeks at the future (``close.shift(-1)``, a full-sample z-score, a macro value used before its
release) differs somewhere.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from features.registry import FeatureInput, FeatureModule, compute_raw, registered_modules, SETS


def truncation_violations(
    inp: FeatureInput,
    cut_dates: Iterable[pd.Timestamp],
    modules: dict[str, FeatureModule] | None = None,
    rtol: float = 1e-9,
) -> dict[str, pd.Timestamp]:
    """Columns whose values up to a cut differ from the full-history values -> first cut where they do.

    Compares every column of every module in ``modules`` (default: all registered), NaN matching NaN.
    """
    modules = registered_modules() if modules is None else modules
    full = compute_raw(inp, list(SETS), modules).frame
    bad: dict[str, pd.Timestamp] = {}
    for cut in cut_dates:
        part = compute_raw(inp.known_at(cut), list(SETS), modules).frame
        ref = full.loc[:cut, part.columns]
        a, b = part.to_numpy(float), ref.to_numpy(float)
        if a.shape != b.shape:
            raise AssertionError(f"truncated frame at {cut} has shape {a.shape}, full history {b.shape}")
        same_nan = np.isnan(a) == np.isnan(b)
        close = np.isclose(a, b, rtol=rtol, atol=0.0, equal_nan=True)
        for j, column in enumerate(part.columns):
            if not (same_nan[:, j].all() and close[:, j].all()) and column not in bad:
                bad[column] = pd.Timestamp(cut)
    return bad
