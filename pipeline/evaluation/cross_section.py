"""Cross-sectional evaluation of a score on a panel (several symbols per date), as Qlib and alphalens
report it: per-date IC and Rank IC against the realised h-day return, their mean, ICIR and a
dependence-robust test; quantile portfolios (mean forward return per quantile, top-minus-bottom spread); a
long-short book (top k / bottom k, equal weight, held h days as h staggered books) with costs, turnover,
cumulative return and Sharpe.

Every interval and p-value comes from :func:`pipeline.evaluation.inference.mean_test` on a per-date series with the
horizon's overlap (HAR variance, fixed-b critical values), the same calibrated test as the rest of
featureproof; the calibration study includes the IC and spread cells. Dates with fewer than
``MIN_CROSS_SECTION`` symbols are left out.

Shapes: ``dates``, ``symbols``, ``score``, ``fwd``, ``next_ret`` are ``(n,)`` per test sample.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.evaluation import inference
from pipeline.targets.core import MIN_CROSS_SECTION

ANNUAL = 252


def _pivot(dates: np.ndarray, symbols: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """dates x symbols (both sorted) of the first finite value per (date, symbol); rows and columns with no
    finite value dropped (what ``pivot_table(aggfunc="first")`` gives, several times faster)."""
    frame = pd.DataFrame({"d": dates, "s": symbols, "v": values}).dropna(subset=["v"])
    table = frame.drop_duplicates(["d", "s"]).set_index(["d", "s"])["v"].unstack("s").sort_index().sort_index(axis=1)
    return table.dropna(how="all").dropna(how="all", axis=1)


def _row_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``a`` and ``b`` over the columns where both are finite."""
    ok = np.isfinite(a) & np.isfinite(b)
    n = ok.sum(axis=1)
    a = np.where(ok, a, 0.0)
    b = np.where(ok, b, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma, mb = a.sum(axis=1) / n, b.sum(axis=1) / n
        da, db = np.where(ok, a - ma[:, None], 0.0), np.where(ok, b - mb[:, None], 0.0)
        corr = (da * db).sum(axis=1) / np.sqrt((da**2).sum(axis=1) * (db**2).sum(axis=1))
    corr[n < MIN_CROSS_SECTION] = np.nan
    return corr


def _ranks(panel: pd.DataFrame) -> pd.DataFrame:
    """Per date, percentile ranks ``(rank - 0.5) / n`` in (0, 1) of the finite values."""
    n = panel.notna().sum(axis=1)
    return panel.rank(axis=1, method="average").sub(0.5).div(n, axis=0)


def _test(series: np.ndarray, h: int) -> dict:
    x = series[np.isfinite(series)]
    if len(x) < 10:
        return {
            "mean": float(np.mean(x)) if len(x) else float("nan"),
            "ci_low": float("nan"),
            "ci_high": float("nan"),
            "p_value": float("nan"),
            "t": float("nan"),
            "n_dates": int(len(x)),
        }
    t = inference.mean_test(x, h)
    return {
        "mean": t.mean,
        "ci_low": t.ci_low,
        "ci_high": t.ci_high,
        "p_value": t.p_value,
        "t": t.statistic,
        "n_dates": int(len(x)),
    }


def ic_series(score: pd.DataFrame, fwd: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per-date IC (Pearson) and Rank IC (Spearman) of ``score`` against ``fwd`` (dates x symbols)."""
    s, f = score.to_numpy(float), fwd.to_numpy(float)
    both = np.isfinite(s) & np.isfinite(f)
    rs = _ranks(score.where(both)).to_numpy(float)
    rf = _ranks(fwd.where(both)).to_numpy(float)
    return _row_corr(s, f), _row_corr(rs, rf)


def book_weights(score: pd.DataFrame, k: int) -> pd.DataFrame:
    """Long the top ``k``, short the bottom ``k`` symbols of each date, 1/k each (0 elsewhere)."""
    n = score.notna().sum(axis=1)
    rank = score.rank(axis=1, method="first")
    top = rank.gt(n - k, axis=0)
    bottom = rank.le(k)
    w = top.astype(float) / k - bottom.astype(float) / k
    return w.where(n >= max(2 * k, MIN_CROSS_SECTION), 0.0).fillna(0.0)


def _stability(S: pd.DataFrame, quantiles: int) -> dict:
    """How much the score moves from one date to the next (descriptive, as alphalens' turnover tear sheet): the mean
    rank autocorrelation of the score across symbols between consecutive dates, and the mean share of the top and
    of the bottom quantile's symbols that were not in it the date before."""
    ranks = _ranks(S)
    auto = _row_corr(ranks.to_numpy(float)[1:], ranks.to_numpy(float)[:-1]) if len(S) > 1 else np.array([])
    pct = ranks.to_numpy(float)
    top, bottom = pct >= (quantiles - 1) / quantiles, pct < 1 / quantiles
    turn = {}
    for name, member in (("top", top), ("bottom", bottom)):
        now, before = member[1:], member[:-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            share = (now & ~before).sum(axis=1) / now.sum(axis=1)
        turn[name] = float(np.nanmean(share)) if np.isfinite(share).any() else float("nan")
    return {
        "rank_autocorrelation": float(np.nanmean(auto)) if np.isfinite(auto).any() else float("nan"),
        "top_quantile_turnover": turn["top"],
        "bottom_quantile_turnover": turn["bottom"],
    }


def evaluate_score(
    dates: np.ndarray,
    symbols: np.ndarray,
    score: np.ndarray,
    fwd: np.ndarray,
    next_ret: np.ndarray,
    h: int,
    quantiles: int = 5,
    top_k: int = 0,
    cost_bps: float = 5.0,
) -> dict:
    """Every cross-sectional number of one score at horizon ``h`` (see the module docstring)."""
    S, F = _pivot(dates, symbols, score), _pivot(dates, symbols, fwd)
    R = _pivot(dates, symbols, next_ret).reindex(index=S.index, columns=S.columns)
    F = F.reindex(index=S.index, columns=S.columns)
    ic, ric = ic_series(S, F)
    ok = np.isfinite(ic)
    out = {"ic": _test(ic, h), "rank_ic": _test(ric, h)}
    for name, series in (("ic", ic), ("rank_ic", ric)):
        x = series[np.isfinite(series)]
        out[name]["ir"] = float(x.mean() / x.std(ddof=1)) if len(x) > 1 and x.std(ddof=1) > 0 else float("nan")
        out[name]["positive_share"] = float((x > 0).mean()) if len(x) else float("nan")
        # the daily IC's distribution, as alphalens' IC tear sheet: skew and excess kurtosis (the t is _test's)
        out[name]["skew"] = float(stats.skew(x)) if len(x) > 2 else float("nan")
        out[name]["kurtosis"] = float(stats.kurtosis(x)) if len(x) > 3 else float("nan")
    # Rank IC by calendar month (the year x month heatmap of alphalens and Qlib's analysis)
    months = pd.Series(ric, index=pd.DatetimeIndex(S.index)).dropna()
    out["rank_ic_by_month"] = {
        str(k): float(v) for k, v in months.groupby(months.index.strftime("%Y-%m")).mean().items()
    }
    out["stability"] = _stability(S, quantiles)
    # quantile portfolios: equal-weight mean forward h-day return of each score quantile, per date
    valid = S.notna() & F.notna()
    pct = _ranks(S.where(valid))
    q = np.floor(pct.to_numpy(float) * quantiles)
    fv = F.to_numpy(float)
    per_q = np.full((len(S), quantiles), np.nan)
    for b in range(quantiles):
        mask = q == b
        cnt = mask.sum(axis=1)
        with np.errstate(invalid="ignore"):
            per_q[:, b] = np.where(cnt > 0, np.where(mask, fv, 0.0).sum(axis=1) / np.maximum(cnt, 1), np.nan)
    per_q[~ok] = np.nan
    out["quantiles"] = [_test(per_q[:, b], h) for b in range(quantiles)]
    out["spread"] = _test(per_q[:, -1] - per_q[:, 0], h)
    # long-short book, held h days: the average of the last h daily books (staggered, as alphalens)
    n_sym = int(valid.sum(axis=1).median()) if len(S) else 0
    k = top_k or max(1, n_sym // quantiles)
    w = book_weights(S.where(valid), k)
    held = w.rolling(h, min_periods=1).mean()
    r = R.fillna(0.0)
    gross = (held * r).sum(axis=1).to_numpy()
    turnover = held.diff().abs().sum(axis=1).to_numpy().copy()
    turnover[0] = held.iloc[0].abs().sum()
    net = gross - turnover * cost_bps / 1e4
    has_next = R.notna().any(axis=1).to_numpy()
    net, gross, turnover = net[has_next], gross[has_next], turnover[has_next]
    sd = net.std(ddof=1) if len(net) > 1 else float("nan")
    universe = R.mean(axis=1).to_numpy()[has_next]  # the equal-weighted universe's next-day return
    ok_u = np.isfinite(universe)
    var_u = float(np.var(universe[ok_u], ddof=1)) if ok_u.sum() > 2 else 0.0
    beta = float(np.cov(net[ok_u], universe[ok_u])[0, 1] / var_u) if var_u > 0 else float("nan")
    alpha = float((net[ok_u].mean() - beta * universe[ok_u].mean()) * ANNUAL) if var_u > 0 else float("nan")
    out["book"] = {
        "k": int(k),
        "cost_bps": cost_bps,
        "daily": _test(net, h),
        "sharpe": float(net.mean() / sd * np.sqrt(ANNUAL)) if sd and sd > 0 else float("nan"),
        "sharpe_gross": float(gross.mean() / gross.std(ddof=1) * np.sqrt(ANNUAL))
        if len(gross) > 1 and gross.std() > 0
        else float("nan"),
        "annual_return": float(net.mean() * ANNUAL),
        "cumulative_return": float(np.prod(1.0 + net) - 1.0),
        "turnover": float(turnover.mean()),
        "beta": beta,  # against the equal-weighted universe (daily, net of costs)
        "alpha": alpha,  # annualised, net of costs
        "curve_dates": [str(d)[:10] for d in np.asarray(S.index)[has_next]],
        "curve": np.cumsum(net).tolist(),
    }
    out["n_dates"] = int(ok.sum())
    out["symbols_per_date"] = n_sym
    return out


def cross_section(
    dates: np.ndarray,
    symbols: np.ndarray,
    scores: dict[str, np.ndarray],
    fwd: np.ndarray,
    next_ret: np.ndarray,
    h: int,
    quantiles: int,
    top_k: int,
    cost_bps: float,
) -> dict:
    """The model's and every reference score's cross-sectional numbers at horizon ``h``, and the model
    against each reference: the per-date Rank IC difference, tested (HAR, Holm over references).
    ``scores``: name -> (n,), the model first (named by its family: ``LSTM``, ``GRU``, ...)."""
    out = {
        name: evaluate_score(dates, symbols, s, fwd, next_ret, h, quantiles, top_k, cost_bps)
        for name, s in scores.items()
    }
    model = next(iter(scores))
    S_fwd = _pivot(dates, symbols, fwd)
    _, model_ric = ic_series(_pivot(dates, symbols, scores[model]).reindex(columns=S_fwd.columns), S_fwd)
    against = {}
    for name, s in list(scores.items())[1:]:
        _, ric = ic_series(_pivot(dates, symbols, s).reindex(columns=S_fwd.columns), S_fwd)
        against[name] = _test(model_ric - ric, h)
    result = {"scores": out, "model": model, "against": against, "quantiles": quantiles}
    horizon_family([result])  # one horizon alone: Holm over the references; a run adjusts over its horizons too
    return result


def horizon_family(per_horizon: list[dict]) -> None:
    """The run's family, as for its headline tests: the model's Rank IC test and its long-short book's test
    are Holm-adjusted over the horizons (``p_holm``), the Rank IC differences against the references over
    references x horizons. In place; every sentence and mark reads ``p_holm``."""

    def adjust(tests: list[dict]) -> None:
        for t, p in zip(tests, inference.holm(np.array([t["p_value"] for t in tests], float))):
            t["p_holm"] = float(p)

    adjust([xs["scores"][xs["model"]]["rank_ic"] for xs in per_horizon])
    adjust([xs["scores"][xs["model"]]["book"]["daily"] for xs in per_horizon])
    adjust([t for xs in per_horizon for t in xs["against"].values()])


def sentence(h: int, xs: dict) -> str:
    """One plain sentence on the model's Rank IC and its long-short book."""
    m = xs["scores"][xs["model"]]
    ric, book = m["rank_ic"], m["book"]
    p = ric.get("p_holm", ric["p_value"])
    sig = np.isfinite(p) and p < inference.ALPHA
    verdict = (
        "significantly positive"
        if sig and ric["mean"] > 0
        else "significantly negative"
        if sig
        else "not distinguishable from zero"
    )
    best = max(xs["against"], key=lambda n: xs["scores"][n]["rank_ic"]["mean"], default=None)
    ref = ""
    if best:
        b = xs["scores"][best]["rank_ic"]["mean"]
        a = xs["against"][best]
        ref = f"; the best reference, {best}, has {b:+.4f} ({xs['model']} − {best}: {a['mean']:+.4f}, p_holm={a.get('p_holm', float('nan')):.3g})"
    if 2 * book["k"] > m["symbols_per_date"]:
        tail = f" No long-short book: top/bottom {book['k']} needs {2 * book['k']} symbols a day (lower --top-k)."
    else:
        tail = (
            f" Long-short top/bottom {book['k']}: Sharpe {book['sharpe']:.2f} after {book['cost_bps']:g} bps costs, "
            f"turnover {book['turnover']:.2f} per day."
        )
    return (
        f"h={h}: Rank IC {ric['mean']:+.4f} (95% CI [{ric['ci_low']:+.4f}, {ric['ci_high']:+.4f}], ICIR {ric['ir']:.2f}, "
        f"{m['n_dates']:,} dates, p_holm={p:.3g} over the run's horizons), {verdict}{ref}.{tail}"
    )
