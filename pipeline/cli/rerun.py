"""``python -m pipeline explain RUN_DIR``: rebuild a finished run's data from its ``config.json``, check
that the data did not change (hash), load ``model.pt`` (the last fold's first-seed model), and run the
explain stage on that fold.

The run folder keeps only that model, so a rerun sees one fold and one seed: fewer test days, no spread
over folds. It never replaces the run's own importance (every fold and seed): where the run has one, the
rerun writes ``importance_lastfold.*`` beside it; where it has none (``--no-explain``), it writes
``importance.*``, labelled as last-fold only. Either way the folder changes atomically."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from pipeline.config.schema import RunConfig
from pipeline.errors import InputError
from pipeline.io import read_manifest, update_dir
from pipeline.models.families import build
from pipeline.models.lstm import ModelConfig
from pipeline.models.trainer import TrainResult, predict, resolve_device
from pipeline.reporting.run_folder import load_checkpoint, write_importance
from pipeline.config.schema import ExplainConfig
from pipeline.stages.explain import explain
from pipeline.stages.prepare import prepare
from pipeline.stages.results import Fitted, Unit


def explain_run_dir(run_dir: str | Path, ecfg: ExplainConfig, progress: bool = True) -> tuple[Path, list[str]]:
    """Re-explain ``run_dir``; returns the page written and the summary lines (as ``run`` prints them)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: no such run folder")
    if read_manifest(run_dir) is None:
        raise InputError(
            f"{run_dir}: not a featureproof run folder (no featureproof.json); explain only changes folders "
            "featureproof wrote: rerun 'python -m pipeline run'"
        )
    for name in ("config.json", "model.pt", "index.html"):
        if not (run_dir / name).exists():
            raise InputError(f"{run_dir}: no {name}; is this a folder written by 'python -m pipeline run'?")
    try:
        saved = json.loads((run_dir / "config.json").read_text())
        ck = load_checkpoint(run_dir / "model.pt")
    except Exception as exc:
        raise InputError(
            f"{run_dir}: cannot read the run's config.json or model.pt ({type(exc).__name__}: {exc})"
        ) from None
    cfg = RunConfig.from_dict({**saved["config"], "progress": progress, "seeds": 1, "seed": int(ck["seed"])}).validate()
    exp = prepare(cfg)
    if exp.dataset.fingerprint() != saved.get("data_hash"):
        raise InputError(
            f"{run_dir}: the input data changed since this run (hash differs); rerun 'python -m pipeline run'"
        )
    if list(exp.ws.columns) != list(ck["columns"]):
        raise InputError(
            f"{run_dir}: the feature columns differ from the saved model's; rerun 'python -m pipeline run'"
        )
    exp = exp.only_fold(int(ck["fold"]))  # the saved model's fold: a saved Fitted of one unit
    fd = exp.fold_data[0]
    fold = fd.fold
    # a checkpoint saved before the linear skip path existed holds the network alone
    model = build(str(ck.get("model", "lstm")), ModelConfig(**{"skip": "none", **ck["model_config"]}), cfg.window)
    model.load_state_dict(ck["state_dict"])
    model.eval()
    device = resolve_device(cfg.device)
    test_pred = exp.to_model_units(predict(model, fd.X_test, device), fd)
    model.cpu()
    fitted = Fitted(
        (Unit(fold.number, cfg.seed, None, model, TrainResult(), test_pred, 0.0),), (), (cfg.seed,), device.type, 0.0
    )
    if not ecfg.lgbm_lags:
        ecfg = dataclasses.replace(ecfg, lgbm_lags=cfg.lgbm_lags)
    try:
        saved_metrics = json.loads((run_dir / "metrics.json").read_text())
        skill = {int(e["horizon"]): bool(e.get("skill", False)) for e in saved_metrics.get("horizon_results", [])}
    except (OSError, ValueError, KeyError):
        skill = {}
    res = explain(exp, fitted, None, ecfg, skill=skill)
    richer = (run_dir / "importance.csv").exists()
    stem = "importance_lastfold" if richer else "importance"
    d = exp.ws.dates[fold.test]
    note = (
        f"Recomputed by 'explain RUN_DIR' from the saved model: fold {fold.number} only "
        f"({np.datetime_as_string(d.min(), unit='D')} .. {np.datetime_as_string(d.max(), unit='D')}, {len(fold.test)} "
        f"test windows), seed {cfg.seed}; intervals are over these test days only."
        + (" The run's own importance over every fold and seed is in importance.html." if richer else "")
    )
    link = f' · <a href="{stem}.html">feature importance report{" (last fold, rerun)" if richer else ""}</a>'
    with update_dir(run_dir) as tmp:  # the folder changes all at once, or not at all
        write_importance(exp, res, tmp, stem=stem, note=note)
        html = (tmp / "index.html").read_text()
        if link not in html:
            (tmp / "index.html").write_text(html.replace("<!--importance-link-->", "<!--importance-link-->" + link, 1))
    return run_dir / f"{stem}.html", list(res.findings) + list(res.conclusions["lags"])
