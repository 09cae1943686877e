"""``python -m pipeline calibrate``: a Monte-Carlo study of the inference code paths that ``run``,
``compare`` and the explain stage use (:mod:`pipeline.evaluation.inference`), on data with nothing to learn and on
planted signals.

Null data: fat-tailed (Student t, 4 df) driftless random walks, one symbol or several pooled symbols that
share a market factor (correlation 0.5), labels over h = 1, 5, 10 days (overlapping). No-skill predictors
are causal and persistent: 20-day momentum, a slowly mean-reverting noise signal (AR(1), phi = 0.95),
"always up" and "previous h days" (the baselines). On a driftless walk every one of them is right half the
time, so every claim of a difference is false. Planted data: the next day's return of each symbol follows
a known signal ``s_t`` (``r_{t+1} = beta * s_t + noise``), and a predictor that reads ``s_t`` has skill.

Every cell (claim x horizon x symbols) reports the empirical rejection rate with a Wilson 95 % interval
(size on null data, power on planted data), and every interval's coverage. Cheap vectorised predictors
stand in for trained models: what is tested is the inference, not the training.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.progress import say
from pipeline.evaluation import inference
from pipeline.evaluation.inference import ALPHA, wilson_interval
from pipeline.evaluation.tables import headline_loss, metric_table
from pipeline.labels import label
from pipeline.stages.compare import pair_tests

HORIZONS = (1, 5, 10)
KINDS = ("size", "coverage", "power", "descriptive")


class Claim(str):
    """A calibrated claim: its sentence (the string itself, what the table prints) with its kind and horizon
    declared where the cell is made, never recovered from the wording: ``size`` (a false claim's rate, nominal
    5%), ``coverage`` (an interval's, nominal 95%), ``power`` (a planted signal found: no nominal rate, stated) or
    ``descriptive`` (a legacy rule or what is not a claim, shown to explain a choice; never counted). ``horizon``:
    an int, ``"all"`` (a claim over the run's horizons) or ``None`` (the caller's horizon)."""

    kind: str
    horizon: int | str | None

    def __new__(cls, text: str, kind: str, h: int | str | None = None) -> "Claim":
        if kind not in KINDS:
            raise ValueError(f"claim kind {kind!r}: one of {', '.join(KINDS)}")
        self = super().__new__(cls, text)
        self.kind, self.horizon = kind, h
        return self

    def __reduce__(self):  # the study's workers send claims back across processes
        return (Claim, (str(self), self.kind, self.horizon))


def size(text: str, h: int | str | None = None) -> Claim:
    return Claim(text, "size", h)


def coverage(text: str, h: int | str | None = None) -> Claim:
    return Claim(text, "coverage", h)


def power(text: str, h: int | str | None = None) -> Claim:
    return Claim(text, "power", h)


def descriptive(text: str, h: int | str | None = None) -> Claim:
    return Claim(text, "descriptive", h)


@dataclass
class StudyConfig:
    sims: int = 1000  # simulations per cell
    n_days: int = 1500  # test days per simulation (the default run has about 1,400)
    symbols: tuple[int, ...] = (1, 5)
    horizons: tuple[int, ...] = HORIZONS
    n_boot: int = 300  # bootstrap resamples per interval
    boot_sims: int | None = None  # simulations for the (slower) bootstrap cells; default: sims
    seeds: int = 3  # seeds per feature set in the compare cells
    beta: float = 0.12  # planted signal: share of the daily volatility explained per unit of s
    lgbm_sims: int = 1000  # simulations of the LightGBM importance cells (one LightGBM fit each)
    lgbm_days: int = 900  # days per LightGBM simulation: train 2/3, validation 1/6, test 1/3
    lgbm_beta: float = 0.3  # planted signal of the LightGBM cells (its test has only 300 test days)
    e2e_sims: int | None = (
        None  # simulations of the end-to-end cells (prepare, fit, evaluate, explain each); default: sims
    )
    e2e_days: int = 2500  # days per end-to-end simulation (2 folds: about 750 test days)
    compare_sims: int | None = None  # simulations of the end-to-end compare cells (compare --models); default: e2e_sims
    search_sims: int | None = None  # simulations of the search cells (a whole search each); default: e2e_sims // 5
    ledger_sims: int | None = (
        None  # simulations of the ledger cells (20 runs on one market each); default: e2e_sims // 5
    )
    jobs: int = 1  # processes for the end-to-end cells (spawned)
    seed: int = 0
    selection_sims: int | None = None  # simulations of the SPA / StepM / DSR cells; default: sims
    defaults_sims: int | None = (
        None  # simulations of the cells at the user's defaults (LSTM, all features); default e2e_sims // 5
    )
    defaults_days: int = 2500  # days per simulated market of the defaults cells
    parts: tuple[str, ...] = (
        "stages",
        "defaults",
        "compare",
        "search",
        "search_wide",
        "ledger",
        "correlated",
        "selection",
        "other",
    )


MC_Z = 2.0  # a size cell passes at or below 5% + MC_Z Monte-Carlo standard errors (at 1,000 simulations: 6.4%)


# --------------------------------------------------------------------------- simulated markets
def _t4(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.standard_t(4, size=shape) / np.sqrt(2.0)  # unit variance


def simulate(
    rng: np.random.Generator, n_days: int, n_symbols: int, planted: float = 0.0, pad: int = 40, max_h: int = 10
):
    """Daily returns ``(pad + n_days + max_h, S)``, a public signal ``s`` of the same shape, with
    ``r[t+1] = planted * s[t] * vol + vol * noise`` (``planted = 0``: a driftless fat-tailed walk)."""
    n = pad + n_days + max_h
    vol = 0.01
    common = _t4(rng, (n, 1))
    eps = np.sqrt(0.5) * common + np.sqrt(0.5) * _t4(rng, (n, n_symbols)) if n_symbols > 1 else _t4(rng, (n, 1))
    s = rng.normal(size=(n, n_symbols))
    r = vol * eps
    r[1:] += planted * vol * s[:-1]
    return r, s


def _rolling_sum(r: np.ndarray, w: int) -> np.ndarray:
    """Sum of r[t-w+1 .. t] (NaN before)."""
    c = np.vstack([np.zeros((1, r.shape[1])), np.cumsum(r, axis=0)])
    out = np.full_like(r, np.nan)
    out[w - 1 :] = c[w:] - c[:-w]
    return out


def _ar1(rng: np.random.Generator, shape, phi: float = 0.95) -> np.ndarray:
    from scipy.signal import lfilter

    return lfilter([1.0], [1.0, -phi], rng.normal(size=shape), axis=0)


@dataclass
class Panel:
    """One simulated test period: labels and predictors ``(T, S)`` per horizon, flattened to rows."""

    dates: np.ndarray  # (T*S,) day index of each row
    up: dict[int, np.ndarray]  # h -> (T*S,) 1 if the h-day return is positive
    fwd: dict[int, np.ndarray]  # h -> (T*S,) h-day log return
    pred: dict[str, np.ndarray]  # name -> (T*S,) or h-dependent "name@h"
    signal: np.ndarray  # (T*S,) the planted public signal
    noise_x: np.ndarray  # (T*S,) a persistent no-skill feature


def panel(rng: np.random.Generator, n_days: int, n_symbols: int, horizons, planted: float = 0.0) -> Panel:
    pad = 40
    r, s = simulate(rng, n_days, n_symbols, planted, pad, max(horizons))
    t0, t1 = pad, pad + n_days
    flat = lambda a: a[t0:t1].ravel()  # noqa: E731  rows: day-major, symbols within a day
    up, fwd = {}, {}
    for h in horizons:
        f = np.full_like(r, np.nan)
        c = np.vstack([np.zeros((1, r.shape[1])), np.cumsum(r, axis=0)])
        f[: len(r) - h] = c[1 + h :] - c[1 : len(r) - h + 1]  # r[t+1] + ... + r[t+h]
        fwd[h] = flat(f)
        up[h] = (fwd[h] > 0).astype(float)
    x = _ar1(rng, r.shape)
    pred = {
        "momentum": flat(_rolling_sum(r, 20) > 0).astype(float),
        "noise": flat(x > 0).astype(float),
        "always_up": np.ones(n_days * n_symbols),
        "reversal": -flat(r),
        "momentum_20d": flat(_rolling_sum(r, 20)),
        "persistent_noise": flat(_ar1(rng, r.shape)),
    }
    for h in horizons:
        pred[f"previous@{h}"] = flat(_rolling_sum(r, h) > 0).astype(float)
        pred[f"momentum_return@{h}"] = flat(_rolling_sum(r, 20)) * h / 20
    dates = np.repeat(np.arange(n_days), n_symbols)
    return Panel(dates, up, fwd, pred, flat(s), flat(x))


# --------------------------------------------------------------------------- claims
def _wrong(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Misclassification per sample: the run's headline loss for direction."""
    return headline_loss(True)(y, p)


def run_claims(p: Panel, h: int, n_symbols: int, n_boot: int, boot: bool, rng_seed: int) -> dict[str, float]:
    """Rejections (1/0) and coverages (1/0) of one simulated run, horizon h (null data)."""
    y, d = p.up[h], p.dates
    out: dict[str, float] = {}
    pairs = {
        "momentum vs always up": ("momentum", "always_up"),
        "noise vs previous": ("noise", f"previous@{h}"),
        "momentum vs previous": ("momentum", f"previous@{h}"),
    }
    for name, (a, b) in pairs.items():
        t = inference.paired_loss_test(_wrong(p.pred[a], y), _wrong(p.pred[b], y), d, h)
        out[size(f"run: accuracy difference (DM, HAR), {name}")] = float(t.p_value < ALPHA)
        out[coverage(f"run: 95% interval of the accuracy difference covers 0, {name}")] = float(
            t.ci_low <= 0 <= t.ci_high
        )
    # regression: two forecasts with equal expected loss (momentum and its mirror image)
    m = p.pred[f"momentum_return@{h}"]
    fy = p.fwd[h]
    t = inference.paired_loss_test((m - fy) ** 2, (-m - fy) ** 2, d, h)
    out[size("run: squared-error difference (DM, HAR), momentum vs mirrored momentum")] = float(t.p_value < ALPHA)
    if inference.iid_tests_valid(h, n_symbols):
        out[size("run: Pesaran-Timmermann, momentum")] = float(
            inference.pesaran_timmermann(p.pred["momentum"] > 0.5, y > 0.5)["p_value"] < ALPHA
        )
        right_m, right_b = p.pred["momentum"] == y, p.pred["always_up"] == y
        out[size("run: McNemar, momentum vs always up")] = float(
            inference.mcnemar_binomial(right_m, right_b)["p_value"] < ALPHA
        )
    # intervals of the model's metrics through metric_table, the function run and compare build every interval
    # with: accuracy (a mean over days) from the HAR interval, AUC (not a mean) from the block bootstrap; truth 0.5
    _, ci = metric_table(True, y, p.pred["momentum"], np.zeros_like(y), d, h, 0, rng_seed, None)
    out[coverage("run: 95% interval of the model's accuracy covers 0.5 (HAR)")] = float(
        ci["accuracy"][0] <= 0.5 <= ci["accuracy"][1]
    )
    if boot:
        score = 1 / (1 + np.exp(-p.noise_x))
        _, ci = metric_table(True, y, score, np.zeros_like(y), d, h, n_boot, rng_seed, None)
        out[coverage("run: 95% interval of the model's AUC covers 0.5 (block bootstrap)")] = float(
            ci["auc"][0] <= 0.5 <= ci["auc"][1]
        )
    return out


def _set_ensemble(rng: np.random.Generator, x: np.ndarray, seeds: int, planted: np.ndarray | None = None) -> np.ndarray:
    """A feature set's seed-ensemble probability: each seed reads the set's feature with its own noise."""
    base = x if planted is None else x + 3.0 * planted
    probs = [1 / (1 + np.exp(-(base + rng.normal(scale=0.5, size=len(x))))) for _ in range(seeds)]
    return np.mean(probs, axis=0)


def compare_claims(rng: np.random.Generator, p: Panel, horizons, seeds: int, planted: bool = False) -> dict[str, float]:
    """Three feature sets (no skill on null data; on planted data the third reads the signal) and the
    comparator (always up), through compare's own test family (:func:`pipeline.stages.compare.pair_tests`:
    DM on per-day 0/1 loss of the seed ensembles, Holm over every pair and set-vs-comparator x horizon).
    The seed ensembles are simulated (each seed reads the set's feature with its own noise); the end-to-end
    cells (:func:`e2e_claims`) refit real seeds. Also the naive test the project
    used before (Wilcoxon over seeds x folds), to show why it is gone."""
    n = len(p.dates)
    feats = [_ar1(rng, (n, 1))[:, 0] * 0.3 for _ in range(2)]
    sets = {
        "A": _set_ensemble(rng, feats[0], seeds),
        "B": _set_ensemble(rng, feats[1], seeds),
        "C": _set_ensemble(rng, p.noise_x * 0.3, seeds, p.signal if planted else None),
    }
    y = np.column_stack([p.up[h] for h in horizons])
    tdf = pair_tests(
        {k: np.repeat(v[:, None], len(horizons), axis=1) for k, v in sets.items()},
        {h: ("always_up", p.pred["always_up"]) for h in horizons},
        y,
        p.dates,
        list(horizons),
        True,
    )
    adj = tdf["p_holm"].to_numpy()
    keys = [
        (r.horizon, r.set_b, r.set_a, r.diff) for r in tdf.itertuples()
    ]  # (h, earlier, later, accuracy later − earlier)
    out = {}
    if planted:  # power: C (reads the signal) beats A at h = 1 after Holm
        k = next(i for i, (h, a, b, _) in enumerate(keys) if h == min(horizons) and (a, b) == ("A", "C"))
        out[power("compare: set with the planted signal beats a no-skill set (DM, Holm), h=1", h=1)] = float(
            adj[k] < ALPHA and keys[k][3] > 0
        )
        return out
    out[
        size(
            "compare: any pair or set-vs-comparator x horizon significant (compare's family: DM, HAR, Holm) [family-wise]"
        )
    ] = float((adj < ALPHA).any())
    for h in horizons:
        sel = [i for i, k in enumerate(keys) if k[0] == h and not k[1].startswith("baseline:")]
        out[size(f"compare: pair significant (DM, HAR, Holm), h={h}", h=h)] = float(np.mean(adj[sel] < ALPHA))
        sel = [i for i, k in enumerate(keys) if k[0] == h and k[1].startswith("baseline:")]
        out[size(f"compare: set against the comparator significant (DM, HAR, Holm), h={h}", h=h)] = float(
            np.mean(adj[sel] < ALPHA)
        )
    # legacy: units = 3 folds x seeds sharing the same test days
    y = p.up[min(horizons)]
    folds = np.array_split(np.arange(n), 3)
    ua, ub = [], []
    for f in folds:
        for _ in range(seeds):
            pa = 1 / (1 + np.exp(-(feats[0][f] + rng.normal(scale=0.5, size=len(f)))))
            pb = 1 / (1 + np.exp(-(feats[1][f] + rng.normal(scale=0.5, size=len(f)))))
            ua.append(1 - _wrong(pa, y[f]).mean())
            ub.append(1 - _wrong(pb, y[f]).mean())
    out[descriptive("legacy (not used): Wilcoxon over seeds x folds, h=1", h=1)] = float(
        stats.wilcoxon(ua, ub, zero_method="zsplit", method="approx").pvalue < ALPHA
    )
    return out


def importance_claims(rng: np.random.Generator, p: Panel, h: int, planted: bool = False) -> dict[str, float]:
    """Permutation importance as the explain stage computes and judges it: a model reads a persistent
    feature group (null: no information; planted: the signal) and a second no-skill group;
    :func:`explain.ablation.group_permutation` (5 repeats) gives the per-sample log-loss increases, and the
    explain stage's :func:`~pipeline.evaluation.importance_tests.per_day_item` and
    :func:`~pipeline.evaluation.importance_tests.holm_by` judge them over test days (one-sided HAR, Holm over
    the groups). The group is called important when it clears."""
    from explain.ablation import group_permutation
    from pipeline.evaluation.importance_tests import holm_by, per_day_item, sample_loss

    y, d = p.up[h], p.dates
    x = p.signal if planted else p.noise_x
    other = _ar1(rng, (len(x), 1))[:, 0]
    X = np.stack([x, other], axis=1)[:, None, :].astype(np.float32)  # windows (N, T=1, F=2)
    model = lambda W: 1 / (1 + np.exp(-(0.8 * W[:, -1, 0:1] + 0.3 * W[:, -1, 1:2])))  # noqa: E731  (N, 1)
    raw = group_permutation(
        [(model, X, y[:, None])],
        {"x": np.array([0]), "other": np.array([1])},
        [h],
        sample_loss(True),
        n_repeats=5,
        seed=int(rng.integers(1 << 30)),
    )
    items = [per_day_item(h, g, "permutation", np.concatenate(parts), d, {}) for (_, g), parts in raw.items()]
    holm_by(items)
    called = next(i for i in items if i.group == "x").clears
    if planted:
        return {power(f"importance: permutation calls the planted group important, h={h}", h=h): float(called)}
    return {size(f"importance: permutation calls a no-skill group important, h={h}", h=h): float(called)}


def lightgbm_claims(
    rng: np.random.Generator, n_days: int, h: int = 1, planted: float = 0.0, lags: int = 3
) -> dict[str, float]:
    """The LightGBM importance claims (gain, split, TreeSHAP against time-shuffled shadows, as the explain
    stage judges them) on one simulated series: three causal no-skill groups (momentum, volatility, a
    persistent noise feature); on planted data a fourth group holds the signal the next return follows."""
    from explain import lgbm as lgbm_explain
    from pipeline.models.lightgbm import fit_lightgbm
    from pipeline.stages.explain import judge_lightgbm

    n_train, n_val = 2 * n_days // 3, n_days // 6
    total = n_train + n_val + n_days // 3 + 2 * h
    r, s = simulate(rng, total, 1, planted, pad=40, max_h=h)
    feats = {
        "momentum": np.column_stack([_rolling_sum(r, 20)[:, 0], _rolling_sum(r, 5)[:, 0]]),
        "volatility": np.sqrt(_rolling_sum(r**2, 10)),
        "noise": _ar1(rng, (len(r), 1)),
    }
    if planted:
        feats["signal"] = s
    cols = np.column_stack(list(feats.values()))
    gidx, k = {}, 0
    for g, v in feats.items():
        gidx[g] = np.arange(k, k + v.shape[1])
        k += v.shape[1]
    c = np.vstack([np.zeros((1, 1)), np.cumsum(r, axis=0)])
    up = np.full(len(r), np.nan)
    up[: len(r) - h] = c[1 + h :, 0] - c[1 : len(r) - h + 1, 0] > 0
    t = np.arange(40 + lags, len(r) - h)
    X = np.stack([cols[t - lags + 1 + i] for i in range(lags)], axis=1)  # (N, lags, F)
    X = (X - X[:n_train].mean(axis=(0, 1))) / X[:n_train].std(axis=(0, 1))
    y = up[t][:, None]
    tr, va = slice(0, n_train), slice(n_train + h, n_train + h + n_val)
    te = slice(n_train + n_val + 2 * h, len(t))
    fits = lgbm_explain.fit_with_shadows(
        fit_lightgbm, X[tr], y[tr], X[va], y[va], X[te], True, lags, gidx, seed=int(rng.integers(1 << 30)), n_jobs=1
    )
    n_test = len(range(*te.indices(len(t))))
    results = [lgbm_explain.LgbmFoldResult(1, h, f.gain, f.split, f.contrib, f.X_flat, np.arange(n_test)) for f in fits]
    items = judge_lightgbm(results, gidx, cols.shape[1], lags, [h], np.arange(n_test), y[te])
    out = {}
    for method in ("lgbm_gain", "tree_shap"):
        rows = [i for i in items if i.method == method]
        if (
            method == "lgbm_gain"
        ):  # no claim is made on it; shown to explain why (legacy = what a shadow floor alone says)
            above = [i.value > i.floor for i in rows if i.group != "signal"]
            if not planted:
                out[
                    descriptive(
                        "legacy (not used): a no-skill group's LightGBM gain above the largest shadow (Boruta floor alone), h=1",
                        h=1,
                    )
                ] = float(np.mean(above))
            continue
        if planted:
            out[
                power(
                    f"importance: {method} calls the planted group important (above shadows, aligned out of sample), h={h}",
                    h=h,
                )
            ] = float(next(i for i in rows if i.group == "signal").clears)
        else:
            out[
                size(
                    f"importance: {method} calls a no-skill group important (above shadows, aligned out of sample), h={h}",
                    h=h,
                )
            ] = float(np.mean([i.clears for i in rows]))
    # the alignment test alone (no floor): how lstm_shap and integrated_gradients are judged without --shap-floor
    rows = [i for i in items if i.method == "tree_shap"]
    if planted:
        out[
            power(
                f"importance: the alignment test alone (gradient methods' rule) calls the planted group important, h={h}",
                h=h,
            )
        ] = float(next(i for i in rows if i.group == "signal").p_value < ALPHA)
    else:
        out[
            size(
                f"importance: the alignment test alone (gradient methods' rule) calls a no-skill group important, h={h}",
                h=h,
            )
        ] = float(np.mean([i.p_value < ALPHA for i in rows]))
    return out


def planted_run_claims(p: Panel, h: int) -> dict[str, float]:
    y = p.up[h]
    model = (p.signal > 0).astype(float)
    t = inference.paired_loss_test(_wrong(model, y), _wrong(p.pred["always_up"], y), p.dates, h)
    return {
        power(f"run: planted signal beats always up (DM, HAR), h={h}", h=h): float(t.p_value < ALPHA and t.mean < 0)
    }


def cross_section_claims(p: Panel, h: int, n_symbols: int, planted: bool = False) -> dict[str, float]:
    """The cross-sectional tests of ``pipeline.evaluation.cross_section`` (Rank IC, IC and the top-minus-bottom spread,
    HAR over dates with the h-day overlap) on a persistent no-skill score (an AR(1) feature), or on the
    planted signal (power)."""
    from pipeline.evaluation.cross_section import evaluate_score

    score = p.signal if planted else p.noise_x
    symbols = np.tile(np.arange(n_symbols), len(p.dates) // n_symbols)
    nxt = np.zeros_like(score)
    res = evaluate_score(p.dates, symbols, score, p.fwd[h], nxt, h, quantiles=min(5, n_symbols), cost_bps=0.0)
    if planted:
        return {
            power(f"cross-section: planted signal, Rank IC > 0 (HAR), h={h}", h=h): float(
                res["rank_ic"]["p_value"] < ALPHA and res["rank_ic"]["mean"] > 0
            )
        }
    return {
        size("cross-section: Rank IC, HAR over dates"): float(res["rank_ic"]["p_value"] < ALPHA),
        size("cross-section: IC, HAR over dates"): float(res["ic"]["p_value"] < ALPHA),
        size("cross-section: top-minus-bottom spread, HAR over dates"): float(res["spread"]["p_value"] < ALPHA),
    }


def correlated_claims(rng: np.random.Generator, p: Panel, h: int, planted: bool = False) -> dict[str, float]:
    """Correlated feature groups, through the explain stage's functions (:func:`explain.ablation.group_permutation`,
    :func:`~explain.ablation.conditional_permutation` with :func:`~explain.ablation.conditional_fit`
    fitted on the test rows' inputs as the explain stage fits it, :func:`~explain.ablation.permutation_importance` for the pair's joint
    (cluster) permutation; judged by :func:`~pipeline.evaluation.importance_tests.per_day_item` and ``holm_by``).

    Null (``planted=False``): two persistent no-information groups correlated 0.9, read by a model with
    offsetting weights (0.8x - 0.6z). Planted: z is the planted signal, x = 0.5 z + noise holds nothing of its
    own, and the model reads both (0.5x + 0.5z)."""
    from explain.ablation import conditional_fit, conditional_permutation, group_permutation, permutation_importance
    from pipeline.evaluation.importance_tests import holm_by, per_day_item, sample_loss

    n = len(p.dates)
    noise = _ar1(rng, (2 * n, 2))
    noise = noise / noise.std(axis=0)
    if planted:
        z_test = p.signal / p.signal.std()
        z = np.r_[rng.normal(size=n), z_test]  # training rows: the same process before the test days
        rho, weights = 0.5, (0.5, 0.5)
        x = rho * z + np.sqrt(1 - rho**2) * noise[:, 0]
    else:
        rho, weights = 0.9, (0.8, -0.6)
        x = noise[:, 0]
        z = rho * x + np.sqrt(1 - rho**2) * noise[:, 1]
    rows = np.stack([x, z], axis=1).astype(np.float32)
    X = rows[n:, None, :]  # test windows (N, T=1, F=2)
    gidx = {"x": np.array([0]), "z": np.array([1])}
    model = lambda W: 1 / (1 + np.exp(-(weights[0] * W[:, -1, 0:1] + weights[1] * W[:, -1, 1:2])))  # noqa: E731
    folds, loss, seed = [(model, X, p.up[h][:, None])], sample_loss(True), int(rng.integers(1 << 30))

    def called(raw, method) -> dict[str, bool]:
        items = [per_day_item(h, g, method, np.concatenate(parts), p.dates, {}) for (_, g), parts in raw.items()]
        holm_by(items)
        return {i.group: bool(i.clears) for i in items}

    fitted = conditional_fit(rows[n:], np.zeros(n, int), np.arange(n), 1, gidx)  # the test rows: one series
    cond = called(conditional_permutation(folds, gidx, [fitted], [h], loss, 5, seed), "conditional_permutation")
    joint = called(
        permutation_importance(folds, {"x+z": (np.array([0, 1]), None)}, [h], loss, 5, seed + 1), "permutation"
    )
    plain = called(group_permutation(folds, gidx, [h], loss, 5, seed + 2), "permutation")
    if planted:
        return {
            size(
                f"importance: conditional permutation calls a redundant group important (correlated 0.5 with an "
                f"informative group, nothing of its own), h={h}",
                h=h,
            ): float(cond["x"]),
            power(
                f"importance: conditional permutation calls the planted group beside a correlated redundant one "
                f"important, h={h}",
                h=h,
            ): float(cond["z"]),
            power(
                f"importance: joint permutation of a correlated pair holding a planted signal (its cluster) calls it "
                f"important, h={h}",
                h=h,
            ): float(joint["x+z"]),
        }
    return {
        size(
            f"importance: conditional permutation calls one of two correlated (0.9) no-information groups important "
            f"(model with offsetting weights), h={h}",
            h=h,
        ): float(cond["x"] or cond["z"]),
        size(
            f"importance: joint permutation of two correlated no-information groups (their cluster) calls them "
            f"important, h={h}",
            h=h,
        ): float(joint["x+z"]),
        descriptive(
            f"not a claim: plain permutation calls one of two correlated no-information groups important (what the "
            f"model relies on), h={h}",
            h=h,
        ): float(plain["x"] or plain["z"]),
    }


CROSS_LAG_WINDOW = 20  # the window of the cross-lag cells; the dependent group is a 20-day mean of the other


def cross_lag_claims(rng: np.random.Generator, p: Panel, h: int, planted: bool = False) -> dict[str, float]:
    """Dependence across lags, as ``features=all`` has it (a moving-average ratio today against the returns of the
    days before): group ``a`` is a daily innovation, group ``m`` is the mean of ``a`` over its last 20 days plus
    a part of its own ``u`` (a fifth of its spread), on windows of 20 days, through
    :func:`~explain.ablation.conditional_permutation` with :func:`~explain.ablation.conditional_fit` fitted on the
    test rows' inputs as the explain stage fits it. The model reads ``m`` today against the mean of ``a`` over its
    window: today's change of ``m`` against today's ``a``. Null: nothing predicts the label.
    Planted: ``u`` is the planted signal the label follows. Beside it, for contrast, plain permutation and the map
    from the same day only (what shipped before 2026-12-03)."""
    from explain.ablation import conditional_fit, conditional_permutation, group_permutation
    from pipeline.evaluation.importance_tests import holm_by, per_day_item, sample_loss

    T, n = CROSS_LAG_WINDOW, len(p.dates)
    a = rng.standard_t(4, n + T) / np.sqrt(2.0)
    u = np.r_[rng.normal(size=T), p.signal / p.signal.std()] if planted else _ar1(rng, (n + T,))
    u = u / u.std()
    mean_a = np.convolve(a, np.ones(T) / T)[: n + T]  # mean of the last T values (fewer at the start)
    mean_a[: T - 1] = np.cumsum(a[: T - 1]) / np.arange(1, T)
    m = mean_a * np.sqrt(T) + 0.2 * u
    rows = np.stack([a, m], axis=1).astype(np.float32)
    ends = np.arange(T, n + T)  # the test windows: the last n rows
    X = rows[ends[:, None] + np.arange(-T + 1, 1)[None, :]]  # (n, T, 2)
    gidx = {"a": np.array([0]), "m": np.array([1])}
    # today's change of the moving average against today's innovation, which on the data's own distribution is
    # the innovation that left the average 20 days ago plus the change of u
    model = lambda W: 1 / (1 + np.exp(-2 * (W[:, -1, 1:2] - W[:, -2, 1:2] - W[:, -1, 0:1] / np.sqrt(T))))  # noqa: E731
    folds, loss, seed = [(model, X, p.up[h][:, None])], sample_loss(True), int(rng.integers(1 << 30))

    def called(raw, method) -> dict[str, bool]:
        items = [per_day_item(h, g, method, np.concatenate(parts), p.dates, {}) for (_, g), parts in raw.items()]
        holm_by(items)
        return {i.group: bool(i.clears) for i in items}

    def cond(fitted, centre: bool = True) -> dict[str, bool]:
        raw = conditional_permutation(folds, gidx, [fitted], [h], loss, 5, seed, centre=centre)
        return called(raw, "conditional_permutation")

    whole = cond(conditional_fit(rows, np.zeros(len(rows), int), ends, T, gidx))
    if planted:
        return {
            power(
                f"importance: conditional permutation (the map from the other groups' past) calls a group important "
                f"whose own part beyond a 20-day mean of another group is the planted signal (cross-lag), h={h}",
                h=h,
            ): float(whole["m"])
        }
    # the map of the same day only (before 2026-12-03): each group's value on a row from the other's on that row;
    # with the loss increase as it was (uncentred), and with the centred statistic that conditional permutation
    # records now (zero on average whenever the outcome is independent of the inputs, as it is here, whatever the map)
    day_map = {
        g: X[..., [1 - int(cols[0])]] * float(np.polyfit(rows[ends, 1 - int(cols[0])], rows[ends, int(cols[0])], 1)[0])
        for g, cols in gidx.items()
    }
    same_day, same_day_centred = cond(day_map, centre=False), cond(day_map)
    plain = called(group_permutation(folds, gidx, [h], loss, 5, seed + 1), "permutation")
    return {
        size(
            f"importance: conditional permutation (the map from the other groups' past) calls a no-information group "
            f"important that is a 20-day mean of another group's past (cross-lag), h={h}",
            h=h,
        ): float(whole["a"] or whole["m"]),
        descriptive(
            f"legacy (not used): conditional permutation with the same-day map and the uncentred loss increase calls a "
            f"no-information group important that is a 20-day mean of another group's past (cross-lag), h={h}",
            h=h,
        ): float(same_day["a"] or same_day["m"]),
        descriptive(
            f"not a claim: the same-day map with the centred statistic (outcome independent of every input) calls a "
            f"no-information group important that is a 20-day mean of another group's past (cross-lag), h={h}",
            h=h,
        ): float(same_day_centred["a"] or same_day_centred["m"]),
        descriptive(
            f"not a claim: plain permutation calls a no-information group important that is a 20-day mean of another "
            f"group's past (what the model relies on), h={h}",
            h=h,
        ): float(plain["a"] or plain["m"]),
    }


def cross_section_reference_claims(p: Panel, horizons, planted: bool = False) -> dict[str, float]:
    """The cross-section's claims over a run's horizons, through the functions ``evaluate`` calls
    (:func:`pipeline.evaluation.cross_section.cross_section`, then its ``horizon_family``): the LSTM's Rank IC
    against the reversal, momentum and LightGBM references (Holm over references x horizons), the long-short
    book's test and the model's Rank IC (Holm over horizons). The model's score is a persistent no-skill
    series (null) or the planted signal; the references are the real rules on the simulated prices, LightGBM's
    score a persistent no-skill stand-in (the claim under test is the difference, not LightGBM)."""
    from pipeline.evaluation.cross_section import cross_section, horizon_family

    n_symbols = int(len(p.dates) // (p.dates.max() + 1))
    symbols = np.tile(np.arange(n_symbols), len(p.dates) // n_symbols)
    model = p.signal if planted else p.noise_x
    scores = {
        "LSTM": model,
        "reversal": p.pred["reversal"],
        "momentum": p.pred["momentum_20d"],
        "lightgbm": p.pred["persistent_noise"],
    }
    per_h = []
    for h in horizons:
        xs = cross_section(
            p.dates, symbols, scores, p.fwd[h], p.fwd[1], h, quantiles=min(5, n_symbols), top_k=1, cost_bps=0.0
        )
        xs["horizon"] = h
        per_h.append(xs)
    horizon_family(per_h)
    out = {}
    for xs in per_h:
        h, m = xs["horizon"], xs["scores"]["LSTM"]
        against = xs["against"].values()
        book = m["book"]["daily"]
        if planted:
            out[
                power(
                    f"cross-section: planted signal, Rank IC above every reference (LSTM - reference, Holm over references x "
                    f"horizons), h={h}",
                    h=h,
                )
            ] = float(all(a["p_holm"] < ALPHA and a["mean"] > 0 for a in against))
            out[
                power(
                    f"cross-section: planted signal, the long-short book's mean return > 0 (HAR, Holm over horizons), h={h}",
                    h=h,
                )
            ] = float(book["p_holm"] < ALPHA and book["mean"] > 0)
        else:
            out[
                size(
                    f"cross-section: Rank IC differs from some reference (LSTM - reference, Holm over references x horizons), "
                    f"h={h}",
                    h=h,
                )
            ] = float(any(a["p_holm"] < ALPHA for a in against))
            out[
                size(
                    f"cross-section: the long-short book's mean return differs from 0 (HAR, Holm over horizons), h={h}",
                    h=h,
                )
            ] = float(book["p_holm"] < ALPHA)
    if not planted:
        out[
            size(
                "cross-section: the model's Rank IC significant at some horizon (Holm over the run's horizons) [family-wise], "
                "h=all",
                h="all",
            )
        ] = float(any(xs["scores"]["LSTM"]["rank_ic"]["p_holm"] < ALPHA for xs in per_h))
    return out


# --------------------------------------------------------------------------- end-to-end cells: the real stages
E2E_HORIZONS = (1, 5)
# the explain stage's methods whose claims reach the lead or the CLI (plain permutation: what the model relies on)
E2E_METHODS = (
    "permutation",
    "conditional_permutation",
    "ablation_retrain",
    "tree_shap",
    "lstm_shap",
    "integrated_gradients",
)
NOISE_GROUPS = ("extra:noise_a", "extra:noise_b")  # pure-noise columns beside the planted signal


def e2e_claims(seed: int, n_days: int, planted: bool = False, strength: float = 0.005) -> dict[str, float]:
    """One simulated market through the stages ``run`` composes: a CSV as users bring it -> ``prepare`` (real
    features, windows, purged folds, train-only scaling) -> ``fit`` (the cheap linear model on the window,
    two seeds that are real refits, the baseline registry) -> ``evaluate`` (the comparator chosen per fold on
    validation days, the HAR test, Holm over the run's horizons and over baselines x horizons) -> ``explain``
    (permutation, conditional permutation, drop-and-retrain with real refits, LightGBM's TreeSHAP against
    shadows, expected and integrated gradients on the network; each judged over test days, Holm over groups).
    Null: a random walk with nothing to learn. Planted: the next return follows a signal column at day t-3,
    beyond every baseline's view (logistic: the last day; LightGBM: 2 lags), beside two pure-noise columns."""
    from pipeline.calibration.simulate import planted_signal_frame, random_walk_frame
    from pipeline.config.schema import ExplainConfig, RunConfig
    from pipeline.stages.evaluate import evaluate
    from pipeline.stages.explain import explain
    from pipeline.stages.fit import fit
    from pipeline.stages.prepare import prepare

    frame = (
        planted_signal_frame(n_days, seed=seed, strength=strength, noise=0.01, lag=4)
        if planted
        else random_walk_frame(n_days, seed=seed)
    )
    with tempfile.TemporaryDirectory(prefix="featureproof-e2e-") as folder:
        path = Path(folder) / "market.csv"
        frame.to_csv(path, index=False)
        cfg = RunConfig(
            data=str(path),
            source="csv",
            features="ohlcv+extra" if planted else "ohlcv",
            horizons=list(E2E_HORIZONS),
            window=10,
            folds=2,
            seeds=2,
            model="window_linear",
            epochs=20,
            patience=3,
            lr=1e-2,
            bootstrap=0,
            lgbm_lags=2,
            threads=1,
            progress=False,
        ).validate()
        quiet = lambda *a, **k: None  # noqa: E731
        prepared = prepare(cfg)
    fitted = fit(prepared, quiet)
    evaluation = evaluate(prepared, fitted)
    explanation = explain(
        prepared,
        fitted,
        evaluation,
        ExplainConfig(
            ablation="both",
            explain=True,
            clusters=True,
            n_repeats=5,
            lag_repeats=1,
            shap_windows=300,
            shap_background=50,
            ig_windows=100,
            sanity_windows=0,
            jobs=1,
        ),
        quiet,
    )
    out = {}
    results = evaluation.horizon_results
    if not planted:
        out[
            size(
                "stages: the model beats its comparator at some horizon (skill flag, Holm over the run's horizons) "
                "[family-wise], h=all",
                h="all",
            )
        ] = float(any(e["skill"] for e in results))
        out[
            descriptive(
                "legacy (not used): some horizon's unadjusted headline test significant (one gate per horizon) "
                "[family-wise], h=all",
                h="all",
            )
        ] = float(any(e["edge"]["p_value"] < ALPHA for e in results))
        out[
            size(
                "stages: the model differs from some baseline (Holm over baselines x horizons) [family-wise], h=all",
                h="all",
            )
        ] = float(any(v["p_holm"] < ALPHA for e in results for v in e["against_baselines"].values()))
    for e in results:
        h = e["horizon"]
        if planted:
            out[power(f"stages: the model beats its comparator on a planted signal (skill flag), h={h}", h=h)] = float(
                e["skill"]
            )
        else:
            out[
                size(f"stages: the model beats its comparator (skill flag, Holm over the run's horizons), h={h}", h=h)
            ] = float(e["skill"])
            out[
                size(
                    f"stages: the verdict calls the model significantly better or worse than its comparator (Holm over the "
                    f"run's horizons), h={h}",
                    h=h,
                )
            ] = float(e["edge"]["p_holm"] < ALPHA)
            out[
                size(
                    f"stages: the verdict says the window holds information the network did not learn (ridge on the "
                    f"window better than the network and than the majority class), h={h}",
                    h=h,
                )
            ] = float("the window holds information" in e["verdict"])
        for method in E2E_METHODS:
            items = [i for i in explanation.items if i.method == method and i.horizon == h]
            name = label(method)
            if planted:
                out[power(f"stages: {name} calls the planted group important (explain stage), h={h}", h=h)] = float(
                    any(i.clears and i.group == "extra:signal" for i in items)
                )
                out[
                    size(
                        f"stages: {name} calls a pure-noise group important beside a planted signal (explain stage), h={h}",
                        h=h,
                    )
                ] = float(any(i.clears and i.group in NOISE_GROUPS for i in items))
            else:
                out[
                    size(
                        f"stages: {name} calls some no-information group important (explain stage, Holm over groups), h={h}",
                        h=h,
                    )
                ] = float(any(i.clears for i in items))
        lags = [i for i in explanation.lag_items if i.horizon == h]
        for method in ("permutation", "lstm_shap"):
            clusters = [i for i in explanation.cluster_items if i.method == method and i.horizon == h]
            name = label(method)
            if planted:
                holding = {
                    c
                    for c, cols in explanation.clusters.members.items()
                    if "extra_signal" in {prepared.ws.columns[k] for k in cols}
                }
                out[
                    power(
                        f"stages: {name} per correlation cluster calls the cluster holding the planted signal important, "
                        f"h={h}",
                        h=h,
                    )
                ] = float(any(i.clears and i.group in holding for i in clusters))
            else:
                out[
                    size(
                        f"stages: {name} per correlation cluster calls some no-information cluster important (Holm over "
                        f"clusters), h={h}",
                        h=h,
                    )
                ] = float(any(i.clears for i in clusters))
        if planted:
            out[
                power(f"stages: lag-block permutation calls a lag block of the planted group important, h={h}", h=h)
            ] = float(any(i.clears and i.group == "extra:signal" for i in lags))
        else:
            out[
                size(
                    f"stages: lag-block permutation calls some group x lag block important (Holm over cells), h={h}",
                    h=h,
                )
            ] = float(any(i.clears for i in lags))
    return out


COMPARE_MODELS = ("window_linear", "linear")  # the study's cheap model and DLinear: two families, real refits


def e2e_compare_claims(seed: int, n_days: int, planted: bool = False, strength: float = 0.005) -> dict[str, float]:
    """``compare --models`` on one simulated market, through :func:`pipeline.stages.compare.compare_sets` (the
    function the command calls): two model families (:data:`COMPARE_MODELS`: real refits, two seeds each) on
    the same features, folds and test days, the baselines once, the comparator chosen per fold on validation
    days, Diebold-Mariano with one Holm family over the pair and each family against the comparator x
    horizons. Null: a random walk (the families do not differ and neither beats the comparator). Planted:
    the next return follows a signal column at day t-3 that no baseline sees; every family reads it."""
    from pipeline.calibration.simulate import planted_signal_frame, random_walk_frame
    from pipeline.config.schema import RunConfig
    from pipeline.stages.compare import compare_sets

    frame = (
        planted_signal_frame(n_days, seed=seed, strength=strength, noise=0.01, lag=4)
        if planted
        else random_walk_frame(n_days, seed=seed)
    )
    with tempfile.TemporaryDirectory(prefix="featureproof-e2e-compare-") as folder:
        path = Path(folder) / "market.csv"
        frame.to_csv(path, index=False)
        features = "ohlcv+extra" if planted else "ohlcv"
        cfg = RunConfig(
            data=str(path),
            source="csv",
            features=features,
            horizons=list(E2E_HORIZONS),
            window=10,
            folds=2,
            seeds=2,
            model=COMPARE_MODELS[0],
            epochs=20,
            patience=3,
            lr=1e-2,
            bootstrap=0,
            lgbm_lags=2,
            threads=1,
            progress=False,
        ).validate()
        summary = compare_sets(cfg, [features], models=list(COMPARE_MODELS), log=lambda *a, **k: None)
    tests = summary["tests"]
    against = tests.set_b.str.startswith("baseline:")
    out = {}
    for h in E2E_HORIZONS:
        rows = tests[(tests.horizon == h) & against]
        if planted:
            out[
                power(
                    f"compare (real stages): a model family beats its comparator on a planted signal (DM, Holm), h={h}",
                    h=h,
                )
            ] = float(np.mean((rows.p_holm < ALPHA) & (rows["diff"] > 0)))
            continue
        out[
            size(
                f"compare (real stages): a model family against its comparator significant (DM, HAR, Holm), h={h}", h=h
            )
        ] = float(np.mean(rows.p_holm < ALPHA))
        pair = tests[(tests.horizon == h) & ~against]
        out[size(f"compare (real stages): two model families differ (DM, HAR, Holm), h={h}", h=h)] = float(
            np.mean(pair.p_holm < ALPHA)
        )
    if not planted:
        out[
            size(
                "compare (real stages): any pair of families or family against its comparator x horizon significant "
                "(compare's family) [family-wise], h=all",
                h="all",
            )
        ] = float((tests.p_holm < ALPHA).any())
    return out


SEARCH_TRIALS = 8  # trials per simulated search (real refits of the study's cheap model)
SEARCH_WIDE_TRIALS, SEARCH_WIDE_HORIZONS = 30, (1, 5, 10)  # the search's defaults: 30 trials over h 1/5/10
SEARCH_WINDOWS = (5, 10, 20, 30)  # the space's windows; the planted signal sits SEARCH_LAG days back
SEARCH_LAG = 15
SEARCH_GROUPS = ("extra:signal", *NOISE_GROUPS)


def e2e_search_claims(
    seed: int,
    n_days: int,
    planted: bool = False,
    strength: float = 0.005,
    trials: int = SEARCH_TRIALS,
    horizons: tuple[int, ...] = (1,),
) -> dict[str, float]:
    """One simulated market through the search path of ``python -m pipeline search`` (:mod:`pipeline.stages.search`):
    :func:`make_context` (30% of the dates held back; the comparator of the search days) -> :func:`run_trials`
    (:data:`SEARCH_TRIALS` Optuna trials, each a real refit of the study's cheap model per fold, scored on the
    search days and pruned per fold) -> :func:`chosen_config` refit and judged once on the held-back days by the
    stages ``run`` composes (prepare -> fit -> evaluate) -> on null data also :func:`holdout_scores` (every
    trial on the held-back days: SPA and StepM). The space: window in :data:`SEARCH_WINDOWS`, the learning
    rate, and the three user columns in or out. The market: a signal column and two noise columns; the next
    return follows the signal :data:`SEARCH_LAG` days back (planted: only a window of at least that many days
    sees it) or nothing (null: the same columns, strength 0). h = 1, or with ``trials`` and ``horizons`` the
    search's defaults (:data:`SEARCH_WIDE_TRIALS` trials over :data:`SEARCH_WIDE_HORIZONS`): the objective averages
    the horizons, the held-back verdict is Holm over them, and the claims are family-wise over the horizons."""
    from pipeline.calibration.simulate import planted_signal_frame
    from pipeline.config.schema import RunConfig
    from pipeline.config.space import make_space
    from pipeline.stages.evaluate import evaluate
    from pipeline.stages.fit import fit
    from pipeline.stages.prepare import prepare
    from pipeline.stages.search import chosen_config, holdout_scores, make_context, run_trials

    frame = planted_signal_frame(n_days, seed=seed, strength=strength if planted else 0.0, noise=0.01, lag=SEARCH_LAG)
    quiet = lambda *a, **k: None  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="featureproof-e2e-search-") as folder:
        path = Path(folder) / "market.csv"
        frame.to_csv(path, index=False)
        cfg = RunConfig(
            data=str(path),
            source="csv",
            features="extra",
            horizons=list(horizons),
            window=10,
            folds=2,
            seeds=1,
            model="window_linear",
            epochs=20,
            patience=3,
            lr=1e-2,
            bootstrap=0,
            lgbm_lags=2,
            threads=1,
            progress=False,
        ).validate()
        space = make_space(
            {
                "window": {"choices": list(SEARCH_WINDOWS)},
                "lr": {"low": 3e-3, "high": 3e-2, "log": True},
                "groups": {"choices": list(SEARCH_GROUPS)},
            }
        )
        ctx = make_context(cfg, space, holdout=0.3)
        study = run_trials(ctx, f"sqlite:///{Path(folder) / 'search.db'}", trials, log=quiet)
        final = chosen_config(ctx, study)
        prepared = prepare(final)
        evaluation = evaluate(prepared, fit(prepared, quiet))
        reality = None if planted else holdout_scores(ctx, study, 1, quiet)
    skill = any(e["skill"] for e in evaluation.horizon_results)
    best = study.best_trial
    if tuple(horizons) != (1,) or trials != SEARCH_TRIALS:
        where = f"search (real path, {trials} trials, h {'/'.join(map(str, horizons))})"
        if planted:
            return {
                power(f"{where}: the chosen configuration keeps the planted group (planted), h=all", h="all"): float(
                    "extra:signal" not in (final.exclude_groups or [])
                ),
                power(
                    f"{where}: the chosen window reaches the planted lag of {SEARCH_LAG} days (planted), h=all", h="all"
                ): float(final.window >= SEARCH_LAG),
                power(
                    f"{where}: the chosen configuration beats its comparator on the held-back days at some horizon on a "
                    "planted signal (skill flag), h=all",
                    h="all",
                ): float(skill),
            }
        return {
            size(
                f"{where}: the chosen configuration beats its comparator on the held-back days at some horizon (skill "
                "flag, Holm over the horizons) [family-wise], h=all",
                h="all",
            ): float(skill),
            size(
                f"{where}: Hansen's SPA over every trial's held-back score rejects (--score-all-on-test) [family-wise], "
                "h=all",
                h="all",
            ): float(reality["spa_p"] < ALPHA),
            size(
                f"{where}: Romano-Wolf StepM calls some trial better than the comparator (--score-all-on-test) "
                "[family-wise], h=all",
                h="all",
            ): float(bool(reality["stepm_superior"])),
            descriptive(
                f"legacy (not used): {where}, the best trial's own test on the search days, read as if it were the only "
                "one, significant and positive, h=all",
                h="all",
            ): float(best.user_attrs.get("p_value", 1.0) < ALPHA and best.value > 0),
        }
    if planted:
        return {
            power("search (real path): the chosen configuration keeps the planted group (planted), h=1", h=1): float(
                "extra:signal" not in (final.exclude_groups or [])
            ),
            power(
                f"search (real path): the chosen window reaches the planted lag of {SEARCH_LAG} days (planted), h=1",
                h=1,
            ): float(final.window >= SEARCH_LAG),
            power(
                "search (real path): the chosen configuration beats its comparator on the held-back days on a planted "
                "signal (skill flag), h=1",
                h=1,
            ): float(skill),
        }
    return {
        size(
            "search (real path): the chosen configuration beats its comparator on the held-back days (skill flag), h=1",
            h=1,
        ): float(skill),
        size(
            "search (real path): Hansen's SPA over every trial's held-back score rejects (--score-all-on-test) "
            "[family-wise], h=1",
            h=1,
        ): float(reality["spa_p"] < ALPHA),
        size(
            "search (real path): Romano-Wolf StepM calls some trial better than the comparator (--score-all-on-test) "
            "[family-wise], h=1",
            h=1,
        ): float(bool(reality["stepm_superior"])),
        descriptive(
            "legacy (not used): the best trial's own test on the search days, read as if it were the only one, "
            "significant and positive, h=1",
            h=1,
        ): float(best.user_attrs.get("p_value", 1.0) < ALPHA and best.value > 0),
    }


DEFAULTS_EFFECT, DEFAULTS_LAG = 0.15, 1  # the planted column of the defaults cells: correlation with the next return


def e2e_defaults_claims(
    seed: int, n_days: int, planted: bool = False, strength: float = DEFAULTS_EFFECT
) -> dict[str, float]:
    """One simulated market through ``run``'s stages at the settings users run: every default of the schema
    (``features=all`` with the embedded macro series, the LSTM, window 60, horizons 1/5/10, the default explain
    stage: permutation, conditional permutation, lag blocks, clusters, TreeSHAP, expected and integrated
    gradients) on a drifting, volatility-clustered Student-t(4) walk (:func:`garch_walk_frame`), through
    :func:`pipeline.stages.power.run_once`, the function ``python -m pipeline power`` calls: the market's prices
    with one column planted in them. Null: the column is noise (effect 0) and nothing in the market predicts
    the next return. Planted: the column is correlated ``strength`` with the next day's return."""
    import torch

    from pipeline.calibration.simulate import garch_walk_frame
    from pipeline.config.schema import ExplainConfig, RunConfig
    from pipeline.data.dataset import load_inputs
    from pipeline.stages.power import PowerInputs, PowerJob, run_once

    torch.set_num_threads(1)
    frame = garch_walk_frame(n_days, seed=seed)
    with tempfile.TemporaryDirectory(prefix="featureproof-e2e-defaults-") as folder:
        path = Path(folder) / "market.csv"
        frame.to_csv(path, index=False)
        cfg = RunConfig(data=str(path), source="csv", threads=1, progress=False).validate()
        prices, macro = load_inputs(
            cfg.source, cfg.data, cfg.symbols, cfg.features, cfg.macro, cfg.start, cfg.end, cfg.cache_dir, cfg.offline
        )
    ecfg = ExplainConfig(jobs=1)
    o = run_once(
        PowerInputs(cfg, ecfg, prices, tuple(macro), "planted"),
        PowerJob(strength if planted else 0.0, seed % 100000, DEFAULTS_LAG, seed),
    )
    horizons = cfg.horizons
    out: dict[str, float] = {}
    where = "defaults (real stages)"
    if not planted:
        out[
            size(
                f"{where}: the LSTM beats its comparator at some horizon (skill flag, Holm over the run's horizons) "
                "[family-wise], h=all",
                h="all",
            )
        ] = float(any(o.skill))
        out[
            size(
                f"{where}: the LSTM differs from some baseline (Holm over baselines x horizons) [family-wise], h=all",
                h="all",
            )
        ] = float(any(o.baselines_differ))
    for j, h in enumerate(horizons):
        if planted:
            out[power(f"{where}: the LSTM beats its comparator on a planted signal (skill flag), h={h}", h=h)] = float(
                o.skill[j]
            )
            out[
                power(f"{where}: ridge on the whole window beats the majority class on a planted signal, h={h}", h=h)
            ] = float(o.window[j])
        else:
            out[size(f"{where}: the LSTM beats its comparator (skill flag), h={h}", h=h)] = float(o.skill[j])
            out[
                size(
                    f"{where}: the verdict calls the LSTM significantly better or worse than its comparator, h={h}", h=h
                )
            ] = float(o.differs[j])
            out[
                size(
                    f"{where}: ridge on the whole window beats the majority class (the window sentence's first condition), "
                    f"h={h}",
                    h=h,
                )
            ] = float(o.window[j])
        for (m, hh, hit), (_, _, other) in zip(o.named, o.named_other):
            if hh != h or m not in E2E_METHODS:  # LightGBM's gain and split counts make no claim
                continue
            if planted:
                out[power(f"{where}: {label(m)} calls the planted group important, h={h}", h=h)] = float(hit)
                out[
                    size(
                        f"{where}: {label(m)} calls a no-information group important beside a planted signal, h={h}",
                        h=h,
                    )
                ] = float(other)
            else:
                out[
                    size(
                        f"{where}: {label(m)} calls some no-information group important (Holm over groups), h={h}", h=h
                    )
                ] = float(hit or other)
    return out


LEDGER_RUNS = 20  # runs judged one after another on one market
LEDGER_CHECKS = (5, 10, LEDGER_RUNS)  # after how many runs the ledger's answer is read
LEDGER_WINDOWS = (5, 10, 20, 30, 40)
LEDGER_LRS = (3e-3, 1e-2)
LEDGER_FEATURES = ("ohlcv", "ohlcv+extra")  # half the runs read the user columns (the planted signal among them)


# --------------------------------------------------------------------------- selection statistics
SPA_FAMILIES = ((5, 1), (10, 1), (20, 1), (10, 5))  # (configurations, horizon) of the SPA / StepM cells
SPA_DAYS = 1000
DSR_TRIALS, DSR_DAYS, DSR_EXPOSURE, DSR_MARKET_SHARPE = 30, 3000, 0.85, 0.04


def _overlapping(rng: np.random.Generator, n: int, k: int, h: int) -> np.ndarray:
    """``(n, k)`` fat-tailed unit-variance series sharing a common component (correlation 0.5), each an h-day
    moving sum of daily innovations (the MA(h - 1) dependence of overlapping h-day labels)."""
    e = np.sqrt(0.5) * _t4(rng, (n + h - 1, 1)) + np.sqrt(0.5) * _t4(rng, (n + h - 1, k))
    return _rolling_sum(e, h)[h - 1 :] / np.sqrt(h)


def spa_claims(rng: np.random.Generator, planted: bool = False) -> dict[str, float]:
    """:func:`pipeline.evaluation.selection.reality_check` (what the ledger and ``search --score-all-on-test``
    call) on ``SPA_DAYS`` days of K configurations' per-day differentials against a benchmark, with unequal
    spreads (1 to 10 times the smallest), fat tails, a common component and h-day overlap. Null: no
    configuration has an edge. Planted: the steadiest one has an edge of t about 3.4 (alone it is found every
    time); the others have none and ten times its spread, the case arch's unstudentised statistic masks."""
    from pipeline.evaluation.selection import reality_check

    out = {}
    for k, h in SPA_FAMILIES:
        spread = np.r_[1.0, np.full(k - 1, 10.0)] if planted else np.geomspace(1, 10, k)
        d = _overlapping(rng, SPA_DAYS, k, h) * spread
        if planted:
            d[:, 0] += 3.4 * np.sqrt(max(h, 1)) / np.sqrt(SPA_DAYS)  # t about 3.4 against its HAR error
        rc = reality_check(np.zeros(SPA_DAYS), -d, h=h, seed=int(rng.integers(1 << 30)))
        if planted:
            out[
                power(
                    f"selection: planted steady edge (t about 3.4) beside {k - 1} no-edge configurations with ten times its "
                    f"spread, studentised SPA finds it, h={h}",
                    h=h,
                )
            ] = float(rc["spa_p"] < ALPHA)
            out[
                power(
                    f"selection: planted steady edge beside {k - 1} noisy ones, studentised StepM names it, h={h}", h=h
                )
            ] = float(0 in rc["stepm_superior"])
        else:
            out[
                size(
                    f"selection: studentised SPA calls the best of {k} no-edge configurations (unequal spreads) better "
                    f"than its comparator [family-wise], h={h}",
                    h=h,
                )
            ] = float(rc["spa_p"] < ALPHA)
            out[
                size(
                    f"selection: studentised StepM calls some of {k} no-edge configurations better [family-wise], h={h}",
                    h=h,
                )
            ] = float(bool(rc["stepm_superior"]))
    return out


def dsr_claims(rng: np.random.Generator, planted: bool = False) -> dict[str, float]:
    """:func:`pipeline.evaluation.selection.deflated_sharpe` as the search page calls it: ``DSR_TRIALS`` long/flat
    trials on one drifting, volatility-clustered, fat-tailed market of ``DSR_DAYS`` days (daily Sharpe
    ``DSR_MARKET_SHARPE``), each in the market ``DSR_EXPOSURE`` of the time on persistent positions. Null: no trial's
    positions know the next return. Planted: one trial's positions lean on the next day's sign (on 15 % of days it
    is in or out by knowing it). The best trial by Sharpe ratio is deflated among every trial."""
    from pipeline.evaluation.selection import deflated_sharpe, timing_excess

    n = DSR_DAYS
    vol = np.empty(n)  # GARCH(1,1)-like volatility clustering
    z = _t4(rng, n)
    v, r = 1.0, np.empty(n)
    for t in range(n):
        vol[t] = np.sqrt(v)
        r[t] = vol[t] * z[t]
        v = 0.05 + 0.9 * v + 0.05 * r[t] ** 2
    r = 0.01 * (r / r.std() + DSR_MARKET_SHARPE)
    pos = _ar1(rng, (n, DSR_TRIALS), phi=0.9) > stats.norm.ppf(1 - DSR_EXPOSURE) * np.sqrt(1 / (1 - 0.81))
    if planted:
        know = rng.random(n) < 0.15
        pos[know, 0] = r[know] > 0
    cost = 5.0 / 1e4 * np.abs(np.diff(pos.astype(float), axis=0, prepend=0.0))
    strat = pos * r[:, None] - cost
    raw_sr = strat.mean(axis=0) / strat.std(axis=0, ddof=1)
    excess = np.column_stack([timing_excess(strat[:, j], r, pos[:, j].mean()) for j in range(DSR_TRIALS)])
    ex_sr = excess.mean(axis=0) / excess.std(axis=0, ddof=1)
    best = int(np.argmax(ex_sr))
    dsr = deflated_sharpe(excess[:, best], ex_sr)["dsr"]
    if planted:
        return {
            power(
                f"selection: planted timing skill in one of {DSR_TRIALS} long/flat trials on a drifting market, the "
                "deflated Sharpe ratio of the excess over random timing is at or above 0.95, h=1",
                h=1,
            ): float(dsr >= 0.95)
        }
    raw_best = int(np.argmax(raw_sr))
    raw = deflated_sharpe(strat[:, raw_best], raw_sr)["dsr"]
    return {
        size(
            f"selection: the deflated Sharpe ratio of the best of {DSR_TRIALS} no-skill long/flat trials on a drifting "
            "market (excess over random timing with the same exposure) is at or above 0.95, h=1",
            h=1,
        ): float(dsr >= 0.95),
        descriptive(
            f"legacy (not used): the deflated Sharpe ratio of the raw returns of the best of {DSR_TRIALS} no-skill "
            "trials on a drifting market is at or above 0.95, h=1",
            h=1,
        ): float(raw >= 0.95),
    }


def ledger_configs(cfg) -> list:
    """The :data:`LEDGER_RUNS` configurations a user tries by hand on one market: every window x learning rate
    x feature set (with or without their own columns), in an order that mixes them."""
    grid = [(w, lr, f) for f in LEDGER_FEATURES for lr in LEDGER_LRS for w in LEDGER_WINDOWS]
    order = np.random.default_rng(0).permutation(len(grid))
    return [
        dataclasses.replace(cfg, window=grid[k][0], lr=grid[k][1], features=grid[k][2], seed=int(k)).validate()
        for k in order
    ]


def e2e_ledger_claims(seed: int, n_days: int, planted: bool = False, strength: float = 0.005) -> dict[str, float]:
    """:data:`LEDGER_RUNS` runs on one simulated market, judged one after another as ``run`` judges them: each
    one ``prepare -> fit -> evaluate`` (the study's cheap model; another window, learning rate or feature set,
    :func:`ledger_configs`), then the ledger's count (:func:`pipeline.stages.ledger.count_and_record`: the
    family-wise answer over every earlier run judged on the same test days, SPA and StepM), its folder
    published with the entries' token and the entries marked done, in one reports folder's ledger. Read after
    :data:`LEDGER_CHECKS` runs. Null: the market's columns carry nothing (a random walk). Planted: the next
    return follows a user column at day t-3, which the runs with ``ohlcv+extra`` read (half of them). h = 1."""
    from pipeline.calibration.simulate import planted_signal_frame
    from pipeline.config.schema import RunConfig
    from pipeline.io import write_manifest
    from pipeline.stages import ledger
    from pipeline.stages.evaluate import evaluate
    from pipeline.stages.fit import fit
    from pipeline.stages.prepare import prepare

    frame = planted_signal_frame(n_days, seed=seed, strength=strength if planted else 0.0, noise=0.01, lag=4)
    quiet = lambda *a, **k: None  # noqa: E731
    out = {}
    with tempfile.TemporaryDirectory(prefix="featureproof-e2e-ledger-") as folder:
        root = Path(folder)
        path = root / "market.csv"
        frame.to_csv(path, index=False)
        base = RunConfig(
            data=str(path),
            source="csv",
            horizons=[1],
            folds=2,
            seeds=1,
            model="window_linear",
            epochs=20,
            patience=3,
            bootstrap=0,
            lgbm_lags=2,
            threads=1,
            progress=False,
        )
        book, naive = root / "reports" / ledger.LEDGER, []
        for k, cfg in enumerate(ledger_configs(base), start=1):
            prepared = prepare(cfg)
            fitted = fit(prepared, quiet)
            evaluation = evaluate(prepared, fitted)
            run_dir = root / "reports" / f"run{k:02d}"
            entries = ledger.run_entries(run_dir, prepared, fitted, evaluation, name=cfg.features)
            (answer,), token = ledger.count_and_record(book, entries)
            run_dir.mkdir(parents=True)
            write_manifest(run_dir, "run", token)  # the folder published, carrying the entries' token
            ledger.mark_done(book, token)
            e = evaluation.horizon_results[0]["edge"]
            naive.append(e["p_value"] < ALPHA and e["mean"] > 0)
            if k not in LEDGER_CHECKS:
                continue
            reads = [LEDGER_FEATURES[1] in f for f in answer.get("names", [])]
            if planted:
                if k == LEDGER_RUNS:
                    out[
                        power(
                            f"ledger (real stages): after {k} runs on a planted signal (half of them read it), SPA over all "
                            "of them calls the best edge significant (planted), h=1",
                            h=1,
                        )
                    ] = float(answer["significant"])
                    out[
                        size(
                            f"ledger (real stages): StepM calls a run that does not read the planted column better than its "
                            f"comparator, after {k} runs beside a planted signal [family-wise], h=1",
                            h=1,
                        )
                    ] = float(any(not reads[i] for i in answer["stepm_superior"]))
                continue
            out[
                size(
                    f"ledger (real stages): after {k} no-skill runs on one market, SPA over all of them calls the best edge "
                    "significant [family-wise], h=1",
                    h=1,
                )
            ] = float(answer.get("significant", False))
            out[
                size(
                    f"ledger (real stages): after {k} no-skill runs on one market, StepM calls some run better than its "
                    "comparator [family-wise], h=1",
                    h=1,
                )
            ] = float(bool(answer.get("stepm_superior")))
            out[
                descriptive(
                    f"legacy (not used): the best of {k} no-skill runs by its own test read alone (the naive best of "
                    f"{k}), significant and positive, h=1",
                    h=1,
                )
            ] = float(any(naive))
    return out


def _e2e_job(job: tuple[str, int, int, bool]) -> dict[str, float]:
    kind, seed, n_days, planted = job
    import torch

    torch.set_num_threads(1)
    fn = {
        "compare": e2e_compare_claims,
        "search": e2e_search_claims,
        "search_wide": lambda seed, n, planted: e2e_search_claims(
            seed, n, planted, trials=SEARCH_WIDE_TRIALS, horizons=SEARCH_WIDE_HORIZONS
        ),
        "ledger": e2e_ledger_claims,
        "defaults": e2e_defaults_claims,
    }.get(kind, e2e_claims)
    return fn(seed, n_days, planted)


# What each claim's cells run, shown in the study's table: the real stages, the real functions of one stage
# on simulated predictions, or the inference functions alone (analytic).
PATHS = (
    (
        "defaults (real stages)",
        "real stages at the schema's defaults (features all, LSTM, window 60, h 1/5/10, every "
        "explain method) via stages.power.run_once on a drifting GARCH-like t(4) walk with a planted "
        "column (effect 0, or 0.15 with the next return)",
    ),
    ("stages:", "real stages: prepare -> fit (linear model on the window, 2 seeds refitted) -> evaluate -> explain"),
    ("importance: permutation", "explain.ablation.group_permutation + the explain stage's per_day_item and holm_by"),
    (
        "importance: conditional",
        "explain.ablation.conditional_permutation (the map from the other groups' rows and their past, fitted on the test rows' inputs) + per_day_item and holm_by",
    ),
    (
        "importance: joint",
        "explain.ablation.permutation_importance of the pair's columns together (a cluster) + per_day_item",
    ),
    ("importance: tree_shap", "LightGBM with shadows + the explain stage's judge_lightgbm"),
    (
        "importance: the alignment",
        "LightGBM with shadows + the explain stage's alignment test (the gradient methods' rule)",
    ),
    (
        "search (real path, ",
        "real search path at the search's defaults: make_context -> run_trials (30 Optuna trials over h 1/5/10, "
        "the cheap model refitted per fold) -> chosen_config judged on the held-back days (Holm over horizons); "
        "holdout_scores (SPA, StepM)",
    ),
    (
        "search (real path)",
        "real search path: make_context -> run_trials (8 Optuna trials, the cheap model refitted per fold) "
        "-> chosen_config judged by prepare -> fit -> evaluate on the held-back days; holdout_scores "
        "(SPA, StepM)",
    ),
    (
        "selection: the deflated",
        "evaluation.selection.deflated_sharpe of timing_excess, as the search page calls it, "
        "on 30 long/flat trials on a drifting GARCH-like t(4) market",
    ),
    (
        "selection: planted timing",
        "evaluation.selection.deflated_sharpe of timing_excess, as the search page calls it, "
        "on 30 long/flat trials on a drifting GARCH-like t(4) market",
    ),
    (
        "selection:",
        "evaluation.selection.reality_check (what the ledger and search --score-all-on-test call) on 1,000 "
        "days of fat-tailed, correlated, overlapping differentials with unequal spreads",
    ),
    (
        "legacy (not used): the deflated",
        "evaluation.selection.deflated_sharpe of the raw strategy returns (before "
        "timing_excess): shown to explain why the DSR deflates the excess",
    ),
    (
        "legacy (not used): the best trial",
        "the search path's best trial, its own test read alone: shown to explain why "
        "the verdict comes from held-back days",
    ),
    (
        "ledger (real stages)",
        "real stages: 20 runs on one market (prepare -> fit -> evaluate; windows x learning rates x "
        "feature sets), each counted by stages.ledger.count_and_record (SPA, StepM over the earlier "
        "runs on the same test days), published and marked done, one after another",
    ),
    (
        "legacy (not used): the best of",
        "the ledger cells' runs, the best one's own test read alone: shown to explain why the ledger counts every run",
    ),
    (
        "compare (real stages)",
        "real stages: compare_sets with --models window_linear,linear (prepare -> fit, 2 seeds "
        "refitted per family -> the comparator per fold -> DM, Holm)",
    ),
    ("compare:", "compare's family (stages.compare.pair_tests) on simulated seed ensembles"),
    (
        (
            "cross-section: Rank IC differs",
            "cross-section: the",
            "cross-section: planted signal, Rank IC above",
            "cross-section: planted signal, the long-short",
        ),
        "evaluation.cross_section.cross_section + horizon_family (what evaluate calls)",
    ),
    ("cross-section:", "evaluation.cross_section.evaluate_score (the function run calls)"),
    (
        "run: 95% interval of the model's",
        "evaluation.tables.metric_table (every interval run and compare report) on simulated predictors",
    ),
    ("run:", "analytic: evaluation.inference on simulated predictors (the stages' cells are 'stages:')"),
    ("legacy", "legacy, not used by run: shown to explain why"),
    ("not a claim", "shown: what a descriptive method says in the same cells (no claim is made from it)"),
)

# Claims a report can make that no cell calibrates yet: listed, marked, never counted as passing.
UNCALIBRATED: tuple[str, ...] = ()


def claim_path(claim: str) -> str:
    return next((path for prefix, path in PATHS if claim.startswith(prefix)), "analytic")


# --------------------------------------------------------------------------- the study
def claim_kind(claim: str) -> str:
    """The kind a cell declared (:class:`Claim`); a plain string is not a claim the study can count."""
    if not isinstance(claim, Claim):
        raise TypeError(
            f"calibration cell {claim[:60]!r}... is a plain string: make it with size(), coverage(), power() or descriptive()"
        )
    return claim.kind


def mc_bound(kind: str, n: int, z: float = MC_Z) -> float:
    """The pass line of a cell with ``n`` simulations: the nominal rate plus (size) or minus (coverage) ``z``
    Monte-Carlo standard errors at the nominal rate; NaN for power and descriptive cells."""
    if kind == "size":
        return ALPHA + z * float(np.sqrt(ALPHA * (1 - ALPHA) / n))
    if kind == "coverage":
        return (1 - ALPHA) - z * float(np.sqrt(ALPHA * (1 - ALPHA) / n))
    return float("nan")


def _map(fn, jobs: list, workers: int, bar) -> list:
    """``[fn(job) ...]`` in order: in this process, or in ``workers`` spawned processes (fresh interpreters:
    no OpenMP state inherited from this one)."""
    if workers <= 1:
        out = []
        for job in jobs:
            out.append(fn(job))
            bar.update(1)
        return out
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        out = []
        for result in pool.map(fn, jobs, chunksize=4):
            out.append(result)
            bar.update(1)
        return out


def run_study(cfg: StudyConfig, progress: bool = True) -> pd.DataFrame:
    """Rows ``claim, kind, horizon, symbols, rate, mc_error, low, high, nominal, bound, sims, ok, path``:
    the rate with its Monte-Carlo standard error and Wilson 95% interval; a size cell is ok at or below its
    nominal 5% within ``MC_Z`` Monte-Carlo errors (``bound``), a coverage cell at or above 95% within them."""
    from tqdm.auto import tqdm

    rng = np.random.default_rng(cfg.seed)
    acc: dict[tuple[str, object, int], list[float]] = {}
    boot_sims = cfg.sims if cfg.boot_sims is None else cfg.boot_sims

    def add(h, s: int, values: dict[str, float]):
        for claim, v in values.items():
            acc.setdefault((claim, h, s), []).append(v)

    e2e_sims = cfg.sims if cfg.e2e_sims is None else cfg.e2e_sims
    compare_sims = e2e_sims if cfg.compare_sims is None else cfg.compare_sims
    other, correlated = "other" in cfg.parts, "correlated" in cfg.parts
    # the compare cells draw their markets from a stream of their own: adding them moved no other cell's draws
    search_sims = max(1, e2e_sims // 5) if cfg.search_sims is None else cfg.search_sims
    ledger_sims = max(1, e2e_sims // 5) if cfg.ledger_sims is None else cfg.ledger_sims
    defaults_sims = max(1, e2e_sims // 5) if cfg.defaults_sims is None else cfg.defaults_sims
    streams = (
        ("stages", e2e_sims, rng),
        ("compare", compare_sims, np.random.default_rng((cfg.seed, 2))),
        ("search", search_sims, np.random.default_rng((cfg.seed, 3))),
        ("search_wide", search_sims, np.random.default_rng((cfg.seed, 8))),
        ("ledger", ledger_sims, np.random.default_rng((cfg.seed, 4))),
        ("defaults", defaults_sims, np.random.default_rng((cfg.seed, 6))),
    )
    jobs = [
        (kind, int(seed), cfg.defaults_days if kind == "defaults" else cfg.e2e_days, planted)
        for kind, n, gen in streams
        if kind in cfg.parts
        for seed in gen.integers(1 << 30, size=n)
        for planted in (False, True)
    ]
    bar = tqdm(
        total=len(jobs) + 2 * cfg.sims * len(cfg.symbols),
        desc="calibrate",
        unit="sim",
        disable=None if progress else True,
    )
    lag_rng = np.random.default_rng((cfg.seed, 7))  # the cross-lag cells' own stream: the other cells' draws stay
    for out in _map(_e2e_job, jobs, cfg.jobs, bar):  # the real stages on simulated markets
        for claim, v in out.items():
            add(claim.horizon, 1, {claim: v})
    for s in cfg.symbols:
        if not other and s != 1:  # the correlated cells run on one symbol
            continue
        for i in range(cfg.sims):
            p = panel(rng, cfg.n_days, s, cfg.horizons)
            for h in cfg.horizons:
                if s == 1 and correlated:
                    add(h, s, correlated_claims(rng, p, h))
                    add(h, s, cross_lag_claims(lag_rng, p, h))
                if not other:
                    continue
                add(h, s, run_claims(p, h, s, cfg.n_boot, boot=i < boot_sims, rng_seed=cfg.seed + i))
                add(h, s, importance_claims(rng, p, h))
                if s >= 3:
                    add(h, s, cross_section_claims(p, h, s))
            if not other:
                bar.update(1)
                continue
            if s >= 3:
                for claim, v in cross_section_reference_claims(p, cfg.horizons).items():
                    add(claim.horizon, s, {claim: v})
            if s == 1 and i < cfg.lgbm_sims:
                add(1, s, lightgbm_claims(rng, cfg.lgbm_days))
            cmp = compare_claims(rng, p, cfg.horizons, cfg.seeds)
            add("all", s, {k: v for k, v in cmp.items() if "h=" not in k or "legacy" in k})
            for h in cfg.horizons:
                add(h, s, {k: v for k, v in cmp.items() if k.endswith(f"h={h}") and "legacy" not in k})
            bar.update(1)
        for i in range(cfg.sims):  # planted signals: power
            p = panel(rng, cfg.n_days, s, cfg.horizons, planted=cfg.beta)
            for h in cfg.horizons:
                if s == 1 and correlated:
                    add(h, s, correlated_claims(rng, p, h, planted=True))
                    add(h, s, cross_lag_claims(lag_rng, p, h, planted=True))
                if not other:
                    continue
                add(h, s, planted_run_claims(p, h))
                add(h, s, importance_claims(rng, p, h, planted=True))
                if s >= 3:
                    add(h, s, cross_section_claims(p, h, s, planted=True))
            if not other:
                bar.update(1)
                continue
            if s >= 3:
                for claim, v in cross_section_reference_claims(p, cfg.horizons, planted=True).items():
                    add(claim.horizon, s, {claim: v})
            add(min(cfg.horizons), s, compare_claims(rng, p, cfg.horizons, cfg.seeds, planted=True))
            if s == 1 and i < cfg.lgbm_sims:
                add(1, s, lightgbm_claims(rng, cfg.lgbm_days, planted=cfg.lgbm_beta))
            bar.update(1)
    if "selection" in cfg.parts:  # SPA, StepM and the DSR as the ledger and the search call them
        sel_rng = np.random.default_rng((cfg.seed, 5))
        for _ in range(cfg.sims if cfg.selection_sims is None else cfg.selection_sims):
            for planted in (False, True):
                for claim, v in {**spa_claims(sel_rng, planted), **dsr_claims(sel_rng, planted)}.items():
                    add(claim.horizon, 1, {claim: v})
    bar.close()
    rows = []
    for (claim, h, s), values in acc.items():
        n = len(values)
        kind = claim_kind(claim)
        rate = float(np.mean(values))
        lo, hi = wilson_interval(float(np.sum(values)), n)
        bound = mc_bound(kind, n)
        ok = {"size": rate <= bound, "coverage": rate >= bound}.get(kind, True)
        rows.append(
            {
                "claim": claim,
                "kind": kind,
                "horizon": str(h).replace("@", ""),
                "symbols": s,
                "rate": rate,
                "mc_error": float(np.sqrt(rate * (1 - rate) / n)),
                "low": lo,
                "high": hi,
                "nominal": {"size": ALPHA, "coverage": 1 - ALPHA}.get(kind, np.nan),
                "bound": bound,
                "sims": n,
                "ok": bool(ok),
                "path": claim_path(claim),
            }
        )
    for claim in UNCALIBRATED:
        rows.append(
            {
                "claim": claim,
                "kind": "uncalibrated",
                "horizon": "",
                "symbols": 0,
                "rate": np.nan,
                "mc_error": np.nan,
                "low": np.nan,
                "high": np.nan,
                "nominal": np.nan,
                "bound": np.nan,
                "sims": 0,
                "ok": False,
                "path": "no cell yet: not calibrated",
            }
        )
    return pd.DataFrame(rows)


def failed_cells(table: pd.DataFrame) -> pd.DataFrame:
    """Size and coverage cells outside their nominal rate beyond Monte-Carlo error (power and descriptive
    cells have no nominal rate; uncalibrated claims are listed apart)."""
    return table[table.kind.isin(["size", "coverage"]) & ~table.ok]


def calibrate(cfg: StudyConfig, progress: bool = True, log=say) -> tuple[pd.DataFrame, float]:
    """Run the study and print it: the table and the seconds it took."""
    t0 = time.perf_counter()
    table = run_study(cfg, progress)
    seconds = time.perf_counter() - t0
    for r in table.sort_values(["kind", "claim", "symbols", "horizon"]).itertuples():
        if r.kind == "uncalibrated":
            log(f"NOT CALIBRATED  {r.claim}")
            continue
        flag = "" if r.kind in ("power", "descriptive") else ("  ok" if r.ok else "  FAIL")
        log(
            f"{r.kind:<11} {r.claim:<90} h={r.horizon:<3} symbols={r.symbols}  {100 * r.rate:5.1f}% "
            f"± {100 * r.mc_error:3.1f}{flag}"
        )
    failed = len(failed_cells(table))
    counts = table.kind.value_counts()
    log(
        f"calibration: {counts.get('size', 0)} size cells, {counts.get('coverage', 0)} coverage cells "
        f"({failed} outside nominal beyond {MC_Z:g} Monte-Carlo errors), {counts.get('power', 0)} power cells, "
        f"{counts.get('descriptive', 0)} descriptive, {counts.get('uncalibrated', 0)} uncalibrated; {seconds:.0f} s"
    )
    return table, seconds
