"""How far back the model looks: lag blocks, per-lag attribution mass, and the sentence that sums them up.

* :func:`lag_blocks`: the blocks of days permuted together, counted back from the window's last day
  (day 1): the last day, days 2-5, 6-20 and 21-60 for a 60-day window; a shorter window gets the same
  boundaries scaled to its length, a longer one a last block 61-T. Permuting a block of one group across
  test samples (:func:`explain.ablation.permutation_importance` with the block's ``steps``) measures what
  the model loses without that stretch of that group's history.
* :func:`lag_mass`: expected-gradients mass per lag, ``mean_n |sum_f phi[n, t, f]|`` normalised to shares
  (the event-level view of TimeSHAP: all features of one day together).
* :func:`reliance_sentence`: "most of the model's reliance is on the last N days".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOUNDARIES = (1, 5, 20, 60)


@dataclass(frozen=True)
class LagBlock:
    """Days ``first`` .. ``last`` before the prediction (day 1 = the window's last row)."""

    first: int
    last: int

    @property
    def label(self) -> str:
        return (
            "last day"
            if self.last == 1
            else (f"day {self.first}" if self.first == self.last else f"days {self.first}-{self.last}")
        )

    def steps(self, window: int) -> slice:
        """The block's time steps in a ``(N, T, F)`` window (step ``T - 1`` is day 1)."""
        return slice(window - self.last, window - self.first + 1)

    def contains(self, day: int) -> bool:
        return self.first <= day <= self.last


def lag_blocks(window: int) -> list[LagBlock]:
    """Blocks covering days 1..``window`` (see the module docstring)."""
    if window >= BOUNDARIES[-1]:
        bounds = list(BOUNDARIES) + ([window] if window > BOUNDARIES[-1] else [])
    else:
        bounds = [1] + [int(round(b * window / BOUNDARIES[-1])) for b in BOUNDARIES[1:-1]] + [window]
    out, prev = [], 0
    for b in bounds:
        b = min(max(b, prev + 1), window)
        if b > prev:
            out.append(LagBlock(prev + 1, b))
            prev = b
    return out


def lag_mass(phi: np.ndarray, j: int) -> np.ndarray:
    """``(T,)`` share of expected-gradients mass per lag (index ``T - 1`` = day 1) for output ``j`` of
    ``phi`` ``(N, T, F, H)``."""
    mass = np.abs(phi[..., j].sum(axis=2)).mean(axis=0)
    total = mass.sum()
    return mass / total if total > 0 else mass


def days_holding(share: np.ndarray, level: float = 0.5) -> int:
    """The fewest most-recent days whose lag shares ``(T,)`` add up to ``level``."""
    cum = np.cumsum(share[::-1])
    return int(np.searchsorted(cum, level - 1e-12) + 1)


def reliance_sentence(horizon: int, share: np.ndarray | None, blocks: dict[str, float] | None = None) -> str:
    """One sentence on how far back the model looks at ``horizon``: from the lag shares of expected
    gradients and, if given, the permutation loss increase per lag block (``label -> value``, summed over
    groups)."""
    parts = []
    if share is not None and share.sum() > 0:
        n = days_holding(share)
        last5 = float(share[-5:].sum())
        parts.append(
            f"most of the model's reliance is on the last {n} day{'s' if n > 1 else ''} "
            f"(they hold half of the expected-gradients mass; the last 5 days hold {100 * last5:.0f}%)"
        )
    if blocks:
        top = max(blocks, key=blocks.get)
        total = sum(max(v, 0.0) for v in blocks.values())
        share_top = max(blocks[top], 0.0) / total if total > 0 else float("nan")
        parts.append(
            f"of the lag blocks, permuting {'the last day' if top == 'last day' else top} costs the most"
            + (f" ({100 * share_top:.0f}% of the positive loss increases)" if np.isfinite(share_top) else "")
        )
    return (f"h={horizon}: " + "; ".join(parts) + ".") if parts else ""
