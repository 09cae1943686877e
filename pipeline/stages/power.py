"""End-to-end power on the user's own data: ``power(cfg, ecfg, setting) -> PowerResult``.

A column is planted into the user's prices: on day *t* it announces the daily return ``lag`` days later,

    planted[t] = effect * z[t + lag] + sqrt(1 - effect**2) * e[t],   e ~ N(0, 1) fresh per run,

where ``z`` is the symbol's daily log return standardised over its history, so ``effect`` is the correlation
between the column and the return it announces (0: pure noise). The prices, the other features and the
stages are the user's: each run goes through the real ``prepare -> fit -> evaluate -> explain`` with the
user's settings (``extra`` is added to the feature set so that the column is seen) and records whether the
run claims skill and whether each importance method names the planted group. Runs at effect 0 measure, on
the same data, how often a method names a column that holds nothing (its size here) and how often the run
claims skill without the plant's help.

A run's job is a deterministic function of its effect, its number and the study's seed (the planted draw
and the training seeds), so local workers and Ray give identical rates. Nothing here writes to the ledger:
the planted data are simulations, not configurations judged on the user's days.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from pipeline.config.schema import ExplainConfig, RunConfig
from pipeline.errors import InputError
from pipeline.evaluation.inference import ALPHA, wilson_interval

PLANTED = "planted"  # the planted column's name in the user's frame (a suffix is added if the data have one)
MAX_EFFECT = 0.95  # a correlation beyond this leaves almost no noise: nothing to measure
NO_CLAIM = ("lgbm_gain", "lgbm_split")  # LightGBM's gain and split counts describe the fit and make no claim
SKILL = "skill"  # the measure "the run claims skill" beside the importance methods' names
WINDOW = "window"  # the measure "ridge on the whole window beats the blind baseline" (the data hold it)
MEASURES = {
    SKILL: "the run claims skill (the network beats its comparator, Holm over horizons)",
    WINDOW: "ridge on the whole window beats the majority class / persistence (the window holds it)",
}


@dataclass(frozen=True)
class PowerSetting:
    """What to plant and how often: effects (correlations in [0, 0.95]; 0 is always added), the lag in days
    (1 .. the window), runs per effect and the seed of the planted draws."""

    effects: tuple[float, ...]
    lag: int
    runs: int
    seed: int = 0

    def check(self, cfg: RunConfig) -> "PowerSetting":
        """This setting with 0 among the effects, or an :class:`InputError` naming the flag."""
        for e in self.effects:
            if not (0 <= e <= MAX_EFFECT):  # also rejects nan
                raise InputError(
                    f"--effect {e:g} is out of range: give correlations between 0 and {MAX_EFFECT:g} "
                    "(e.g. --effect 0.05,0.1,0.2)"
                )
        if not self.effects:
            raise InputError("--effect needs at least one value (e.g. --effect 0.1)")
        if self.lag < 1:
            raise InputError(
                f"--lag {self.lag} is out of range: the planted column announces the return 1 or more days later"
            )
        if self.lag > cfg.window:
            raise InputError(
                f"--lag {self.lag} is beyond the {cfg.window}-day window: no sample would see the planted "
                f"value; use --lag {cfg.window} or less, or a longer --window"
            )
        if self.runs < 2:
            raise InputError(f"--runs {self.runs}: a rate needs at least 2 runs per effect (20 or more recommended)")
        effects = tuple(sorted({0.0, *(float(e) for e in self.effects)}))
        return dataclasses.replace(self, effects=effects)


@dataclass(frozen=True)
class PowerJob:
    """One run: the effect and the run's number (its planted draw and training seeds follow from them)."""

    effect: float
    run: int
    lag: int
    seed: int

    def describe(self) -> str:
        return f"power run {self.run + 1} at effect {self.effect:g}, lag {self.lag}"


@dataclass(frozen=True)
class PowerOutcome:
    """What one run claimed, per horizon: skill, the headline metric and edge, and per importance method
    whether it named the planted group."""

    effect: float
    run: int
    metric_name: str  # the headline metric (accuracy, rmse, ...)
    skill: tuple[bool, ...]  # (H,)
    window: tuple[bool, ...]  # (H,) ridge on the whole window beats the blind baseline
    metric: tuple[float, ...]  # (H,) the model's headline metric
    edge: tuple[float, ...]  # (H,) the edge over the comparator
    named: tuple[tuple[str, int, bool], ...]  # (method, horizon, named the planted group)
    named_other: tuple[tuple[str, int, bool], ...] = ()  # (method, horizon, named some group other than the planted)
    differs: tuple[bool, ...] = ()  # (H,) the verdict: significantly better or worse than the comparator
    baselines_differ: tuple[
        bool, ...
    ] = ()  # (H,) the model differs from some baseline (Holm over baselines x horizons)


@dataclass(frozen=True)
class PowerResult:
    """Detection rates per effect x horizon x measure (``skill`` or an importance method), with Wilson 95%
    intervals; the outcomes of every run; the planted group's name and the headline metric's."""

    setting: PowerSetting
    horizons: tuple[int, ...]
    group: str
    outcomes: tuple[PowerOutcome, ...]
    seconds: float

    @property
    def metric_name(self) -> str:
        return self.outcomes[0].metric_name if self.outcomes else ""

    @property
    def table(self) -> pd.DataFrame:
        """Rows ``effect, horizon, measure, hits, runs, rate, low, high, mean_metric, mean_edge``."""
        rows = []
        methods = sorted({m for o in self.outcomes for m, _, _ in o.named})
        for effect in self.setting.effects:
            runs = [o for o in self.outcomes if o.effect == effect]
            for j, h in enumerate(self.horizons):
                metric = float(np.mean([o.metric[j] for o in runs])) if runs else math.nan
                edge = float(np.mean([o.edge[j] for o in runs])) if runs else math.nan
                measures = {SKILL: [o.skill[j] for o in runs], WINDOW: [o.window[j] for o in runs]}
                for m in methods:
                    measures[m] = [named for o in runs for mm, hh, named in o.named if mm == m and hh == h]
                for measure, hits in measures.items():
                    lo, hi = wilson_interval(float(np.sum(hits)), len(hits))
                    rows.append(
                        {
                            "effect": effect,
                            "horizon": h,
                            "measure": measure,
                            "hits": int(np.sum(hits)),
                            "runs": len(hits),
                            "rate": float(np.mean(hits)) if hits else math.nan,
                            "low": lo,
                            "high": hi,
                            "mean_metric": metric,
                            "mean_edge": edge,
                        }
                    )
        return pd.DataFrame(rows)


def planted_name(prices: dict[str, pd.DataFrame]) -> str:
    """``planted``, or ``planted_2``, ... when the user's data already have a column of that name."""
    taken = {c for f in prices.values() for c in f.columns}
    name, k = PLANTED, 1
    while name in taken:
        k += 1
        name = f"{PLANTED}_{k}"
    return name


def plant_column(close: pd.Series, effect: float, lag: int, rng: np.random.Generator) -> np.ndarray:
    """``(n,)`` the planted column of one symbol: ``effect * z[t + lag] + sqrt(1 - effect**2) * e[t]``, with
    ``z`` the daily log return standardised over the series; pure noise where ``t + lag`` is past the data."""
    values = close.to_numpy(np.float64)
    r = np.r_[np.nan, np.diff(np.log(values))]
    sd = np.nanstd(r)
    z = np.where(np.isfinite(r), (r - np.nanmean(r)) / (sd if sd > 0 else 1.0), 0.0)
    ahead = np.r_[z[lag:], np.full(min(lag, len(z)), np.nan)]  # ahead[t] = z[t + lag]
    noise = rng.standard_normal(len(values))
    return np.where(np.isfinite(ahead), effect * np.nan_to_num(ahead) + math.sqrt(1 - effect**2) * noise, noise)


def planted_prices(
    prices: dict[str, pd.DataFrame], effect: float, lag: int, seed: int, name: str
) -> dict[str, pd.DataFrame]:
    """The user's prices with the planted column added to every symbol (its own draw per symbol)."""
    rng = np.random.default_rng(seed)
    out = {}
    for symbol in sorted(prices):
        frame = prices[symbol].copy()
        frame[name] = plant_column(frame["close"], effect, lag, rng)
        frame.attrs = {**prices[symbol].attrs, "extra_columns": [*prices[symbol].attrs.get("extra_columns", []), name]}
        out[symbol] = frame
    return {s: out[s] for s in prices}


def with_extra(features: str) -> str:
    """The feature spec with ``extra`` (the planted column's set) when it lacks it (``all`` has it)."""
    parts = [p.strip().lower() for p in features.split("+")]
    return features if {"all", "extra"} & set(parts) else f"{features}+extra"


@dataclass(frozen=True)
class PowerInputs:
    """What every run shares (sent once per worker): the settings, the user's prices and macro series."""

    cfg: RunConfig
    ecfg: ExplainConfig
    prices: dict
    macro: tuple
    name: str


def run_once(shared: PowerInputs, job: PowerJob) -> PowerOutcome:
    """One run of the real stages on the user's data with a fresh planted draw (the job's seed)."""
    import torch

    from pipeline.data.dataset import dataset_from_prices
    from pipeline.stages.evaluate import evaluate
    from pipeline.stages.explain import explain
    from pipeline.stages.fit import fit
    from pipeline.stages.prepare import prepare

    quiet = lambda *a, **k: None  # noqa: E731
    draw = int(np.random.default_rng((job.seed, job.run, int(round(job.effect * 1e6)))).integers(1 << 30))
    prices = planted_prices(shared.prices, job.effect, job.lag, draw, shared.name)
    cfg = dataclasses.replace(shared.cfg, progress=False, seed=(shared.cfg.seed + 1009 * job.run) % (2**31 - 1))
    threads = torch.get_num_threads()
    dataset = dataset_from_prices(prices, cfg.features, list(shared.macro))
    prepared = prepare(cfg, dataset=dataset)
    fitted = fit(prepared, quiet)
    evaluation = evaluate(prepared, fitted)
    named: list[tuple[str, int, bool]] = []
    named_other: list[tuple[str, int, bool]] = []
    if shared.ecfg.ablation != "none" or shared.ecfg.explain:
        explanation = explain(prepared, fitted, evaluation, shared.ecfg, quiet)
        methods = sorted({i.method for i in explanation.items} - set(NO_CLAIM))
        group = f"extra:{shared.name}"
        for h in cfg.horizons:
            for m in methods:
                items = [i for i in explanation.items if i.method == m and i.horizon == h]
                named.append((m, h, any(i.clears and i.group == group for i in items)))
                named_other.append((m, h, any(i.clears and i.group != group for i in items)))
    torch.set_num_threads(threads)
    results = evaluation.horizon_results
    return PowerOutcome(
        job.effect,
        job.run,
        results[0]["headline_metric"],
        tuple(bool(e["skill"]) for e in results),
        tuple(bool((e.get("window_information") or {}).get("significant", False)) for e in results),
        tuple(float(e["model"][e["headline_metric"]]) for e in results),
        tuple(float(e["edge"]["mean"]) for e in results),
        tuple(named),
        tuple(named_other),
        tuple(bool(e["edge"]["p_holm"] < ALPHA) for e in results),
        tuple(any(v["p_holm"] < ALPHA for v in e["against_baselines"].values()) for e in results),
    )


def power(
    cfg: RunConfig,
    ecfg: ExplainConfig,
    setting: PowerSetting,
    prices: dict[str, pd.DataFrame],
    macro: list | None = None,
    progress: Callable[[], None] | None = None,
) -> PowerResult:
    """Every effect x run through :func:`run_once` on the executor of ``ecfg`` (local processes or Ray); the
    explain stage inside a run uses one process. ``prices``: the user's validated prices per symbol."""
    import time

    from pipeline.stages.executor import run_jobs
    from pipeline.stages.fit import job_device

    setting = setting.check(cfg)
    t0 = time.perf_counter()
    # the device a run trains on: a Ray task's GPU when it asked for one; local workers are forked (CPU), so a
    # CUDA run goes one run after another in this process
    device = job_device(cfg.device, ecfg.executor, ecfg.gpus_per_job)
    workers = 1 if device == "cuda" and ecfg.executor == "local" else ecfg.jobs
    cfg = dataclasses.replace(cfg, features=with_extra(cfg.features), device=device).validate()
    name = planted_name(prices)
    inner = dataclasses.replace(ecfg, jobs=1, executor="local", gpus_per_job=0.0)
    shared = PowerInputs(cfg, inner, prices, tuple(macro or ()), name)
    jobs = [PowerJob(e, r, setting.lag, setting.seed) for e in setting.effects for r in range(setting.runs)]
    outcomes = run_jobs(
        run_once,
        jobs,
        ecfg.executor,
        workers,
        ecfg.ray_address,
        num_gpus=ecfg.gpus_per_job,
        progress=progress,
        shared=shared,
    )
    return PowerResult(setting, tuple(cfg.horizons), f"extra:{name}", tuple(outcomes), time.perf_counter() - t0)
