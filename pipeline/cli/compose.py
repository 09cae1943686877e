"""The commands that make a report, as compositions of the stages (one stage module per step):

* ``run`` = prepare -> fit -> evaluate -> explain -> the ledger's count -> write the run folder -> MLflow;
* ``compare`` = prepare every set -> fit every set -> summarise (tests, Holm) -> the ledger -> write the
  comparison -> MLflow (a parent run, one nested run per cell);
* ``search`` = the context -> the workers' trials (each logged to MLflow by its worker) -> with
  ``--score-all-on-test`` every trial on the held-back days, into the ledger -> the final ``run`` -> the
  search page -> MLflow;
* ``reproduce`` = check the data against a run's fingerprint -> ``run`` again -> the differences.

MLflow (``--track``) is opened before any work and logged to after the report is published.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pipeline.labels import symbols_text
from pipeline.progress import say


def reports_root(out: str | None) -> Path:
    """The reports folder a command's output goes into: ``--out``'s parent, else ``reports``."""
    return Path(out).parent if out else Path("reports")


def open_tracker(cfg, root: Path):
    """The MLflow store of ``--track`` (created by the driver before any work or worker), or None."""
    if not cfg.track:
        return None
    from pipeline.tracking import open_store

    return open_store(cfg.track, root, cfg.experiment)


def _tracking_failed(log, exc: Exception, where: Path) -> None:
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    log(f"warning: MLflow logging failed ({type(exc).__name__}: {first}); {where} is written and complete")


def run(
    cfg, ecfg, log=say, dataset=None, ledger_root: Path | None = None, tracker=None, reproduces: Path | None = None
) -> tuple[Path, dict]:
    """The main job as a composition of the stages: prepare -> fit -> evaluate -> explain -> the ledger's
    count -> write -> MLflow (``dataset``: data already loaded and checked, e.g. by ``reproduce``;
    ``ledger_root``: the reports folder whose ledger counts this run, default the run folder's parent;
    ``tracker``: where to log instead of ``cfg.track``'s store, e.g. nested under a search; ``reproduces``: the
    run folder this run repeats, whose entries its ledger answer leaves out and to which it adds none: the
    same configuration is not a new one)."""
    import time

    from pipeline.io import claim_dir
    from pipeline.models.trainer import resolve_device
    from pipeline.progress import stage
    from pipeline.stages import ledger
    from pipeline.reporting.index import update_index
    from pipeline.reporting.run_folder import default_run_dir, write_run
    from pipeline.stages.evaluate import evaluate
    from pipeline.stages.explain import explain
    from pipeline.stages.fit import fit
    from pipeline.stages.prepare import prepare

    t0 = time.perf_counter()
    if cfg.out:
        claim_dir(cfg.out, cfg.overwrite)
    tracker = tracker or open_tracker(cfg, Path(ledger_root) if ledger_root else reports_root(cfg.out))
    prepared = prepare(cfg, dataset=dataset)
    log(
        f"{symbols_text(prepared.dataset.prices)}: {prepared.ws.n} windows of {cfg.window} days x "
        f"{len(prepared.ws.columns)} features; target {cfg.target} h={','.join(map(str, cfg.horizons))}; "
        f"device {resolve_device(cfg.device)}"
    )
    fitted = fit(prepared, log)
    evaluation = evaluate(prepared, fitted)
    stage(cfg.progress, f"evaluation (metrics, intervals, tests) in {evaluation.seconds:.1f} s")
    out_dir = Path(cfg.out) if cfg.out else default_run_dir(cfg, list(prepared.dataset.prices))
    book = Path(ledger_root or out_dir.parent) / ledger.LEDGER
    entries = ledger.run_entries(out_dir, prepared, fitted, evaluation)
    # the ledger's answer (with tracking, the experiment's entries from other folders and machines count too) gates
    # the skill flag before the explain stage reads it
    answers = ledger.judge(
        book,
        entries,
        cfg.fresh_ledger,
        tracker,
        same_as=str(Path(reproduces).resolve()) if reproduces is not None else None,
    )
    evaluation = ledger.gate(evaluation, answers)
    explanation = None
    if ecfg.ablation != "none" or ecfg.explain:
        explanation = explain(prepared, fitted, evaluation, ecfg, log)
    t1 = time.perf_counter()
    token = ledger.record_pending(book, entries) if reproduces is None else None  # pending until published
    summary = write_run(
        prepared,
        fitted,
        evaluation,
        explanation,
        out_dir,
        wall_seconds=t1 - t0,
        explain_config=dataclasses.asdict(ecfg),
        ledger=answers,
        publication=token,
    )
    if token:
        ledger.mark_done(book, token)
    stage(cfg.progress, f"reports written in {time.perf_counter() - t1:.1f} s")
    update_index(out_dir.parent)
    summary["wall_seconds"] = time.perf_counter() - t0
    if tracker is not None:
        summary["tracking"] = track_run(
            tracker,
            out_dir,
            summary,
            cfg,
            ecfg,
            prepared.dataset,
            [ledger.entry_record(e, token) for e in entries] if token else None,
            log,
        )
    return out_dir, summary


def track_run(
    tracker, out_dir: Path, summary: dict, cfg, ecfg, dataset, ledger_entries: list[dict] | None = None, log=say
) -> dict | None:
    """Log a published run folder and its ledger entries to MLflow (a failure is a warning: the report is
    complete)."""
    from pipeline import tracking

    try:
        params, metrics, tags = tracking.run_record(
            summary,
            cfg.to_dict(),
            dataclasses.asdict(ecfg),
            {"data": dataset.fingerprint(), "prices": dataset.price_fingerprint()},
        )
        tags["featureproof.report"] = str(out_dir.resolve())
        name = "chosen configuration, held-back days" if tracker.parent_run_id else out_dir.name  # a search's final run
        run_id = tracking.log_run_record(
            tracker,
            name,
            "run",
            params,
            metrics,
            tags,
            artifacts=out_dir,
            ledger=ledger_entries,
            seconds=summary.get("wall_seconds", 0.0),
        )
    except Exception as exc:
        _tracking_failed(log, exc, out_dir)
        return None
    return tracker.where(run_id)


def run_compare(
    base,
    sets: list[str],
    executor: str = "local",
    n_jobs: int = 1,
    ray_address: str | None = None,
    out: str | None = None,
    log=say,
    gpus_per_job: float = 0.0,
    models: list[str] | None = None,
) -> tuple[Path, dict]:
    """``compare`` as a composition: claim the folder, compare the cells (feature sets x models: prepare, fit,
    summarise), write."""
    from pipeline.io import claim_dir, fresh_dir
    from pipeline.stages import ledger
    from pipeline.reporting.compare_page import write_compare
    from pipeline.stages.compare import compare_sets

    if out:
        claim_dir(out, base.overwrite)
    tracker = open_tracker(base, reports_root(out))
    summary = compare_sets(base, sets, executor, n_jobs, ray_address, log, gpus_per_job, models)
    out_dir = (
        Path(out) if out else fresh_dir(Path("reports"), f"compare-{'+'.join(summary['symbols'])[:40]}-{base.target}")
    )
    # the ledger: every cell is a configuration judged on these test days (counted with the folder's earlier ones)
    book = out_dir.parent / ledger.LEDGER
    folder = str(out_dir.resolve())
    cells = {
        h: [
            ledger.make_entry(
                "compare", folder, name, summary["dataset"], base.target, h, summary["comparators"][str(h)], diffs[j]
            )
            for name, diffs in summary["differentials"].items()
        ]
        for j, h in enumerate(base.horizons)
    }
    summary["ledger"] = ledger.judge_together(book, list(cells.values()), base.fresh_ledger, tracker)
    token = ledger.new_token()
    ledger.record(book, [e for c in cells.values() for e in c], token)
    write_compare(out_dir, summary, overwrite=base.overwrite, publication=token)
    ledger.mark_done(book, token)
    if tracker is not None:
        summary["tracking"] = track_compare(
            tracker, out_dir, summary, [ledger.entry_record(e, token) for c in cells.values() for e in c], log
        )
    return out_dir, summary


def track_compare(
    tracker, out_dir: Path, summary: dict, ledger_entries: list[dict] | None = None, log=say
) -> dict | None:
    """Log a published comparison to MLflow: a parent run and one nested run per cell."""
    from pipeline import tracking

    try:
        (params, metrics, tags), cells = tracking.compare_records(summary)
        parent = tracking.start_run(
            tracker,
            out_dir.name,
            "compare",
            params,
            {**tags, "featureproof.report": str(out_dir.resolve())},
            seconds_ago=summary.get("wall_seconds", 0.0),
        )
        for name, (p, m, t) in cells.items():
            tracking.log_run_record(
                tracker.under(parent),
                name,
                "compare cell",
                p,
                m,
                t,
                seconds=(summary.get("cell_seconds") or {}).get(name, 0.0),
            )
        if ledger_entries:
            tracking.log_ledger(tracker, parent, ledger_entries)
        tracking.finish_run(tracker, parent, metrics, artifacts=out_dir)
    except Exception as exc:
        _tracking_failed(log, exc, out_dir)
        return None
    return tracker.where(parent)


def run_search(
    cfg,
    ecfg,
    space,
    trials: int,
    holdout: float = 0.2,
    holdout_folds: int = 1,
    timeout: float | None = None,
    storage: str | None = None,
    resume: bool = False,
    workers: int = 1,
    executor: str = "local",
    ray_address: str | None = None,
    score_all: bool = False,
    out: str | None = None,
    rejudge: bool = False,
    log=say,
) -> tuple[Path, dict]:
    """``search`` as a composition: the context (data once, held-back days, the search days' comparator) ->
    the workers' trials in one Optuna storage -> the chosen configuration refit and judged once on the held-back
    days by ``run`` (report, tests, explain stage) -> optionally every complete trial scored on the held-back
    days for SPA/StepM -> the search report.

    Every judgement of the held-back days is recorded in the study (``holdout_judgements``) before its run starts.
    A resumed search whose held-back days were judged already is refused unless ``rejudge``: judging them again
    after more trials is another try at the same days. With ``rejudge`` the k-th judgement's run goes to
    ``OUT/run-k`` (the earlier ones stay, so the ledger counts every judgement) and the page leads with it."""
    import shutil
    import time

    from pipeline.errors import InputError
    from pipeline.io import claim_dir, fresh_dir, write_manifest
    from pipeline.reporting.index import update_index
    from pipeline.reporting.search_page import write_search
    from pipeline.stages import ledger
    from pipeline.stages.search import (
        chosen_config,
        holdout_scores,
        make_context,
        previous_judgements,
        record_judgement,
        run_trials,
    )

    t0 = time.perf_counter()
    if resume and not (out or storage):
        raise InputError("--resume needs the earlier search's --out folder (or its --storage)")
    out_dir = Path(out) if out else fresh_dir(Path("reports"), f"search-{cfg.target}")
    tracker = open_tracker(cfg, out_dir.parent)
    if resume:
        if storage is None and not (out_dir / "search.db").is_file():
            raise InputError(f"--resume: {out_dir} holds no search.db; give the earlier search's --out (or --storage)")
    else:
        if (out_dir / "search.db").is_file() and not cfg.overwrite:
            raise InputError(
                f"--out {out_dir}: holds an earlier search (search.db); pass --resume to continue it, "
                "--overwrite to replace a finished one, or choose another folder"
            )
        claim_dir(out_dir, cfg.overwrite)
        if out_dir.exists() and any(out_dir.iterdir()):
            shutil.rmtree(out_dir)  # an earlier featureproof folder, replaced on --overwrite (claim_dir checked)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_manifest(out_dir, "search")
    storage = storage or f"sqlite:///{(out_dir / 'search.db').resolve()}"
    ctx = make_context(cfg, space, holdout)
    judged = previous_judgements(storage, ctx) if resume else []
    if judged and not rejudge:
        last = judged[-1]
        raise InputError(
            f"--resume: the held-back days of {out_dir} were judged already ({len(judged)} time"
            f"{'s' if len(judged) > 1 else ''}; last: trial {last['trial']} on {last['at'][:16]}); judging "
            "them again after more trials is another try at the same days: pass --rejudge to do it anyway "
            "(the page then says how many times, and the ledger counts every judgement)"
        )
    parent = None
    if tracker is not None:
        from pipeline import tracking

        settings = {
            "trials": trials,
            "holdout": holdout,
            "holdout_folds": holdout_folds,
            "workers": workers,
            "executor": executor,
            "score_all_on_test": score_all,
            "resume": resume,
            "space": ctx.space.to_dict(),
        }
        parent = tracking.start_run(
            tracker,
            out_dir.name,
            "search",
            {**tracking.config_params(cfg.to_dict()), **{f"search.{k}": v for k, v in settings.items()}},
            {"featureproof.report": str(out_dir.resolve()), "featureproof.target": cfg.target},
        )
    nested = tracker.under(parent) if parent else None
    try:
        study = run_trials(ctx, storage, trials, workers, executor, ray_address, timeout, log, tracker=nested)
        if nested is not None:
            track_missing_trials(nested, study, log)
        best = study.best_trial
        judged = record_judgement(study, best.number)
        run_name = "run" if len(judged) == 1 else f"run-{len(judged)}"
        final_cfg = chosen_config(ctx, study, holdout_folds, out=str(out_dir / run_name), overwrite=True)
        token = None
        if (
            score_all
        ):  # every other trial judged on the held-back days too: the ledger counts them (before the final run)
            all_on_test = holdout_scores(ctx, study, holdout_folds, log, folder=str(out_dir.resolve()))
            trial_entries = all_on_test.pop("entries")
            if trial_entries:  # judged on those days now, whatever happens to the search: done at once
                token = ledger.new_token()
                ledger.record(out_dir.parent / ledger.LEDGER, trial_entries, token, state="done")
                if parent is not None:  # and every folder sharing the tracking server counts them too
                    tracking.log_ledger(tracker, parent, [ledger.entry_record(e, token) for e in trial_entries])
        else:
            all_on_test = None
        log(
            f"search: trial {best.number} chosen (edge {best.value:+.4f} on the search days); refit and judged once "
            "on the held-back days"
        )
        run_dir, metrics = run(final_cfg, ecfg, log, ledger_root=out_dir.parent, tracker=nested)
        summary = write_search(
            out_dir,
            ctx,
            study,
            best,
            final_cfg,
            metrics,
            all_on_test,
            storage,
            wall_seconds=time.perf_counter() - t0,
            judgements=judged,
            run_name=run_name,
        )
        write_manifest(out_dir, "search")
        update_index(out_dir.parent)
    except BaseException as exc:
        if parent is not None:
            try:
                tracking.finish_run(
                    tracker, parent, status="KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
                )
            except Exception:
                pass  # the store may be what failed; the error that stopped the search is the one to show
        raise
    if parent is not None:
        try:
            m, t = tracking.search_record(summary)
            tracking.finish_run(
                tracker, parent, m, t, artifacts=out_dir, exclude=("search.db", *(j["folder"] for j in judged))
            )
            summary["tracking"] = tracker.where(parent)
        except Exception as exc:
            _tracking_failed(log, exc, out_dir)
    return out_dir, summary


def track_missing_trials(tracker, study, log=say) -> int:
    """Log from the driver every trial of ``study`` its worker did not log (a worker that died, a store that was
    busy, the trials of an earlier search resumed here): afterwards every trial is in MLflow once."""
    from pipeline import tracking

    try:
        logged = tracking.child_tags(tracker, "trial")
        missing = [t for t in study.get_trials(deepcopy=False) if str(t.number) not in logged]
        for t in missing:
            tracking.log_run_record(
                tracker,
                f"trial {t.number}",
                "trial",
                *tracking.trial_record(t, "driver"),
                seconds=t.duration.total_seconds() if t.duration else 0.0,
            )
    except Exception as exc:
        _tracking_failed(log, exc, Path("the search storage"))
        return 0
    return len(missing)


def reproduce(
    run_dir: str | Path, out: str | None = None, log=say, progress: bool | None = None
) -> tuple[Path, list[dict], dict]:
    """Re-run a finished run from its ``config.json`` after checking that the data are the same (the data
    fingerprint; on a difference, the first symbol and date that differ): a new run folder beside the old one,
    and per horizon and metric the old value, the new one and their difference. ``progress``: show or hide the
    progress bars (``None``: as the run did); it changes no number."""
    import json

    from pipeline.config.schema import ExplainConfig, RunConfig
    from pipeline.data.dataset import build_dataset, first_difference
    from pipeline.errors import InputError
    from pipeline.io import fresh_dir, read_manifest

    import pandas as pd

    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    if manifest is None or manifest.get("kind") != "run" or not (run_dir / "config.json").is_file():
        raise InputError(f"{run_dir}: not a featureproof run folder (no config.json with a run manifest)")
    saved = json.loads((run_dir / "config.json").read_text())
    cfg = RunConfig.from_dict({**saved["config"], "out": None, "overwrite": False}).validate()
    ecfg = ExplainConfig(**(saved.get("explain_config") or {})).validate()
    dataset = build_dataset(
        cfg.source, cfg.data, cfg.symbols, cfg.features, cfg.macro, cfg.start, cfg.end, cfg.cache_dir, cfg.offline
    )
    if dataset.fingerprint() != saved["data_hash"]:
        where = None
        if (run_dir / "data_signature.parquet").is_file():
            where = first_difference(pd.read_parquet(run_dir / "data_signature.parquet"), dataset.signature())
        raise InputError(
            f"{run_dir}: the data differ from the run's (fingerprint {dataset.fingerprint()} now, "
            f"{saved['data_hash']} then; {where or 'the prices match: the features differ (feature code or macro series)'}); "
            "reproduce needs the same data"
        )
    out_dir = Path(out) if out else fresh_dir(run_dir.parent, f"{run_dir.name}-reproduced", stamp=False)
    shown = {} if progress is None else {"progress": bool(progress)}
    cfg = RunConfig.from_dict({**cfg.to_dict(), "out": str(out_dir), **shown}).validate()
    _, metrics = run(cfg, ecfg, log, dataset=dataset, reproduces=run_dir)
    old = json.loads((run_dir / "metrics.json").read_text())
    diffs = []
    for a, b in zip(old["horizon_results"], metrics["horizon_results"]):
        for name, value in a["model"].items():
            new = b["model"].get(name)
            if isinstance(value, (int, float)) and isinstance(new, (int, float)):
                diffs.append(
                    {"horizon": a["horizon"], "metric": name, "then": value, "now": new, "difference": new - value}
                )
        diffs.append(
            {
                "horizon": a["horizon"],
                "metric": "edge over the comparator",
                "then": a["edge"]["mean"],
                "now": b["edge"]["mean"],
                "difference": b["edge"]["mean"] - a["edge"]["mean"],
            }
        )
    return out_dir, diffs, metrics


def run_power(
    cfg, ecfg, effects: list[float], lag: int, runs: int, out: str | None = None, log=say
) -> tuple[Path, "object"]:
    """``power`` as a composition: check the setting -> load the user's data once -> the real stages ``runs``
    times per effect with a fresh planted column (effect 0 added: the size on these data) through the
    executor -> ``power.html`` and ``power.json``. Returns the folder and the :class:`PowerResult`."""
    from tqdm.auto import tqdm

    from pipeline.data.dataset import load_inputs
    from pipeline.io import claim_dir, fresh_dir
    from pipeline.reporting.power_page import write_power
    from pipeline.stages.power import PowerSetting, power, with_extra

    setting = PowerSetting(tuple(effects), lag, runs, cfg.seed).check(cfg)
    cfg = dataclasses.replace(cfg, features=with_extra(cfg.features)).validate()  # the planted column is an extra one
    if out:
        claim_dir(out, cfg.overwrite)
    prices, macro = load_inputs(
        cfg.source, cfg.data, cfg.symbols, cfg.features, cfg.macro, cfg.start, cfg.end, cfg.cache_dir, cfg.offline
    )
    n = len(setting.effects) * runs
    log(
        f"{symbols_text(prices)}: {n} runs ({runs} per effect {', '.join(f'{e:g}' for e in setting.effects)}; "
        f"planted lag {lag}); target {cfg.target} h={','.join(map(str, cfg.horizons))}, {cfg.model}, window {cfg.window}"
    )
    bar = tqdm(total=n, desc="power", unit="run", disable=None if cfg.progress else True)
    try:
        res = power(cfg, ecfg, setting, prices, macro, progress=lambda: bar.update(1))
    finally:
        bar.close()
    out_dir = Path(out) if out else fresh_dir(Path("reports"), f"power-{cfg.target}")
    context = {
        "data": f"{cfg.data or 'embedded sample'} ({symbols_text(prices)})",
        "target": cfg.target,
        "model": cfg.model,
        "window": cfg.window,
        "features": cfg.features,
        "config": cfg.to_dict(),
        "explain_config": dataclasses.asdict(ecfg),
    }
    write_power(out_dir, res, context, overwrite=cfg.overwrite)
    return out_dir, res
