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
