"""What selecting the best of many configurations does to its score: the statistics of ``search``.

* :func:`pbo`: the probability of backtest overfitting by combinatorially symmetric cross-validation
  (CSCV; Bailey, Borwein, López de Prado and Zhu 2017): how often the configuration best on half of the
  days ranks below the median on the other half.
* :func:`deflated_sharpe`: the deflated Sharpe ratio (Bailey and López de Prado 2014): the probability that
  the selected strategy's true Sharpe ratio is above zero, benchmarked against the expected maximum Sharpe
  ratio of ``n_trials`` no-skill trials with the trials' dispersion, corrected for skew and kurtosis.
* :func:`reality_check`: Hansen's SPA and Romano-Wolf's StepM (``arch.bootstrap``) over every trial's
  per-day losses against a benchmark's: the family-wise answer when every trial is scored on the same days.

All quantities are per period (per day); nothing is annualised.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np
from scipy import stats

from pipeline.evaluation.inference import ALPHA, block_length

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
    sums = np.array([perf[b].sum(axis=0) for b in blocks])        # (S, N)
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
    return {"pbo": float(np.mean(logits <= 0)), "logits": logits, "n_splits": len(logits), "n_blocks": S,
            "n_configurations": N}


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """The expected maximum of ``n_trials`` Sharpe ratios with true value 0 and variance ``sharpe_variance``
    (false strategy theorem): ``sqrt(V) ((1 - g) Z^-1(1 - 1/N) + g Z^-1(1 - 1/(N e)))``, g Euler's constant."""
    if n_trials < 2:
        return 0.0
    z = stats.norm.ppf
    return float(np.sqrt(sharpe_variance) * ((1 - EULER_GAMMA) * z(1 - 1 / n_trials)
                                             + EULER_GAMMA * z(1 - 1 / (n_trials * np.e))))


def probabilistic_sharpe(sharpe: float, benchmark: float, n_obs: int, skew: float, kurtosis: float) -> float:
    """P(true Sharpe > ``benchmark``) for an observed per-period ``sharpe`` over ``n_obs`` periods with
    returns of ``skew`` and (non-excess) ``kurtosis``."""
    denom = 1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2
    if n_obs < 2 or denom <= 0:
        return float("nan")
    return float(stats.norm.cdf((sharpe - benchmark) * np.sqrt(n_obs - 1) / np.sqrt(denom)))


def deflated_sharpe(returns: np.ndarray, trial_sharpes: np.ndarray) -> dict:
    """The deflated Sharpe ratio of the selected strategy's per-period ``returns``, among ``trial_sharpes``
    (every trial's per-period Sharpe ratio, the selected one included: their number and variance set the
    benchmark). ``{"dsr", "sharpe", "benchmark", "n_trials", "trial_variance", "skew", "kurtosis", "n_obs"}``."""
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
    return {"dsr": probabilistic_sharpe(sharpe, bench, len(r), skew, kurt), "sharpe": sharpe, "benchmark": bench,
            "n_trials": int(len(trial_sharpes)), "trial_variance": var, "skew": skew, "kurtosis": kurt, "n_obs": int(len(r))}


def reality_check(benchmark_loss: np.ndarray, losses: np.ndarray, h: int = 1, reps: int = 1000, seed: int = 0,
                  alpha: float = ALPHA) -> dict:
    """Hansen's SPA (consistent p-value) and Romano-Wolf's StepM over every configuration's per-day losses
    ``losses`` ``(T, N)`` against ``benchmark_loss`` ``(T,)`` (lower is better), stationary bootstrap with the
    project's block length for h-day overlap. ``{"spa_p", "stepm_superior" (column indices), "block", "reps"}``."""
    from arch.bootstrap import SPA

    bench = np.asarray(benchmark_loss, dtype=float)
    models = np.asarray(losses, dtype=float)
    block = block_length(len(bench), h)
    # a configuration whose loss never differs from the benchmark's (it makes the same calls every day) has no
    # variance to studentise by and cannot be better: it is left out of the bootstrap (with none left, p = 1)
    varies = np.flatnonzero((models - bench[:, None]).std(axis=0) > 0)
    if len(varies) == 0:
        return {"spa_p": 1.0, "stepm_superior": [], "block": int(block), "reps": reps}
    models = models[:, varies]
    spa = SPA(bench, models, block_size=block, reps=reps, bootstrap="stationary", seed=seed)
    spa.compute()
    superior = [int(varies[i]) for i in stepm_superior(bench, models, alpha, block, reps, seed)]
    return {"spa_p": float(spa.pvalues["consistent"]), "stepm_superior": superior, "block": int(block), "reps": reps}


def stepm_superior(bench: np.ndarray, models: np.ndarray, alpha: float, block: int, reps: int, seed: int) -> list[int]:
    """Romano-Wolf's step-down, as ``arch.bootstrap.StepM.compute`` runs it (SPA on the models not yet found
    better, until a step finds none), except that it stops when every model has been found better: arch 8.0
    goes on with none left and fails on an empty array."""
    from arch.bootstrap import SPA

    k = models.shape[1]
    spa = SPA(bench, models, block_size=block, reps=reps, bootstrap="stationary", seed=seed)
    spa.compute()
    better = [int(i) for i in spa.better_models(alpha)]
    found = better[:]
    while better and len(found) < k:
        keep = np.ones(k, dtype=bool)
        keep[np.array(found)] = False
        spa.subset(keep)
        spa.compute()
        better = [int(i) for i in spa.better_models(alpha)]
        found.extend(better)
    return sorted(found)
