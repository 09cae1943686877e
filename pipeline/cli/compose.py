"""The commands that make a report, as compositions of the stages (one stage module per step):

* ``run`` = prepare -> fit -> evaluate -> explain -> write the run folder;
* ``compare`` = prepare every set -> fit every set -> summarise (tests, Holm) -> write the comparison.
"""
from __future__ import annotations

from pathlib import Path

from pipeline.labels import symbols_text
from pipeline.progress import say


def run(cfg, ecfg, log=say) -> tuple[Path, dict]:
    """The main job as a composition of the stages: prepare -> fit -> evaluate -> explain -> write."""
    import time

    from pipeline.io import claim_dir
    from pipeline.models.trainer import resolve_device
    from pipeline.progress import stage
    from pipeline.reporting.index import update_index
    from pipeline.reporting.run_folder import default_run_dir, write_run
    from pipeline.stages.evaluate import evaluate
    from pipeline.stages.explain import explain
    from pipeline.stages.fit import fit
    from pipeline.stages.prepare import prepare

    t0 = time.perf_counter()
    if cfg.out:
        claim_dir(cfg.out, cfg.overwrite)
    prepared = prepare(cfg)
    log(f"{symbols_text(prepared.dataset.prices)}: {prepared.ws.n} windows of {cfg.window} days x "
        f"{len(prepared.ws.columns)} features; target {cfg.target} h={','.join(map(str, cfg.horizons))}; "
        f"device {resolve_device(cfg.device)}")
    fitted = fit(prepared, log)
    evaluation = evaluate(prepared, fitted)
    stage(cfg.progress, f"evaluation (metrics, intervals, tests) in {evaluation.seconds:.1f} s")
    explanation = None
    if ecfg.ablation != "none" or ecfg.explain:
        explanation = explain(prepared, fitted, evaluation, ecfg, log)
    out_dir = Path(cfg.out) if cfg.out else default_run_dir(cfg, list(prepared.dataset.prices))
    t1 = time.perf_counter()
    summary = write_run(prepared, fitted, evaluation, explanation, out_dir, wall_seconds=t1 - t0)
    stage(cfg.progress, f"reports written in {time.perf_counter() - t1:.1f} s")
    update_index(out_dir.parent)
    summary["wall_seconds"] = time.perf_counter() - t0
    return out_dir, summary


def run_compare(base, sets: list[str], executor: str = "local", n_jobs: int = 1, ray_address: str | None = None,
                out: str | None = None, log=say, gpus_per_job: float = 0.0,
                models: list[str] | None = None) -> tuple[Path, dict]:
    """``compare`` as a composition: claim the folder, compare the cells (feature sets x models: prepare, fit,
    summarise), write."""
    from pipeline.io import claim_dir, fresh_dir
    from pipeline.reporting.compare_page import write_compare
    from pipeline.stages.compare import compare_sets

    if out:
        claim_dir(out, base.overwrite)
    summary = compare_sets(base, sets, executor, n_jobs, ray_address, log, gpus_per_job, models)
    out_dir = Path(out) if out else fresh_dir(Path("reports"), f"compare-{'+'.join(summary['symbols'])[:40]}-{base.target}")
    write_compare(out_dir, summary, overwrite=base.overwrite)
    return out_dir, summary


def run_search(cfg, ecfg, space, trials: int, holdout: float = 0.2, holdout_folds: int = 1, timeout: float | None = None,
               storage: str | None = None, resume: bool = False, workers: int = 1, executor: str = "local",
               ray_address: str | None = None, score_all: bool = False, out: str | None = None,
               log=say) -> tuple[Path, dict]:
    """``search`` as a composition: the context (data once, held-back days, the search days' comparator) ->
    the workers' trials in one Optuna storage -> the chosen configuration refit and judged once on the held-back
    days by ``run`` (report, tests, explain stage) -> optionally every complete trial scored on the held-back
    days for SPA/StepM -> the search report."""
    import shutil
    import time

    from pipeline.errors import InputError
    from pipeline.io import claim_dir, fresh_dir, write_manifest
    from pipeline.reporting.index import update_index
    from pipeline.reporting.search_page import write_search
    from pipeline.stages.executor import run_jobs
    from pipeline.stages.search import (WorkerJob, interrupted_to_failed, make_context, open_study, run_worker, shares,
                                        trial_config)

    t0 = time.perf_counter()
    if resume and not (out or storage):
        raise InputError("--resume needs the earlier search's --out folder (or its --storage)")
    out_dir = Path(out) if out else fresh_dir(Path("reports"), f"search-{cfg.target}")
    if resume:
        if storage is None and not (out_dir / "search.db").is_file():
            raise InputError(f"--resume: {out_dir} holds no search.db; give the earlier search's --out (or --storage)")
    else:
        claim_dir(out_dir, cfg.overwrite)
        if out_dir.exists() and any(out_dir.iterdir()):
            shutil.rmtree(out_dir)  # an earlier featureproof folder, replaced on --overwrite (claim_dir checked)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_manifest(out_dir, "search")
    storage = storage or f"sqlite:///{(out_dir / 'search.db').resolve()}"
    ctx = make_context(cfg, space, holdout)
    study = open_study(storage, ctx, seed=cfg.seed)
    stale = interrupted_to_failed(study)
    done = len(study.trials)
    todo = max(0, trials - done)
    log(f"search: {done} trials in the storage ({stale} interrupted, recorded as failed), {todo} to run with "
        f"{workers} worker(s); held back from {ctx.holdout_start} ({ctx.n_holdout_days} days); scored on "
        f"{len(ctx.days)} search days against the comparator ({'; '.join(f'h={h}: {c}' for h, c in ctx.comparator.items())})")
    if todo:
        pooled = workers > 1 or executor == "ray"
        jobs = [WorkerJob(storage, n, cfg.seed + 1000 * k + done, 1 if pooled else 0, timeout)
                for k, n in enumerate(shares(todo, workers))]
        run_jobs(run_worker, jobs, executor, workers, ray_address, shared=ctx)
    study = open_study(storage, ctx, seed=cfg.seed)
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    if not complete:
        errors = sorted({t.user_attrs.get("error", "") for t in study.trials} - {""})
        raise InputError(f"search: no trial completed ({len(study.trials)} tried; {errors[0] if errors else 'all pruned'})")
    best = study.best_trial
    final_cfg = trial_config(ctx, best.params, test_start=ctx.holdout_start, folds=holdout_folds, out=str(out_dir / "run"),
                             overwrite=True, sample_start=None)
    log(f"search: trial {best.number} chosen (edge {100 * best.value:+.2f} on the search days); refit and judged once "
        "on the held-back days")
    run_dir, metrics = run(final_cfg, ecfg, log)
    all_on_test = holdout_scores(ctx, study, holdout_folds, log) if score_all else None
    summary = write_search(out_dir, ctx, study, best, final_cfg, metrics, all_on_test, storage,
                           wall_seconds=time.perf_counter() - t0)
    write_manifest(out_dir, "search")
    update_index(out_dir.parent)
    return out_dir, summary


def holdout_scores(ctx, study, holdout_folds: int, log=say) -> dict:
    """``--score-all-on-test``: every complete trial refit and scored on the held-back days (those days are no
    longer untouched); per-day losses against the comparator of the chosen run -> SPA and StepM."""
    import numpy as np
    import pandas as pd

    from pipeline.evaluation.selection import reality_check
    from pipeline.stages.evaluate import choose_comparator
    from pipeline.stages.fit import fit
    from pipeline.stages.prepare import prepare
    from pipeline.stages.search import _sample_loss, day_series, trial_config

    best = study.best_trial  # first: the benchmark of SPA/StepM is the chosen configuration's comparator
    complete = [best] + [t for t in study.trials if t.state.name == "COMPLETE" and t.number != best.number]
    losses, comparator = {}, None
    for t in complete:
        cfg = trial_config(ctx, t.params, test_start=ctx.holdout_start, folds=holdout_folds, sample_start=None,
                           progress=False)
        prepared = prepare(cfg, dataset=ctx.dataset)
        fitted = fit(prepared, log=lambda *a, **k: None)
        idx = prepared.test_idx
        dates = prepared.ws.dates[idx]
        losses[t.number] = day_series(_sample_loss(prepared, fitted.ensemble_pred, idx), dates)
        if comparator is None:
            comp = np.column_stack([choose_comparator(prepared, fitted, j).prediction(fitted.baseline_pred, prepared.test_fold)[:, j]
                                    for j in range(len(cfg.horizons))])
            comparator = day_series(_sample_loss(prepared, comp, idx), dates)
        log(f"search: trial {t.number} scored on the held-back days")
    frame = pd.DataFrame(losses).reindex(comparator.index)
    ok = frame.notna().all(axis=1)
    rc = reality_check(comparator[ok].to_numpy(), frame[ok].to_numpy(), h=max(ctx.base.horizons), seed=ctx.base.seed)
    edges = (comparator[ok].to_numpy()[:, None] - frame[ok].to_numpy()).mean(axis=0)
    return {"trials": list(frame.columns), "edge": [float(e) for e in edges], "spa_p": rc["spa_p"],
            "stepm_superior": [int(frame.columns[i]) for i in rc["stepm_superior"]], "block": rc["block"],
            "reps": rc["reps"], "n_days": int(ok.sum())}
