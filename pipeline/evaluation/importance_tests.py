"""How the explain stage judges an importance: over test days with :mod:`pipeline.evaluation.inference` (interval,
one-sided test against a noise floor, Holm over groups), per test period, and the out-of-sample
alignment of signed attributions with outcomes."""

from __future__ import annotations

from typing import Callable

import numpy as np

from explain.common import Importance
from pipeline.evaluation import inference
from pipeline.evaluation.tables import DAY_MEAN_METRICS
from pipeline.evaluation.inference import ALPHA


def sample_loss(classification: bool) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Per-sample loss importance is measured in: log loss (direction), squared error (regression)."""
    if classification:
        return lambda y, p: DAY_MEAN_METRICS["log_loss"](y, p, None)
    return lambda y, p: (p - y) ** 2


def per_day_item(
    h: int,
    group: str,
    method: str,
    values: np.ndarray,
    dates: np.ndarray,
    units: dict[str, float],
    floor: float = 0.0,
    test: np.ndarray | None = None,
    periods: np.ndarray | None = None,
    block: str = "",
) -> Importance:
    """An importance judged over test days: ``values`` per sample (its mean is the importance); ``test``
    per sample (defaults to ``values - floor``) is what the one-sided test "above the floor" is run on.
    ``periods`` ``(n,)`` labels each sample's test period: the value and interval are also given per period."""
    t = inference.mean_test(inference.per_day(values, dates), h)
    diff = values - floor if test is None else test
    p = inference.mean_test(inference.per_day(diff, dates), h, alternative="greater").p_value
    by_period = {}
    if periods is not None:
        for label in dict.fromkeys(periods):
            keep = periods == label
            pt = inference.mean_test(inference.per_day(values[keep], dates[keep]), h)
            by_period[str(label)] = (pt.mean, pt.ci_low, pt.ci_high)
    return Importance(
        h, group, method, t.mean, t.ci_low, t.ci_high, units, floor=floor, p_value=p, block=block, periods=by_period
    )


def holm_by(items: list[Importance]) -> None:
    """Holm over the groups (and lag blocks) of each (method, horizon); ``clears`` = adjusted p < ALPHA."""
    keyed: dict[tuple[str, int], list[Importance]] = {}
    for i in items:
        keyed.setdefault((i.method, i.horizon), []).append(i)
    for group in keyed.values():
        adjusted = inference.holm(np.array([i.p_value for i in group]))
        for i, p in zip(group, adjusted):
            i.p_value = float(p)
            i.clears = bool(p < ALPHA)


def relied_on(conditional: list, plain: list) -> None:
    """The conditional claim needs both tests (an intersection-union test): a group carries information the others
    do not only where the model also relies on it (plain permutation clears) and what is shuffled conditionally
    still costs (conditional permutation clears). Its p-value becomes the larger of the two Holm p-values.

    Alone, conditional permutation named some no-information group at every default setting (all features,
    window 60, h = 1, 5, 10) on 8-15% of null GARCH markets, where its test is valid against any outcome
    independent of the market (2-4% on 300 independent targets for a fixed model): no linear map of 40 indicators
    across 60 lags keeps their joint law exactly. Plain permutation's size on the same markets is 2.5-5%, and the
    joint claim's is at most the smaller of the two (docs/calibration.md, the defaults cells)."""
    by_key = {(i.horizon, i.group, i.block): i for i in plain}
    for i in conditional:
        other = by_key.get((i.horizon, i.group, i.block))
        if other is None:
            continue
        i.p_value = float(max(i.p_value, other.p_value))
        i.clears = bool(i.clears and other.clears)


def set_clears(items: list[Importance]) -> None:
    """After Holm over groups: a group clears only if its test passed and its value is above the floor."""
    holm_by(items)
    for i in items:
        i.clears = bool(i.clears and (not np.isfinite(i.floor) or i.value > i.floor))


def alignment(signed: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per sample: the product of the centred signed attribution and the centred outcome. Its mean over test
    days is the out-of-sample covariance: positive when the group pushes predictions the right way."""
    return (signed - signed.mean()) * (y - y.mean())


def fold_interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and t-interval over folds (gain and split shares have no per-test-day values)."""
    from scipy import stats

    v = np.asarray(values, float)
    m = float(v.mean())
    if len(v) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(1 - ALPHA / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return m, m - half, m + half


def period_sentences(items: list[Importance], method: str, horizon: int) -> list[str]:
    """Importance by period, in words, for one method and horizon: which groups are above the floor (the
    period's 95% interval above it) in every test period, in one only, or in none. Descriptive: the
    per-period intervals are not corrected for multiplicity."""
    part = [i for i in items if i.method == method and i.horizon == horizon and not i.block and i.periods]
    if not part:
        return []
    n = len(part[0].periods)
    if n < 2:
        return []
    every, one, some = [], [], []
    for i in part:
        floor = i.floor if np.isfinite(i.floor) else 0.0
        present = [p for p, (_, lo, _) in i.periods.items() if np.isfinite(lo) and lo > floor]
        if len(present) == n:
            every.append(i.group)
        elif len(present) == 1:
            one.append(f"{i.group} (only {present[0]})")
        elif present:
            some.append(f"{i.group} ({len(present)} of {n})")
    if not (every or one or some):
        return [f"h={horizon}, {method}: no group is above its floor in any single test period."]
    parts = []
    if every:
        parts.append(f"stable in all {n} test periods: {', '.join(every)}")
    if one:
        parts.append(f"belongs to one period: {', '.join(one)}")
    if some:
        parts.append(f"in some periods: {', '.join(some)}")
    return [f"h={horizon}, {method}: " + "; ".join(parts) + "; the other groups are above the floor in no period."]
