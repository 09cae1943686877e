"""``python -m pipeline explain RUN_DIR``: rebuild a finished run's data from its ``config.json``, check
that the data did not change (hash), load ``model.pt`` (the last fold's first-seed model), and run the
explain stage on that fold.

The run folder keeps only that model, so a rerun sees one fold and one seed: fewer test days, no spread
over folds. It never replaces the run's own importance (every fold and seed): where the run has one, the
rerun writes ``importance_lastfold.*`` beside it; where it has none (``--no-explain``), it writes
``importance.*``, labelled as last-fold only. Either way the folder changes atomically."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipeline.config.schema import RunConfig
from pipeline.errors import InputError
from pipeline.stages.prepare import fold_data, prepare
from pipeline.stages.explain import ExplainConfig, run_explain, write_importance
from pipeline.stages.explain_summary import conclusions, findings
from pipeline.io import read_manifest, update_dir
from pipeline.models.lstm import LSTMModel, ModelConfig
from pipeline.reporting.run_folder import load_checkpoint


def explain_run_dir(run_dir: str | Path, ecfg: ExplainConfig, progress: bool = True) -> tuple[Path, list[str]]:
    """Re-explain ``run_dir``; returns the page written and the summary lines (as ``run`` prints them)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: no such run folder")
    if read_manifest(run_dir) is None:
        raise InputError(f"{run_dir}: not a featureproof run folder (no featureproof.json); explain only changes folders "
                         "featureproof wrote: rerun 'python -m pipeline run'")
    for name in ("config.json", "model.pt", "index.html"):
        if not (run_dir / name).exists():
            raise InputError(f"{run_dir}: no {name}; is this a folder written by 'python -m pipeline run'?")
    try:
        saved = json.loads((run_dir / "config.json").read_text())
        ck = load_checkpoint(run_dir / "model.pt")
    except Exception as exc:
        raise InputError(f"{run_dir}: cannot read the run's config.json or model.pt ({type(exc).__name__}: {exc})") from None
    cfg = RunConfig.from_dict(saved["config"])
    cfg.progress = progress
    cfg.seeds, cfg.seed = 1, int(ck["seed"])
    exp = prepare(cfg.validate())
    if exp.dataset.fingerprint() != saved.get("data_hash"):
        raise InputError(f"{run_dir}: the input data changed since this run (hash differs); rerun 'python -m pipeline run'")
    if list(exp.ws.columns) != list(ck["columns"]):
        raise InputError(f"{run_dir}: the feature columns differ from the saved model's; rerun 'python -m pipeline run'")
    fold = next(f for f in exp.folds if f.number == ck["fold"])
    exp.folds = [fold]
    fd = fold_data(exp, fold)
    exp.fold_data = [fd]
    model = LSTMModel(ModelConfig(**ck["model_config"]))
    model.load_state_dict(ck["state_dict"])
    exp.models = {(fold.number, cfg.seed): model}
    if not ecfg.lgbm_lags:
        ecfg.lgbm_lags = cfg.lgbm_lags
    try:
        saved_metrics = json.loads((run_dir / "metrics.json").read_text())
        skill = {int(e["horizon"]): bool(e.get("skill", False)) for e in saved_metrics.get("horizon_results", [])}
    except (OSError, ValueError, KeyError):
        skill = {}
    res = run_explain(exp, ecfg, skill=skill)
    richer = (run_dir / "importance.csv").exists()
    stem = "importance_lastfold" if richer else "importance"
    d = exp.ws.dates[fold.test]
    note = (f"Recomputed by 'explain RUN_DIR' from the saved model: fold {fold.number} only "
            f"({np.datetime_as_string(d.min(), unit='D')} .. {np.datetime_as_string(d.max(), unit='D')}, {len(fold.test)} "
            f"test windows), seed {cfg.seed}; intervals are over these test days only."
            + (" The run's own importance over every fold and seed is in importance.html." if richer else ""))
    link = f' · <a href="{stem}.html">feature importance report{" (last fold, rerun)" if richer else ""}</a>'
    with update_dir(run_dir) as tmp:  # the folder changes all at once, or not at all
        write_importance(exp, res, tmp, stem=stem, note=note)
        html = (tmp / "index.html").read_text()
        if link not in html:
            (tmp / "index.html").write_text(html.replace("<!--importance-link-->", "<!--importance-link-->" + link, 1))
    return run_dir / f"{stem}.html", findings(exp, res) + conclusions(exp, res)["lags"]
