"""The search stage: ``search = prepare once -> many fit/evaluate trials on the search days -> one final run on
the held-back days`` (the final run and the report are composed in :mod:`pipeline.cli.compose`).

* :func:`make_context`: the data loaded once; the last ``holdout`` share of sample dates held back (the trials
  never see a price on or after the first held-back date: their labels, which need later prices, cannot be
  formed); the first sample date every trial shares (the space's longest window); the comparator of the
  search days (chosen per fold on validation days, as ``run`` chooses it) and its per-day loss.
* :func:`score_trial`: one configuration through the real stages (prepare with the trial's window, groups and
  preprocessing; ``fit_unit`` per fold x seed), scored by its **edge** on the walk-forward test days of the
  search period: the comparator's per-day headline loss minus the trial's, averaged over horizons (higher is
  better). It reports the running edge after each fold, for Optuna's pruner.
* :func:`run_worker`: a stateless worker: it opens the study from its storage and runs its share of trials.
  Everything a second worker needs is in the storage (Optuna's design): every trial's parameters, state,
  edge, per-day edges and per-day strategy returns.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline import tracking
from pipeline.config.schema import RunConfig, tcn_levels, tcn_receptive_field
from pipeline.config.space import INT_KNOBS, Space, family_knobs
from pipeline.data.dataset import Dataset
from pipeline.errors import InputError
from pipeline.evaluation import inference
from pipeline.evaluation.inference import day_series
from pipeline.evaluation.selection import timing_excess
from pipeline.evaluation.strategy import long_flat
from pipeline.evaluation.tables import headline_loss
from pipeline.progress import say
from pipeline.stages.evaluate import choose_comparator
from pipeline.stages.fit import fit_unit, fold_baselines
from pipeline.stages.prepare import prepare
from pipeline.stages.results import Fitted, Prepared
from pipeline.tracking import Tracker

STUDY_NAME = "featureproof-search"
PRUNE_STARTUP = 5  # trials before the pruner may stop one (Optuna's MedianPruner)


@dataclass(frozen=True)
class SearchContext:
    """What every trial shares, computed once: the configuration, the space, the data before the held-back
    days, the shared first sample date, and the comparator's per-day loss on the search's scoring days."""

    base: RunConfig
    space: Space
    dataset: Dataset  # the whole data (the final run's)
    search_data: Dataset  # every price and feature row before ``holdout_start``
    holdout_start: str  # first held-back date
    sample_start: str  # first sample date of every trial
    groups: tuple[str, ...]
    days: pd.DatetimeIndex  # the scoring days (walk-forward test days of the search period)
    comparator_loss: pd.Series  # day -> the comparator's headline loss, mean over horizons
    comparator: dict  # horizon -> the comparator's description
    n_holdout_days: int

    def fingerprint(self) -> dict:
        """What a storage must match to take this search's trials (the study refuses to mix)."""
        c = self.base
        return {
            "data": self.dataset.fingerprint(),
            "target": c.target,
            "horizons": list(c.horizons),
            "holdout_start": self.holdout_start,
            "sample_start": self.sample_start,
            "folds": c.folds,
            "test_fraction": c.test_fraction,
            "space": self.space.digest(),
        }


def _sample_loss(prepared: Prepared, pred: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Headline loss of predictions ``(n, H)`` of samples ``idx``, averaged over horizons: ``(n,)``."""
    loss = headline_loss(prepared.classification)
    y = prepared.ws.y[idx]
    return np.mean([loss(y[:, j], pred[:, j]) for j in range(y.shape[1])], axis=0)


def make_context(base: RunConfig, space: Space, holdout: float, dataset: Dataset | None = None) -> SearchContext:
    """Load the data once, hold back the last ``holdout`` share of sample dates, and choose the search days'
    comparator on a reference preparation (the space's longest window, every group, the run's preprocessing)."""
    if not 0.05 <= holdout <= 0.5:
        raise InputError("--holdout must be between 0.05 and 0.5 (the share of sample dates held back)")
    window = space.max_window or base.window
    groups_knob = space["groups"]
    ref_cfg = dataclasses.replace(base, window=window, exclude_groups=None, sample_start=None, test_start=None)
    try:
        full = prepare(ref_cfg, dataset=dataset)
    except InputError as exc:
        raise InputError(f"search space: window {window}: {exc}") from None
    # the user's own --exclude-groups hold for every trial (prepare applies them); the rest may be searched
    groups = tuple(g for g in full.dataset.groups if g not in (base.exclude_groups or []))
    if groups_knob is not None and groups_knob.choices:
        unknown = [g for g in groups_knob.choices if g not in groups]
        if unknown:
            raise InputError(
                f"search space: [groups] names {unknown[0]!r}, not a feature group of this data ({', '.join(groups)})"
            )
    unique = np.unique(full.ws.dates)
    cut = int(round(len(unique) * (1 - holdout)))
    holdout_start = pd.Timestamp(unique[cut])
    search_data = full.dataset.select(before=holdout_start)
    sample_start = str(pd.Timestamp(unique[0]).date())
    ref = dataclasses.replace(ref_cfg, sample_start=sample_start, exclude_groups=base.exclude_groups)
    try:
        prepared = prepare(ref, dataset=search_data)
    except InputError as exc:
        raise InputError(
            f"search: the days before the held-back block ({holdout_start.date()}) are too few for "
            f"the search's folds with window {window} ({exc}); use a smaller --holdout, fewer --folds "
            "or a shorter window in the space"
        ) from None
    fitted = Fitted(
        (),
        tuple(fold_baselines(prepared, fd) for fd in prepared.fold_data),
        tuple(prepared.seeds),
        "cpu",
        0.0,
        folds=tuple(f.number for f in prepared.folds),
    )
    idx = prepared.test_idx
    comp = np.zeros((len(idx), len(base.horizons)))
    described = {}
    for j, h in enumerate(base.horizons):
        chosen = choose_comparator(prepared, fitted, j)
        comp[:, j] = chosen.prediction(fitted.baseline_pred, prepared.test_fold)[:, j]
        described[str(h)] = chosen.describe()
    comparator_loss = day_series(_sample_loss(prepared, comp, idx), prepared.ws.dates[idx])
    return SearchContext(
        base,
        space,
        full.dataset,
        search_data,
        str(holdout_start.date()),
        sample_start,
        groups,
        pd.DatetimeIndex(comparator_loss.index),
        comparator_loss,
        described,
        len(unique) - cut,
    )


def trial_config(ctx: SearchContext, params: dict, **overrides) -> RunConfig:
    """The run configuration of a trial's ``params`` (``group:<name>``: ``in`` or ``out``; a trial that would
    leave no group keeps the first one it dropped; LightGBM's ``--lgbm-lags`` is capped at the trial's window; a
    transformer's hidden size is rounded down to a multiple of its heads; a TCN's levels are raised until its
    receptive field covers the trial's window)."""
    values = {k: v for k, v in params.items() if not k.startswith("group:")}
    searched_out = [k.split(":", 1)[1] for k, v in params.items() if k.startswith("group:") and v == "out"]
    out = set(ctx.base.exclude_groups or []) | set(searched_out)
    if searched_out and out >= set(ctx.groups):  # at least one group stays in: the first one the trial dropped
        out.discard(searched_out[0])
    window = values.get("window", ctx.base.window)
    heads = values.get("heads", ctx.base.heads)
    if values.get("model", ctx.base.model) == "transformer" and values.get("hidden", ctx.base.hidden) % heads:
        values["hidden"] = max(heads, values.get("hidden", ctx.base.hidden) // heads * heads)  # a multiple of the heads
    if values.get("model", ctx.base.model) == "tcn" and not ctx.base.partial_receptive_field:
        kernel = values.get("kernel_size", ctx.base.kernel_size)
        layers = values.get("layers", ctx.base.layers)
        if layers and tcn_receptive_field(layers, kernel) < window:  # a TCN trial sees its whole window
            values["layers"] = tcn_levels(window, kernel)
    cfg = dataclasses.replace(
        ctx.base, **values, exclude_groups=sorted(out) or None, lgbm_lags=min(ctx.base.lgbm_lags, window), **overrides
    )  # LightGBM's lags fit the window
    return cfg.validate()


def suggest(trial, ctx: SearchContext) -> dict:
    """Optuna's define-by-run suggestions: the family first, then only the settings it uses; the groups in or
    out (at least one stays in: :func:`trial_config` keeps the first group a trial that would leave none dropped)."""
    params: dict = {}
    model_knob = ctx.space["model"]
    model = trial.suggest_categorical("model", list(model_knob.choices)) if model_knob else ctx.base.model
    used = family_knobs(model)
    for knob in ctx.space.knobs:
        if knob.name in ("model", "groups") or knob.name not in used:
            continue
        if knob.choices is not None:
            params[knob.name] = trial.suggest_categorical(knob.name, list(knob.choices))
        elif knob.name in INT_KNOBS:
            params[knob.name] = trial.suggest_int(
                knob.name, int(knob.low), int(knob.high), step=int(knob.step or 1), log=knob.log
            )
        else:
            params[knob.name] = trial.suggest_float(knob.name, knob.low, knob.high, log=knob.log, step=knob.step)
    if model_knob:
        params["model"] = model
    if ctx.space["groups"] is not None:
        free = list(ctx.space["groups"].choices or ctx.groups)
        fixed_in = [g for g in ctx.groups if g not in free and g not in (ctx.base.exclude_groups or [])]
        states = {g: trial.suggest_categorical(f"group:{g}", ["in", "out"]) for g in free}
        if not fixed_in and all(v == "out" for v in states.values()):
            trial.set_user_attr("kept_group", free[0])  # trial_config keeps it in
        params.update({f"group:{g}": v for g, v in states.items()})
    return params


@dataclass(frozen=True)
class TrialScore:
    """A trial's result on the search days: ``edge`` (mean per-day edge over the comparator, higher is better),
    the per-day edges, the per-day long/flat strategy and buy-and-hold returns and the strategy's excess over
    random timing with its exposure (columns ``strategy``, ``buy_and_hold``, ``excess``; direction, return and
    close targets), and the
    naive HAR test of the edge (what the trial's p-value would be if it were the only configuration tried)."""

    edge: float
    day_edge: pd.Series
    strategy: pd.DataFrame | None
    p_value: float
    seconds: float


def score_trial(ctx: SearchContext, cfg: RunConfig, report=None, threads: int | None = None) -> TrialScore:
    """Train ``cfg`` fold by fold on the search period (``fit_unit`` per seed, the seeds' ensemble) and score
    it against the comparator; ``report(step, running_edge, running_excess_sharpe)`` after each fold may raise to
    prune (the Sharpe ratio is None without a strategy view)."""
    import time

    t0 = time.perf_counter()
    prepared = prepare(dataclasses.replace(cfg, sample_start=ctx.sample_start), dataset=ctx.search_data)
    edges, strategy = [], []
    for k, fd in enumerate(prepared.fold_data):
        units = [fit_unit(prepared, fd.fold.number, seed, threads=threads) for seed in prepared.seeds]
        pred = np.mean([u.test_pred for u in units], axis=0)
        idx = fd.fold.test
        dates = prepared.ws.dates[idx]
        day_loss = day_series(_sample_loss(prepared, pred, idx), dates)
        edges.append((ctx.comparator_loss.reindex(day_loss.index) - day_loss).dropna())
        if cfg.target in ("direction", "return", "close"):
            signal = pred[:, 0] > (0.5 if cfg.target == "direction" else 0.0)
            nxt = prepared.ws.extra["next_return"][idx]
            ok = np.isfinite(nxt)
            view = long_flat(dates[ok], prepared.ws.symbols[idx][ok], signal[ok], nxt[ok], cfg.cost_bps)
            daily = view["curves"].pct_change().fillna(view["curves"].iloc[0] - 1.0)  # strategy, buy-and-hold
            daily["excess"] = timing_excess(daily["strategy"], daily["buy_and_hold"], view["time_in_market"])
            strategy.append(daily)
        if report is not None:
            so_far = sharpe(pd.concat(strategy)["excess"].to_numpy()) if strategy else None
            report(k, float(pd.concat(edges).mean()), so_far)
    day_edge = pd.concat(edges)
    test = inference.mean_test(day_edge.to_numpy(), max(cfg.horizons))
    return TrialScore(
        float(day_edge.mean()),
        day_edge,
        pd.concat(strategy) if strategy else None,
        float(test.p_value),
        time.perf_counter() - t0,
    )


def sharpe(r: np.ndarray) -> float:
    """Per-day Sharpe ratio (0 without variance)."""
    sd = np.nanstd(r, ddof=1)
    return float(np.nanmean(r) / sd) if sd > 0 else 0.0


def _objective(ctx: SearchContext, threads: int | None):
    import optuna

    def objective(trial) -> float:
        params = suggest(trial, ctx)
        try:
            cfg = trial_config(ctx, params)
        except InputError as exc:  # a combination the schema refuses: recorded as failed, with the reason
            trial.set_user_attr("error", str(exc))
            raise

        def report(step: int, value: float, excess_sharpe: float | None) -> None:
            trial.report(value, step)
            if excess_sharpe is not None:  # a pruned trial was tried too: the DSR counts it with its Sharpe so far
                trial.set_user_attr("excess_sharpe", excess_sharpe)
            if trial.should_prune():
                trial.set_user_attr("pruned_after_fold", step + 1)
                raise optuna.TrialPruned()

        score = score_trial(ctx, cfg, report, threads)
        trial.set_user_attr("p_value", score.p_value)
        trial.set_user_attr("seconds", score.seconds)
        trial.set_user_attr("day_edge", [round(float(v), 7) for v in score.day_edge.reindex(ctx.days).to_numpy()])
        if score.strategy is not None:
            r = score.strategy.reindex(ctx.days)
            trial.set_user_attr("strategy", [round(float(v), 8) for v in r["strategy"].to_numpy()])
            trial.set_user_attr("sharpe", sharpe(r["strategy"].to_numpy()))
            trial.set_user_attr("excess", [round(float(v), 8) for v in r["excess"].to_numpy()])
            trial.set_user_attr("excess_sharpe", sharpe(r["excess"].to_numpy()))
            trial.set_user_attr("buy_and_hold_sharpe", sharpe(r["buy_and_hold"].to_numpy()))
        return score.edge

    return objective


def open_study(storage: str, ctx: SearchContext, seed: int = 0):
    """The search's Optuna study in ``storage``: created with this search's fingerprint, or reopened after
    checking that it holds trials of the same data, target, horizons, held-back days and space."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a failed trial is kept in the ledger with its reason
    with warnings.catch_warnings():  # multivariate TPE and its grouped form are Optuna's "experimental" options
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=8)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=PRUNE_STARTUP, n_warmup_steps=0)
    try:
        study = optuna.create_study(
            study_name=STUDY_NAME,
            storage=storage,
            direction="maximize",
            sampler=sampler,
            pruner=pruner,
            load_if_exists=True,
        )
    except Exception as exc:  # an unreachable or malformed RDB URL
        raise InputError(
            f"--storage {storage}: cannot open it ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from None
    mine = ctx.fingerprint()
    theirs = study.user_attrs.get("fingerprint")
    if theirs is None:
        if study.trials:
            raise InputError(
                f"--storage {storage}: it holds {len(study.trials)} trials without a featureproof "
                "fingerprint; use another --storage"
            )
        study.set_user_attr("fingerprint", mine)
        study.set_user_attr("days", [str(d.date()) for d in ctx.days])
    elif theirs != mine:
        diff = next(k for k in mine if mine[k] != theirs.get(k))
        raise InputError(
            f"--storage {storage}: it holds a search on other {'data' if diff == 'data' else diff} "
            f"({theirs.get(diff)} there, {mine[diff]} here); the study refuses to mix them: use a new "
            "--storage or --out"
        )
    return study


@dataclass(frozen=True)
class WorkerJob:
    """One worker's share of a search: ``n_trials`` trials on the study in ``storage``."""

    storage: str
    n_trials: int
    seed: int
    threads: int = 1
    timeout: float | None = None
    progress: bool = False  # Optuna's progress bar over the trials (one in-process worker on a terminal)
    tracker: Tracker | None = None  # MLflow: each finished trial is logged as a run nested under the search's

    def describe(self) -> str:
        return f"search worker ({self.n_trials} trials)"


def run_worker(ctx: SearchContext, job: WorkerJob) -> int:
    """Open the study and run ``job.n_trials`` trials (a failed trial is recorded and the worker goes on)."""
    import torch

    study = open_study(job.storage, ctx, seed=job.seed)
    torch.set_num_threads(max(1, job.threads))
    with warnings.catch_warnings():  # Optuna marks its progress bar "experimental"
        warnings.simplefilter("ignore")
        study.optimize(
            _objective(ctx, job.threads),
            n_trials=job.n_trials,
            timeout=job.timeout,
            catch=(Exception,),
            gc_after_trial=False,
            show_progress_bar=job.progress,
            callbacks=[_trial_logger(job.tracker)] if job.tracker else None,
        )
    return job.n_trials


def _trial_logger(tracker: Tracker):
    """An Optuna callback logging each finished trial to MLflow from the worker that ran it; a failure is left
    to the driver, which logs every trial missing at the end (the study in the storage is the record)."""

    def log_trial(study, trial) -> None:
        try:
            tracking.log_run_record(
                tracker,
                f"trial {trial.number}",
                "trial",
                *tracking.trial_record(trial, "worker"),
                seconds=trial.duration.total_seconds() if trial.duration else 0.0,
            )
        except Exception:
            pass

    return log_trial


def interrupted_to_failed(study) -> int:
    """Trials left RUNNING by a worker that was stopped: recorded as failed (never lost, never rerun)."""
    from optuna.trial import TrialState

    stale = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
    for t in stale:
        study._storage.set_trial_user_attr(t._trial_id, "error", "interrupted (the worker stopped)")
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
    return len(stale)


def shares(n: int, workers: int) -> list[int]:
    """``n`` trials over ``workers`` workers, as evenly as possible (no worker with none)."""
    workers = max(1, min(workers, n))
    return [n // workers + (1 if k < n % workers else 0) for k in range(workers)]


def trials_frame(study) -> pd.DataFrame:
    """Every trial (complete, pruned, failed): number, state, edge, naive p-value, Sharpe, seconds, parameters."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        row = {
            "trial": t.number,
            "state": t.state.name.lower(),
            "edge": t.value if t.value is not None else math.nan,
            "p_value_naive": t.user_attrs.get("p_value", math.nan),
            "sharpe": t.user_attrs.get("sharpe", math.nan),
            "seconds": t.user_attrs.get("seconds", math.nan),
            "pruned_after_fold": t.user_attrs.get("pruned_after_fold"),
            "error": t.user_attrs.get("error", ""),
        }
        row.update({k: v for k, v in t.params.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def run_trials(
    ctx: SearchContext,
    storage: str,
    trials: int,
    workers: int = 1,
    executor: str = "local",
    ray_address: str | None = None,
    timeout: float | None = None,
    log=say,
    tracker: Tracker | None = None,
):
    """Run the study in ``storage`` up to ``trials`` trials in all (the earlier ones counted; interrupted ones
    recorded as failed) with ``workers`` workers (local processes or Ray tasks) and return it, reloaded."""
    from pipeline.stages.executor import run_jobs

    study = open_study(storage, ctx, seed=ctx.base.seed)
    stale = interrupted_to_failed(study)
    done = len(study.trials)
    todo = max(0, trials - done)
    log(
        f"search: {done} trials in the storage ({stale} interrupted, recorded as failed), {todo} to run with "
        f"{workers} worker(s); held back from {ctx.holdout_start} ({ctx.n_holdout_days} days); scored on "
        f"{len(ctx.days)} search days against the comparator ({'; '.join(f'h={h}: {c}' for h, c in ctx.comparator.items())})"
    )
    if todo:
        pooled = workers > 1 or executor == "ray"
        bar = not pooled and ctx.base.progress and sys.stderr.isatty()
        jobs = [
            WorkerJob(storage, n, ctx.base.seed + 1000 * k + done, 1 if pooled else 0, timeout, bar, tracker)
            for k, n in enumerate(shares(todo, workers))
        ]
        run_jobs(run_worker, jobs, executor, workers, ray_address, shared=ctx)
    study = open_study(storage, ctx, seed=ctx.base.seed)
    if not any(t.state.name == "COMPLETE" for t in study.trials):
        errors = sorted({t.user_attrs.get("error", "") for t in study.trials} - {""})
        raise InputError(
            f"search: no trial completed ({len(study.trials)} tried; {errors[0] if errors else 'all pruned'})"
        )
    return study


JUDGEMENTS = "holdout_judgements"  # the study's record of every judgement of its held-back days


def previous_judgements(storage: str, ctx: SearchContext) -> list[dict]:
    """The judgements of the held-back days recorded in the study in ``storage`` (none for a new study)."""
    return list(open_study(storage, ctx).user_attrs.get(JUDGEMENTS, []))


def record_judgement(study, trial: int) -> list[dict]:
    """Record in the study, before its run starts, that trial ``trial`` is judged on the held-back days (a run
    killed midway has still looked at them); every judgement so far, this one last. The k-th one's run folder is
    ``run`` (k = 1) or ``run-k``."""
    from datetime import datetime, timezone

    judged = list(study.user_attrs.get(JUDGEMENTS, []))
    k = len(judged) + 1
    judged.append(
        {
            "trial": int(trial),
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "folder": "run" if k == 1 else f"run-{k}",
        }
    )
    study.set_user_attr(JUDGEMENTS, judged)
    return judged


def chosen_config(ctx: SearchContext, study, holdout_folds: int = 1, **overrides) -> RunConfig:
    """The best trial's configuration for the final run: every sample before the held-back days for training,
    the held-back days (``holdout_folds`` test folds) for the one judgement."""
    return trial_config(
        ctx, study.best_trial.params, test_start=ctx.holdout_start, folds=holdout_folds, sample_start=None, **overrides
    )


def holdout_scores(ctx: SearchContext, study, holdout_folds: int, log=say, folder: str | None = None) -> dict:
    """``--score-all-on-test``: every complete trial refit and scored on the held-back days (those days are no
    longer untouched), each against its own comparator as ``run`` chooses it (the ledger's differentials, averaged
    over the horizons like the search's objective) -> SPA and StepM: one family-wise answer with the same
    differentials the ledger counts. With ``folder`` (the search's), also every trial but the chosen one as ledger
    entries (``entries``; the chosen one is recorded by its final run)."""
    from pipeline.evaluation.selection import reality_check
    from pipeline.stages.evaluate import headline_differentials
    from pipeline.stages.fit import fit
    from pipeline.stages.ledger import make_entry

    best = study.best_trial
    complete = [best] + [t for t in study.trials if t.state.name == "COMPLETE" and t.number != best.number]
    diffs, entries = {}, []
    for t in complete:
        cfg = trial_config(
            ctx, t.params, test_start=ctx.holdout_start, folds=holdout_folds, sample_start=None, progress=False
        )
        prepared = prepare(cfg, dataset=ctx.dataset)
        fitted = fit(prepared, log=lambda *a, **k: None)
        per_h = headline_differentials(prepared, fitted)  # per horizon: comparator's loss - the trial's
        diffs[t.number] = pd.concat(per_h, axis=1).mean(axis=1)
        if folder is not None and t.number != best.number:
            entries += [
                make_entry(
                    "search trial",
                    folder,
                    f"trial {t.number}",
                    prepared.dataset,
                    cfg.target,
                    h,
                    choose_comparator(prepared, fitted, j).name,
                    d,
                )
                for j, (h, d) in enumerate(zip(cfg.horizons, per_h))
            ]
        log(f"search: trial {t.number} scored on the held-back days")
    frame = pd.DataFrame(diffs)
    ok = frame.notna().all(axis=1)
    D = frame[ok].to_numpy()
    rc = reality_check(np.zeros(len(D)), -D, h=max(ctx.base.horizons), seed=ctx.base.seed)
    return {
        "trials": list(frame.columns),
        "edge": [float(e) for e in D.mean(axis=0)],
        "spa_p": rc["spa_p"],
        "stepm_superior": [int(frame.columns[i]) for i in rc["stepm_superior"]],
        "block": rc["block"],
        "reps": rc["reps"],
        "n_days": int(ok.sum()),
        "entries": entries,
    }
