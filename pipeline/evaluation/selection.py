"""What selecting the best of many configurations does to its score: the statistics of ``search``.

* :func:`pbo`: the probability of backtest overfitting by combinatorially symmetric cross-validation
  (CSCV; Bailey, Borwein, López de Prado and Zhu 2017): how often the configuration best on half of the
  days ranks below the median on the other half.
* :func:`deflated_sharpe`: the deflated Sharpe ratio (Bailey and López de Prado 2014): the probability that
  the selected strategy's true Sharpe ratio is above zero, benchmarked against the expected maximum Sharpe
  ratio of ``n_trials`` no-skill trials with the trials' dispersion, corrected for skew and kurtosis.
* :func:`reality_check`: Hansen's studentised SPA and Romano-Wolf's studentised StepM (``arch.bootstrap`` on
  differentials scaled by their own HAR standard deviation) over every trial's per-day losses against a
  benchmark's: the family-wise answer when every trial is scored on the same days.

All quantities are per period (per day); nothing is annualised.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
from scipy import stats

from pipeline.evaluation.inference import ALPHA, block_length, long_run_variance

EULER_GAMMA = 0.5772156649015329


def pbo(perf: np.ndarray, n_blocks: int = 16) -> dict:
    """CSCV over ``perf`` ``(T, N)``: per-period performance (higher is better) of N configurations on the
    same T periods. The rows are cut into ``n_blocks`` consecutive blocks (even; fewer when T is short); for
    every half of the blocks (in-sample) and its complement (out-of-sample), the configuration with the best
    in-sample mean is ranked out of sample (average ranks, 1 = worst): ``omega = rank / (N + 1)``,
    ``logit = log(omega / (1 - omega))``. PBO is the share of splits with ``logit <= 0``, i.e. the in-sample
    best at or below the out-of-sample median.

    Returns ``{"pbo", "logits" (one per split), "n_splits", "n_blocks", "n_configurations"}``."""
    perf = np.asarray(perf, dtype=float)
    T, N = perf.shape
    if N < 2:
        raise ValueError("PBO needs at least two configurations")
    S = min(n_blocks, T) // 2 * 2
    if S < 2:
        raise ValueError("PBO needs at least two periods")
    blocks = np.array_split(np.arange(T), S)
    sums = np.array([perf[b].sum(axis=0) for b in blocks])  # (S, N)
    sizes = np.array([len(b) for b in blocks], dtype=float)
    logits = []
    for chosen in combinations(range(S), S // 2):
        ins = np.zeros(S, bool)
        ins[list(chosen)] = True
        r_in = sums[ins].sum(axis=0) / sizes[ins].sum()
        r_out = sums[~ins].sum(axis=0) / sizes[~ins].sum()
        best = int(np.argmax(r_in))
        omega = stats.rankdata(r_out)[best] / (N + 1)
        logits.append(float(np.log(omega / (1 - omega))))
    logits = np.array(logits)
    return {
        "pbo": float(np.mean(logits <= 0)),
        "logits": logits,
        "n_splits": len(logits),
        "n_blocks": S,
        "n_configurations": N,
    }


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """The expected maximum of ``n_trials`` Sharpe ratios with true value 0 and variance ``sharpe_variance``
    (false strategy theorem): ``sqrt(V) ((1 - g) Z^-1(1 - 1/N) + g Z^-1(1 - 1/(N e)))``, g Euler's constant."""
    if n_trials < 2:
        return 0.0
    z = stats.norm.ppf
    return float(
        np.sqrt(sharpe_variance)
        * ((1 - EULER_GAMMA) * z(1 - 1 / n_trials) + EULER_GAMMA * z(1 - 1 / (n_trials * np.e)))
    )


def probabilistic_sharpe(sharpe: float, benchmark: float, n_obs: int, skew: float, kurtosis: float) -> float:
    """P(true Sharpe > ``benchmark``) for an observed per-period ``sharpe`` over ``n_obs`` periods with
    returns of ``skew`` and (non-excess) ``kurtosis``."""
    denom = 1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2
    if n_obs < 2 or denom <= 0:
        return float("nan")
    return float(stats.norm.cdf((sharpe - benchmark) * np.sqrt(n_obs - 1) / np.sqrt(denom)))


def timing_excess(strategy: np.ndarray, buy_and_hold: np.ndarray, exposure: float) -> np.ndarray:
    """A long/flat strategy's per-period return in excess of random timing with the same exposure:
    ``strategy - exposure * buy_and_hold``. A strategy with no timing skill (positions independent of the next
    return) earns the asset's drift times its time in the market, so its *raw* Sharpe ratio is above zero on any
    rising market; this excess has mean zero (less costs) whatever the drift. It is the return whose Sharpe
    ratio :func:`deflated_sharpe` deflates: the null is "no skill", not "no return"."""
    return np.asarray(strategy, dtype=float) - float(exposure) * np.asarray(buy_and_hold, dtype=float)


def deflated_sharpe(returns: np.ndarray, trial_sharpes: np.ndarray) -> dict:
    """The deflated Sharpe ratio of the selected strategy's per-period ``returns``, among ``trial_sharpes``
    (the per-period Sharpe ratio of every trial *attempted*, pruned ones included, the selected one too: their
    number and variance set the benchmark). Pass returns in excess of what no skill earns
    (:func:`timing_excess`): against raw returns, a no-skill strategy on a rising market passes.
    ``{"dsr", "sharpe", "benchmark", "n_trials", "trial_variance", "skew", "kurtosis", "n_obs"}``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> r = 0.002 + 0.01 * rng.standard_normal(1000)                  # daily Sharpe about 0.2
    >>> round(deflated_sharpe(r, 0.03 * rng.standard_normal(30))["dsr"], 2)
    1.0
    """
    r = np.asarray(returns, dtype=float)
    r = r[np.isfinite(r)]
    trial_sharpes = np.asarray(trial_sharpes, dtype=float)
    trial_sharpes = trial_sharpes[np.isfinite(trial_sharpes)]
    sd = r.std(ddof=1) if len(r) > 1 else 0.0
    sharpe = float(r.mean() / sd) if sd > 0 else 0.0
    skew = float(stats.skew(r)) if sd > 0 else 0.0
    kurt = float(stats.kurtosis(r, fisher=False)) if sd > 0 else 3.0
    var = float(np.var(trial_sharpes, ddof=1)) if len(trial_sharpes) > 1 else 0.0
    bench = expected_max_sharpe(len(trial_sharpes), var)
    return {
        "dsr": probabilistic_sharpe(sharpe, bench, len(r), skew, kurt),
        "sharpe": sharpe,
        "benchmark": bench,
        "n_trials": int(len(trial_sharpes)),
        "trial_variance": var,
        "skew": skew,
        "kurtosis": kurt,
        "n_obs": int(len(r)),
    }


def studentised_differentials(benchmark_loss: np.ndarray, losses: np.ndarray, h: int = 1) -> tuple[np.ndarray, int]:
    """Each configuration's per-day loss differential ``benchmark_loss - losses[:, k]`` (positive: k is better)
    divided by its own HAR long-run standard deviation (:func:`pipeline.evaluation.inference.long_run_variance`):
    ``(T, N)``, and the degrees of freedom of the HAR variance. The mean of column k times ``sqrt(T)`` is
    configuration k's HAR t-statistic. A column without variance is left unscaled."""
    d = np.asarray(benchmark_loss, dtype=float)[:, None] - np.asarray(losses, dtype=float)
    out = d.copy()
    dof = 0
    for k in range(d.shape[1]):
        omega, dof = long_run_variance(d[:, k], h)
        if omega > 0:
            out[:, k] = d[:, k] / np.sqrt(omega)
    return out, dof


def _bootstrap_means(x: np.ndarray, block: int, reps: int, seed: int) -> np.ndarray:
    """``(reps, N)`` column means of ``x`` ``(T, N)`` resampled by ``arch``'s stationary bootstrap."""
    from arch.bootstrap import StationaryBootstrap

    bs = StationaryBootstrap(block, x, seed=seed)
    return np.array([data[0][0].mean(axis=0) for data in bs.bootstrap(reps)])


def reality_check(
    benchmark_loss: np.ndarray, losses: np.ndarray, h: int = 1, reps: int = 1000, seed: int = 0, alpha: float = ALPHA
) -> dict:
    """Hansen's studentised SPA (consistent p-value) and Romano-Wolf's studentised StepM over every configuration's
    per-day losses ``losses`` ``(T, N)`` against ``benchmark_loss`` ``(T,)`` (lower is better), with ``arch``'s
    stationary bootstrap and the project's block length for h-day overlap. ``{"spa_p", "stepm_superior" (column
    indices), "block", "reps", "studentised"}``.

    Why not ``arch.bootstrap.SPA`` itself: in arch 8.0 its statistic is the largest *raw* mean differential whatever
    ``studentize`` says (the variance only sets the recentring threshold), so a small, steady edge is masked by noisy
    zero-edge configurations. Here (Hansen 2005):

    * each differential is divided by its own HAR standard deviation (:func:`studentised_differentials`); the
      statistic is the largest studentised mean, each HAR t-statistic first mapped to the normal quantile of its
      fixed-b Student-t probability (the HAR variance has few degrees of freedom; unmapped, the largest of 20
      t-statistics rejected 6.6 % of no-edge families at 5 %, mapped 4.7 %: docs/calibration.md);
    * the bootstrap resamples the studentised series (the variance held fixed, as in Hansen's paper), each
      column's deviations rescaled to unit spread; the consistent p-value recentres a configuration only when its
      mean is above ``-sqrt(2 log log T / T)``;
    * StepM steps down: a configuration whose statistic exceeds the 1 - alpha quantile of the bootstrap maximum
      over the configurations not yet found better is better; repeat until a step finds none.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> steady = 0.1 + 0.3 * rng.standard_normal(1000)              # t about 10
    >>> noisy = 3.0 * rng.standard_normal((1000, 5))                # no edge, ten times the spread
    >>> r = reality_check(np.zeros(1000), -np.column_stack([steady, noisy]), reps=300)
    >>> r["spa_p"] < 0.05, r["stepm_superior"]
    (True, [0])
    """
    bench = np.asarray(benchmark_loss, dtype=float)
    models = np.asarray(losses, dtype=float)
    block = block_length(len(bench), h)
    out = {"spa_p": 1.0, "stepm_superior": [], "block": int(block), "reps": reps, "studentised": True}
    # a configuration whose loss never differs from the benchmark's (it makes the same calls every day) has no
    # variance to studentise by and cannot be better: it is left out of the bootstrap (with none left, p = 1)
    varies = np.flatnonzero((models - bench[:, None]).std(axis=0) > 0)
    if len(varies) == 0:
        return out
    x, dof = studentised_differentials(bench, models[:, varies], h)
    n = len(x)
    mean = x.mean(axis=0)
    z = stats.norm.ppf(stats.t.cdf(mean * np.sqrt(n), dof)) / np.sqrt(n)  # statistics on the normal scale
    boot = _bootstrap_means(x, block, reps, seed)  # (reps, N)
    # each column's bootstrap deviations rescaled to the unit spread the statistics have (the stationary bootstrap's
    # spread of an overlapping series' mean fell about 5 % short of the HAR one at h = 5: 7.2 % size, 4.4 % rescaled)
    spread = boot.std(axis=0) * np.sqrt(n)
    centred = (boot - boot.mean(axis=0)) / np.where(spread > 0, spread, 1.0)  # StepM: recentred at every mean
    consistent = np.where(mean >= -np.sqrt(2 * np.log(np.log(n)) / n), mean, 0.0)
    out["spa_p"] = float(np.mean((centred + mean - consistent).max(axis=1) > z.max()))
    found = np.zeros(len(mean), dtype=bool)
    while not found.all():
        crit = np.quantile(centred[:, ~found].max(axis=1), 1 - alpha)
        step = (z > crit) & ~found
        if not step.any():
            break
        found |= step
    out["stepm_superior"] = sorted(int(varies[i]) for i in np.flatnonzero(found))
    return out
