"""A run's folder, written atomically from the stage results (``write_run``), and its saved model.

``RUN_DIR/`` holds ``config.json`` (resolved config, explain settings, data hash, package versions, seeds),
``metrics.json``, ``predictions.csv``, ``data_signature.parquet`` (a hash per symbol and date, for ``reproduce``), ``model.pt`` (state dict + config; load with
``torch.load(..., weights_only=True)``) and ``index.html``. The folder appears only when complete.
"""

from __future__ import annotations

import json
import platform
import re
import sys
from datetime import datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from pipeline import __version__
from pipeline.config.schema import RunConfig
from pipeline.io import atomic_dir, fresh_dir
from pipeline.reporting.importance_page import detail_tables, render_importance_report
from pipeline.reporting.index import index_href
from pipeline.reporting.run_page import render_run_report, run_nav
from pipeline.stages.evaluate import predictions_frame
from pipeline.stages.results import Evaluation, Explanation, Fitted, Prepared

PACKAGES = ("numpy", "pandas", "torch", "ta", "lightgbm", "shap", "scikit-learn", "scipy", "yfinance")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "featureproof": __version__}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def default_run_dir(cfg: RunConfig, symbols: list[str]) -> Path:
    """``reports/<YYYYmmdd-HHMMSS>-<symbols>-<target>``, with a suffix if that name is taken."""
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", "+".join(symbols))[:40] or "data"
    return fresh_dir(Path("reports"), f"{label}-{cfg.target}")


def checkpoint(exp: Prepared, fitted: Fitted) -> dict:
    """State dict of the last fold's first-seed model (trained on the most data) with everything needed
    to rebuild and apply it; plain tensors, lists and numbers only, so ``weights_only=True`` loads it."""
    fold = exp.folds[-1].number
    seed = fitted.seeds[0]
    fd = exp.fold_data[-1]
    pre = fd.pre
    return {
        "state_dict": fitted.models[(fold, seed)].state_dict(),
        "model": exp.cfg.model,
        "model_config": exp.model_config().to_dict(),
        "run_config": exp.cfg.to_dict(),
        "columns": list(exp.ws.columns),
        "fold": fold,
        "seed": seed,
        "preprocessor": {
            "scaler": pre.scaler,
            "log_columns": list(pre.log_columns),
            "clip_quantile": pre.clip_quantile,
            "center": torch.tensor(pre.center_),
            "scale": torch.tensor(pre.scale_),
            "low": None if pre.low_ is None else torch.tensor(pre.low_),
            "high": None if pre.high_ is None else torch.tensor(pre.high_),
        },
        "y_mean": torch.tensor(fd.y_mean),
        "y_std": torch.tensor(fd.y_std),
    }


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items() if k not in ("curves", "curve", "curve_dates")}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


METRICS_SCHEMA_VERSION = 1  # metrics.json's layout (docs/schemas/metrics.schema.json); raised when a key changes


def write_run(
    exp: Prepared,
    fitted: Fitted,
    evaluation: Evaluation,
    explanation: Explanation | None,
    out_dir: Path,
    wall_seconds: float = 0.0,
    explain_config: dict | None = None,
    ledger: list[dict] | None = None,
    publication: str | None = None,
) -> dict:
    """Write every output into a temporary folder and rename it to ``out_dir`` when all succeeded; returns
    the ``metrics.json`` content."""
    cfg = exp.cfg
    run_id = out_dir.name
    created = datetime.now().isoformat(timespec="seconds")
    ws = exp.ws
    test_idx = exp.test_idx
    train_idx = np.concatenate([f.train for f in exp.folds])
    metrics = {**evaluation.to_dict(), **(explanation.summary() if explanation is not None else {})}
    summary = {
        "schema_version": METRICS_SCHEMA_VERSION,  # docs/schemas/metrics.schema.json
        "run_id": run_id,
        "created": created,
        "target": cfg.target,
        "horizons": cfg.horizons,
        "symbols": list(exp.dataset.prices),
        "n_train": int(len(exp.folds[-1].train)),
        "n_train_per_fold": [int(len(f.train)) for f in exp.folds],
        "n_val_per_fold": [int(len(f.val)) for f in exp.folds],
        "n_test": int(len(test_idx)),
        "n_samples": int(ws.n),
        "features": list(ws.columns),
        "groups": exp.dataset.groups,
        "feature_spec": exp.dataset.spec,
        "seeds": list(fitted.seeds),
        "folds": [f.describe(ws.dates) for f in exp.folds],
        "test_start": str(np.datetime_as_string(ws.dates[test_idx].min(), unit="D")),
        "test_end": str(np.datetime_as_string(ws.dates[test_idx].max(), unit="D")),
        "train_start": str(np.datetime_as_string(ws.dates[train_idx].min(), unit="D")),
        "train_seconds": fitted.train_seconds,
        "evaluation_seconds": evaluation.seconds,
        "wall_seconds": wall_seconds,
        **metrics,
        "ledger": ledger or [],
    }
    config = {
        "config": cfg.to_dict(),
        "data_hash": exp.dataset.fingerprint(),
        "versions": package_versions(),
        "seeds": list(fitted.seeds),
        "device": str(fitted.device),
        "command": " ".join(sys.argv),
        "created": created,
        "explain_config": explain_config,
        "threads": torch.get_num_threads(),
    }
    with atomic_dir(out_dir, "run", overwrite=cfg.overwrite, publication=publication) as tmp:
        (tmp / "config.json").write_text(json.dumps(_jsonable(config), indent=2))
        (tmp / "metrics.json").write_text(json.dumps(_jsonable(summary), indent=2))
        predictions_frame(exp, fitted).to_csv(tmp / "predictions.csv", index=False)
        exp.dataset.signature().to_parquet(tmp / "data_signature.parquet", index=False)  # for reproduce
        torch.save(checkpoint(exp, fitted), tmp / "model.pt")
        if explanation is not None:
            write_importance(exp, explanation, tmp)
        html = render_run_report(
            exp,
            fitted,
            {**metrics, "ledger": ledger or []},
            run_id,
            created,
            importance_link=(tmp / "importance.html").exists(),
            index_href=index_href(out_dir),
        )
        (tmp / "index.html").write_text(html)
    return summary


def load_checkpoint(path: str | Path) -> dict:
    """Load ``model.pt`` safely (``weights_only=True``)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def write_importance(exp: Prepared, res: Explanation, folder: Path, stem: str = "importance", note: str = "") -> None:
    """``<stem>.csv`` (one row per horizon, group and method), the temporal, cluster, period and sanity-check
    tables (``<stem>_lags.csv``, ...), and the self-contained ``<stem>.html`` into ``folder``; ``note``: a
    banner at the top of the page (e.g. what a rerun covers)."""
    table = res.table()
    table[
        ["horizon", "group", "method", "value", "ci_low", "ci_high", "rank", "floor", "p_holm", "clears_floor", "basis"]
    ].to_csv(folder / f"{stem}.csv", index=False)
    for name, frame in detail_tables(exp, res).items():
        if not frame.empty:
            frame.to_csv(
                folder / name.replace("importance", stem, 1)
                if name.startswith("importance")
                else folder / (name if stem == "importance" else f"{stem}_{name}"),
                index=False,
            )
    nav = run_nav(stem, index_href(folder), (folder / "importance.html").exists() or stem == "importance")
    (folder / f"{stem}.html").write_text(render_importance_report(exp, res, table, note=note, nav=nav))
