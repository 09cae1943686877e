"""Every test and interval featureproof reports: the one inference module of ``run``, ``compare`` and the
explain stage. Its error rates are measured by ``python -m pipeline calibrate`` (:mod:`pipeline.calibration.study`).

The unit of evidence is the **test day**: the losses of all symbols on one day are averaged into one
per-day value (:func:`per_day`), folds are concatenated test days, and seeds are averaged into one
ensemble prediction *before* anything reaches this module. Spread over seeds and folds is stability,
never a test.

Labels over h days overlap, so per-day series are serially dependent. Two tools cope with that:

* :func:`mean_test`: a t-test of a per-day mean (e.g. a Diebold-Mariano loss differential) with the
  *equal-weighted cosine* (EWC) long-run variance and fixed-b Student-t critical values (Müller 2004;
  Lazarus, Lewis, Stock & Watson 2018, "HAR inference: recommendations for practice"). Its degrees of
  freedom ``nu = min(0.4 T^(2/3), T / (4h))`` shrink as the horizon grows, so the variance sees at least
  the ``h - 1`` lags that overlapping labels create and the critical value pays for estimating it. The
  variance is the larger of the EWC one and the truncated (h - 1 lags) one: on fat-tailed and skewed
  loss differentials each alone rejected 6-7% of null samples, their maximum at most 5%. The 95 %
  interval it returns is the exact dual of the test: it excludes zero if and only if p < 0.05.
* :func:`metric_intervals`: for metrics that are not a mean over days (AUC, MCC, R², IC), the estimate
  ± t(K-1) x a moving-block bootstrap standard error, resampling blocks of consecutive test *days* (all
  symbols of a day together); the block length (:func:`block_length`) is at least ``6h`` and grows like
  ``T^(1/3)``. Metrics that are means over days (accuracy, Brier, log loss, MAE, MSE) take the
  :func:`mean_test` interval instead.

Exact small tests (Pesaran-Timmermann, McNemar) assume independent days; :func:`iid_tests_valid` says
where that holds (h = 1, one symbol), and the reports show them only there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
import pandas as pd
from scipy import special, stats

ALPHA = 0.05
POWER = 0.80


# --------------------------------------------------------------------------- per-day series
def per_day(values: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Mean of ``values`` ``(n,)`` per test date, in date order: ``(D,)``. Several symbols on one day
    count as one observation."""
    _, inverse, counts = np.unique(np.asarray(dates), return_inverse=True, return_counts=True)
    return np.bincount(inverse.ravel(), weights=np.asarray(values, float)) / counts


def day_series(values: np.ndarray, dates: np.ndarray) -> pd.Series:
    """:func:`per_day` as a series indexed by date (for aligning days across configurations)."""
    return pd.Series(np.asarray(values, float)).groupby(pd.DatetimeIndex(dates)).mean()


# --------------------------------------------------------------------------- HAR t-test of a mean
def ewc_dof(n_days: int, h: int = 1) -> int:
    """Degrees of freedom (number of cosine weights) of the EWC variance for ``n_days`` days, horizon h."""
    nu = min(0.4 * n_days ** (2 / 3), n_days / (4 * max(h, 1)))
    return int(max(2, np.floor(nu)))


@lru_cache(maxsize=64)
def _cosines(n: int, nu: int) -> np.ndarray:
    t = (np.arange(n) + 0.5) / n
    out = np.sqrt(2.0 / n) * np.cos(np.pi * np.arange(1, nu + 1)[:, None] * t[None, :])
    out.flags.writeable = False
    return out


def truncated_variance(d: np.ndarray, h: int = 1) -> float:
    """Long-run variance from the first ``h`` autocovariances (rectangular kernel, h - 1 lags): exact for
    the MA(h-1) dependence that overlapping h-day labels create; never below the plain variance."""
    n = len(d)
    dc = d - d.mean()
    gamma = [float(np.dot(dc[k:], dc[: n - k]) / n) for k in range(min(h, n))]
    return max(gamma[0] + 2 * sum(gamma[1:]), gamma[0])


def long_run_variance(d: np.ndarray, h: int = 1) -> tuple[float, int]:
    """Long-run variance of ``d`` ``(T,)`` and the degrees of freedom of its critical values: the larger
    of the EWC estimate (robust to dependence beyond h) and :func:`truncated_variance`. Both are
    consistent; taking the larger keeps the size at or below nominal in the calibration study, where
    either alone reached 6-7% on fat-tailed or skewed loss differentials."""
    d = np.asarray(d, float)
    nu = ewc_dof(len(d), h)
    lam = _cosines(len(d), nu) @ (d - d.mean())
    return max(float(np.mean(lam**2)), truncated_variance(d, h)), nu


def wilson_interval(hits: float, n: int, level: float = 1 - ALPHA) -> tuple[float, float]:
    """Wilson score interval of a rate ``hits / n`` (a detection or false-claim rate over ``n`` runs); NaNs
    for ``n = 0``. Its coverage stays near ``level`` at rates near 0 or 1, where the Wald interval's fails."""
    if n == 0:
        return (float("nan"), float("nan"))
    z = float(stats.norm.ppf(0.5 + level / 2))
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


@dataclass
class MeanTest:
    """A test of ``mean(d) == 0`` over test days, its dual interval and the smallest effect it detects."""

    mean: float
    se: float
    dof: int
    statistic: float
    p_value: float
    ci_low: float
    ci_high: float
    mde: float  # smallest |mean| detected with probability POWER at level ALPHA (two-sided)
    n_days: int
    alternative: str = "two-sided"

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA


def _t_sf(x: float, nu: float) -> float:
    """Student-t survival function (``stats.t.sf``, identical values), without scipy.stats' per-call overhead:
    the explain stage runs a thousand of these tests per run."""
    return float(special.stdtr(nu, -x))


def _t_ppf(q: float, nu: float) -> float:
    """Student-t quantile (``stats.t.ppf``, identical values)."""
    return float(special.stdtrit(nu, q))


def mean_test(d: np.ndarray, h: int = 1, alternative: str = "two-sided", alpha: float = ALPHA) -> MeanTest:
    """HAR t-test of the mean of the per-day series ``d`` ``(T,)``; ``alternative`` is ``two-sided``,
    ``greater`` (mean > 0) or ``less``. The interval is two-sided at ``1 - alpha`` (for ``greater`` /
    ``less``: one-sided, unbounded on the other side)."""
    d = np.asarray(d, float)
    d = d[np.isfinite(d)]
    n = len(d)
    mean = float(d.mean()) if n else float("nan")
    if n < 8:  # too few days for a variance: no test, an interval that says nothing
        return MeanTest(
            mean, float("nan"), 0, float("nan"), 1.0, float("-inf"), float("inf"), float("nan"), n, alternative
        )
    if np.ptp(d) <= 1e-12 * float(np.abs(d).max()):
        # the same differential on every day (relative tolerance: squared-return losses are ~1e-4, so an
        # absolute one would call real differences constant). Zero: nothing to test (p = 1, interval [0, 0]);
        # non-zero: one side wins on every day (p = 0, interval [mean, mean]): the interval and the test agree
        constant_p = (
            1.0
            if mean == 0
            else (0.0 if alternative == "two-sided" or (mean > 0) == (alternative == "greater") else 1.0)
        )
        lo = mean if alternative != "less" else float("-inf")
        hi = mean if alternative != "greater" else float("inf")
        return MeanTest(mean, 0.0, 0, float("nan"), constant_p, lo, hi, float("nan"), n, alternative)
    omega, nu = long_run_variance(d, h)
    se = float(np.sqrt(max(omega, 1e-300) / n))
    stat = mean / se
    if alternative == "two-sided":
        p = 2 * _t_sf(abs(stat), nu)
        q = _t_ppf(1 - alpha / 2, nu)
        lo, hi = mean - q * se, mean + q * se
    elif alternative == "greater":
        p = _t_sf(stat, nu)
        lo, hi = mean - _t_ppf(1 - alpha, nu) * se, float("inf")
    elif alternative == "less":
        p = _t_sf(-stat, nu)
        lo, hi = float("-inf"), mean + _t_ppf(1 - alpha, nu) * se
    else:
        raise ValueError(f"unknown alternative {alternative!r}")
    mde = float((_t_ppf(1 - alpha / 2, nu) + _t_ppf(POWER, nu)) * se)
    return MeanTest(mean, se, nu, float(stat), float(p), float(lo), float(hi), mde, n, alternative)


def min_detectable(test: MeanTest, alpha: float = ALPHA) -> float:
    """The smallest |mean| that ``test``'s design detects with probability POWER at two-sided level ``alpha``
    (e.g. ``ALPHA / m``: the first step of Holm over a family of ``m``)."""
    return float((_t_ppf(1 - alpha / 2, test.dof) + _t_ppf(POWER, test.dof)) * test.se)


def paired_loss_test(
    loss_a: np.ndarray, loss_b: np.ndarray, dates: np.ndarray, h: int = 1, alternative: str = "two-sided"
) -> MeanTest:
    """Diebold-Mariano on per-day loss differentials ``a - b`` (negative mean: ``a`` has the lower loss)."""
    return mean_test(per_day(np.asarray(loss_a, float) - np.asarray(loss_b, float), dates), h, alternative)


# --------------------------------------------------------------------------- block bootstrap
def block_length(n_days: int, h: int = 1) -> int:
    """Moving-block length in test days: at least 6h (overlapping labels) and about 1.5 T^(1/3)."""
    return int(max(1, min(n_days, max(6 * h, int(np.ceil(1.5 * n_days ** (1 / 3)))))))


class DayBlocks:
    """Moving-block resampling of row indices by blocks of consecutive unique test dates."""

    def __init__(self, dates: np.ndarray, block: int):
        unique, inverse, counts = np.unique(dates, return_inverse=True, return_counts=True)
        self.m = len(unique)
        self.day_of_row = inverse.ravel()  # (n,) each row's day, in date order
        self.order = np.argsort(self.day_of_row, kind="stable")  # rows grouped by day, days in date order
        self.counts = counts
        self.first = np.r_[0, np.cumsum(counts)[:-1]]  # position of each day's first row in order
        self.block = max(1, min(block, self.m))

    @property
    def n_blocks(self) -> int:
        return int(np.ceil(self.m / self.block))

    def days(self, rng: np.random.Generator) -> np.ndarray:
        starts = rng.integers(0, self.m - self.block + 1, size=self.n_blocks)
        return (starts[:, None] + np.arange(self.block)[None, :]).ravel()[: self.m]

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        picked = self.days(rng)
        counts = self.counts[picked]
        total = int(counts.sum())
        # ragged gather: for each picked day, the positions first[d] .. first[d] + counts[d] - 1
        shift = np.repeat(self.first[picked] - (np.cumsum(counts) - counts), counts)
        return self.order[np.arange(total) + shift]


class BlockDraws:
    """The moving-block resamples of one set of test dates, drawn once and shared by every prediction judged
    on those dates (the model and every baseline at one horizon): the same draws ``metric_intervals`` makes
    for ``seed``, so sharing them changes no number."""

    def __init__(self, dates: np.ndarray, h: int = 1, n_boot: int = 500, seed: int = 0, block: int | None = None):
        self.blocks = DayBlocks(dates, block or block_length(len(np.unique(dates)), h))
        rng = np.random.default_rng(seed)
        self.picked = [self.blocks.days(rng) for _ in range(max(n_boot, 0))]  # days, not rows: O(n_boot x days)

    @property
    def day_of_row(self) -> np.ndarray:
        """(n,) each row's day index (0..days-1), for statistics that take the days' multiplicities."""
        return self.blocks.day_of_row

    def weighted_intervals(
        self, statistic: Callable[[np.ndarray], dict[str, float]], est: dict[str, float], alpha: float = ALPHA
    ) -> dict[str, tuple[float, float]]:
        """:func:`metric_intervals` with ``statistic(m)`` of the *days'* multiplicities ``m`` ``(days,)``: a
        row's multiplicity is its day's (``m[day_of_row]``)."""
        if not self.picked:
            return {}
        draws: dict[str, list[float]] = {}
        for picked in self.picked:
            for key, value in statistic(np.bincount(picked, minlength=self.blocks.m)).items():
                draws.setdefault(key, []).append(value)
        return _t_intervals(draws, est, self.blocks.n_blocks, alpha)


def _t_intervals(
    draws: dict[str, list[float]], est: dict[str, float], n_blocks: int, alpha: float
) -> dict[str, tuple[float, float]]:
    q = stats.t.ppf(1 - alpha / 2, max(n_blocks - 1, 1))
    out = {}
    for key, values in draws.items():
        arr = np.asarray(values, float)
        arr = arr[np.isfinite(arr)]
        if len(arr) < 2 or not np.isfinite(est.get(key, np.nan)):
            out[key] = (float("nan"), float("nan"))
            continue
        half = q * float(arr.std(ddof=1))
        out[key] = (float(est[key] - half), float(est[key] + half))
    return out


def metric_intervals(
    statistic: Callable[[np.ndarray], dict[str, float]],
    point: Callable[[np.ndarray], dict[str, float]] | dict[str, float],
    dates: np.ndarray,
    h: int = 1,
    n_boot: int = 500,
    seed: int = 0,
    alpha: float = ALPHA,
    block: int | None = None,
) -> dict[str, tuple[float, float]]:
    """95% intervals of every value ``statistic(rows)`` returns, for metrics that are not a mean over days
    (AUC, MCC, R², IC, ...): the estimate ``point`` ± t(K-1) x the moving-block bootstrap standard error,
    K = number of blocks (``block`` days each, default :func:`block_length`). A percentile interval
    under-covered at h = 5, 10 in the calibration study; the t(K-1) factor pays for the few blocks.
    ``n_boot == 0``: no intervals (empty dict)."""
    if n_boot <= 0:
        return {}
    rng = np.random.default_rng(seed)
    blocks = DayBlocks(dates, block or block_length(len(np.unique(dates)), h))
    est = point if isinstance(point, dict) else point(np.arange(len(dates)))
    draws: dict[str, list[float]] = {}
    for _ in range(n_boot):
        for key, value in statistic(blocks.sample(rng)).items():
            draws.setdefault(key, []).append(value)
    return _t_intervals(draws, est, blocks.n_blocks, alpha)


def outcome(edge: float, p_value: float, alpha: float = ALPHA) -> str:
    """``"better"``, ``"worse"`` or ``"none"``: how a test of an edge (positive = the LSTM or set A is
    better) reads at level ``alpha``; every verdict, colour and mark in the reports goes through it."""
    if not p_value < alpha:
        return "none"
    return "better" if edge > 0 else "worse"


# --------------------------------------------------------------------------- multiplicity
def holm(p: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (monotone, capped at 1). A NaN p-value (no test was possible) stays
    NaN and is not counted in the family's size m."""
    p = np.asarray(p, float)
    adjusted = np.full(len(p), np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    m = len(tested)
    running = 0.0
    for rank, i in enumerate(tested[np.argsort(p[tested], kind="stable")]):
        running = max(running, (m - rank) * p[i])
        adjusted[i] = min(1.0, running)
    return adjusted


# --------------------------------------------------------------------------- exact tests for independent days
def iid_tests_valid(h: int, n_symbols: int) -> bool:
    """Pesaran-Timmermann and McNemar treat test samples as independent: true only for h = 1 on one
    symbol (several symbols on a day share the market's move; h > 1 labels overlap)."""
    return h == 1 and n_symbols == 1


def pesaran_timmermann(pred_up: np.ndarray, true_up: np.ndarray) -> dict[str, float]:
    """Pesaran & Timmermann (1992) test of directional accuracy; H0: prediction independent of outcome
    (one-sided). Valid for independent samples only (see :func:`iid_tests_valid`)."""
    pred_up, true_up = pred_up.astype(float), true_up.astype(float)
    n = len(true_up)
    p_hat = float(np.mean(pred_up == true_up))
    py, px = true_up.mean(), pred_up.mean()
    p_star = py * px + (1 - py) * (1 - px)
    var_p = p_star * (1 - p_star) / n
    var_star = (
        (2 * py - 1) ** 2 * px * (1 - px) / n
        + (2 * px - 1) ** 2 * py * (1 - py) / n
        + 4 * py * px * (1 - py) * (1 - px) / n**2
    )
    denom = var_p - var_star
    if denom <= 0 or px in (0.0, 1.0):
        return {"statistic": 0.0, "p_value": 1.0}
    z = (p_hat - p_star) / np.sqrt(denom)
    return {"statistic": float(z), "p_value": float(stats.norm.sf(z))}


def mcnemar_binomial(model_right: np.ndarray, base_right: np.ndarray) -> dict[str, float]:
    """Exact test on discordant days: model right & baseline wrong vs the reverse (two-sided). Valid for
    independent samples only (see :func:`iid_tests_valid`)."""
    b = int(np.sum(model_right & ~base_right))
    c = int(np.sum(~model_right & base_right))
    if b + c == 0:
        return {"statistic": 0.0, "p_value": 1.0}
    res = stats.binomtest(b, b + c, 0.5)
    return {"statistic": float(b - c), "p_value": float(res.pvalue)}
