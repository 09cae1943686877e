"""featureproof as a library: the commands as functions that take the schema's own names (the TOML keys, e.g.
``target="direction", horizons=[1, 5], model="gru", ablation="both"``) and return typed results. The CLI is a
thin layer over the same compositions (:mod:`pipeline.cli.compose`).

>>> import pipeline
>>> result = pipeline.run(target="direction", horizons=[1, 5], epochs=3)      # doctest: +SKIP
>>> result.verdicts[["horizon", "edge", "p_holm", "skill"]]                    # doctest: +SKIP

A bad setting raises :class:`pipeline.errors.InputError` (a ``ValueError``) with the CLI's one-line message;
nothing here exits the process. Progress bars use ``tqdm.auto`` (widgets in a notebook); ``progress=False``
silences them and the stage lines.
"""

from __future__ import annotations

import dataclasses
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import InputError
from pipeline.reporting.summary import verdict_table

__all__ = ["run", "compare", "search", "power", "explain", "RunResult", "FolderResult", "PowerRunResult", "settings"]


def _quiet(*args, **kwargs) -> None:
    return None


def settings(**values: Any):
    """``(RunConfig, ExplainConfig)`` from the schema's names, validated; an unknown name is an
    :class:`InputError` that lists the nearest ones."""
    import difflib

    from pipeline.config.schema import ExplainConfig, RunConfig

    run_names = {f.name for f in dataclasses.fields(RunConfig)}
    explain_names = {f.name for f in dataclasses.fields(ExplainConfig)}
    values = {k.replace("-", "_"): v for k, v in values.items()}
    if "symbol" in values:  # the CLI's --symbol: one symbol
        values["symbols"] = [values.pop("symbol")]
    for key in values:
        if key not in run_names | explain_names:
            near = difflib.get_close_matches(key, sorted(run_names | explain_names), n=3)
            raise InputError(
                f"unknown setting {key!r}"
                + (
                    f"; did you mean {', '.join(near)}?"
                    if near
                    else "; see RunConfig and ExplainConfig in pipeline.config.schema"
                )
            )
    for key in ("symbols", "macro", "exclude_groups"):
        if isinstance(values.get(key), str):
            values[key] = [s.strip() for s in values[key].split(",") if s.strip()]
    if isinstance(values.get("horizons"), (int, str)):
        values["horizons"] = [int(h) for h in str(values["horizons"]).split(",")]
    cfg = RunConfig(**{k: v for k, v in values.items() if k in run_names}).validate()
    ecfg = ExplainConfig(**{k: v for k, v in values.items() if k in explain_names and k not in run_names}).validate()
    return cfg, ecfg


@dataclass(frozen=True)
class RunResult:
    """A finished run: its folder and report, every metric (``metrics.json``), the verdicts per horizon, the
    importances and the test predictions as DataFrames."""

    folder: Path
    metrics: dict = field(repr=False)
    verdicts: pd.DataFrame = field(repr=False)
    importance: pd.DataFrame | None = field(default=None, repr=False)
    predictions: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def report(self) -> Path:
        return self.folder / "index.html"

    @property
    def skill(self) -> dict[int, bool]:
        return dict(zip(self.verdicts.horizon, self.verdicts.skill))

    @property
    def scores(self) -> pd.DataFrame:
        """The model and every baseline on the same test days: one row per horizon and predictor (``model``,
        ``majority``, ``logistic``, ... and ``per_fold``, the comparator chosen per fold), one column per metric."""
        rows = []
        for e in self.metrics.get("horizon_results") or []:
            named = {"model": e.get("model") or {}, **(e.get("baselines") or {})}
            for name, values in named.items():
                rows.append({"horizon": e["horizon"], "predictor": name, **values})
        return pd.DataFrame(rows)

    @classmethod
    def load(cls, folder: str | Path) -> "RunResult":
        """A run folder written by ``run`` (this API or the CLI) as a result."""
        folder = Path(folder)
        if not (folder / "metrics.json").is_file():
            raise InputError(f"{folder}: not a featureproof run folder (no metrics.json)")
        metrics = json.loads((folder / "metrics.json").read_text())
        read = lambda name: pd.read_csv(folder / name) if (folder / name).is_file() else None  # noqa: E731
        return cls(folder, metrics, verdict_table(metrics), read("importance.csv"), read("predictions.csv"))

    def _repr_html_(self) -> str:
        """The one-screen answer in a notebook: each horizon's verdict, and the report's path."""
        items = "".join(f"<li>{html.escape(str(v))}</li>" for v in self.verdicts.verdict)
        findings = "".join(f"<li>{html.escape(x)}</li>" for x in self.metrics.get("importance_findings") or [])
        return (
            f"<div><b>featureproof run</b> · {html.escape(str(self.metrics.get('target')))} · "
            f"{html.escape(', '.join(self.metrics.get('symbols') or []))}<ul>{items}</ul>"
            + (f"<ul>{findings}</ul>" if findings else "")
            + f"<small>report: <code>{html.escape(str(self.report))}</code></small></div>"
        )


@dataclass(frozen=True)
class FolderResult:
    """A finished ``compare`` or ``search``: its folder, its page and what it printed (the summary)."""

    folder: Path
    page: Path
    summary: dict = field(repr=False)


@dataclass(frozen=True)
class PowerRunResult:
    """A finished ``power``: its folder, the rates (a DataFrame) and the typed result underneath."""

    folder: Path
    rates: pd.DataFrame = field(repr=False)
    result: Any = field(repr=False)

    @property
    def page(self) -> Path:
        return self.folder / "power.html"


def _log(progress: bool):
    from pipeline.progress import say

    return say if progress else _quiet


def run(out: str | None = None, overwrite: bool = False, progress: bool = True, **values: Any) -> RunResult:
    """The main job (``python -m pipeline run``): prepare -> fit -> evaluate -> explain -> the ledger -> write.
    ``values``: any setting of :class:`~pipeline.config.schema.RunConfig` and
    :class:`~pipeline.config.schema.ExplainConfig` by its name."""
    from pipeline.cli.compose import run as compose_run

    cfg, ecfg = settings(out=out, overwrite=overwrite, progress=progress, **values)
    folder, _ = compose_run(cfg, ecfg, log=_log(progress))
    return RunResult.load(folder)


def compare(
    features: str | list[str] | None = None,
    models: str | list[str] | None = None,
    out: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    **values: Any,
) -> FolderResult:
    """Feature sets and/or model families on identical folds, seeds and test days (``python -m pipeline compare``)."""
    from pipeline.cli.compose import run_compare
    from pipeline.config.schema import COMPARE_DEFAULTS, DEFAULTS, FAMILY_NAMES

    models = [m.strip() for m in models.split(",")] if isinstance(models, str) else list(models or [])
    unknown = [m for m in models if m not in FAMILY_NAMES]
    if unknown:
        raise InputError(f"models: unknown family {unknown[0]!r}; choose from {', '.join(FAMILY_NAMES)}")
    if features is None:
        features = DEFAULTS.features if models else COMPARE_DEFAULTS["features"]
    sets = [s.strip() for s in features.split(",")] if isinstance(features, str) else list(features)
    values.setdefault("seeds", COMPARE_DEFAULTS["seeds"])
    cfg, ecfg = settings(
        overwrite=overwrite, progress=progress, features=sets[0], **({"model": models[0]} if models else {}), **values
    )
    if models:
        object.__setattr__(cfg, "_families", tuple(models))
        cfg = cfg.validate()
    folder, summary = run_compare(
        cfg,
        sets,
        ecfg.executor,
        ecfg.jobs,
        ecfg.ray_address,
        out,
        log=_log(progress),
        gpus_per_job=ecfg.gpus_per_job,
        models=models or None,
    )
    return FolderResult(folder, folder / "index.html", summary)


def search(
    trials: int = 30,
    holdout: float = 0.2,
    holdout_folds: int = 1,
    space: str | None = None,
    out: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    resume: bool = False,
    rejudge: bool = False,
    storage: str | None = None,
    workers: int = 1,
    timeout: float | None = None,
    score_all_on_test: bool = False,
    **values: Any,
) -> FolderResult:
    """Optuna over the settings a user tunes, judged once on held-back days (``python -m pipeline search``)."""
    from pipeline.cli.compose import run_search
    from pipeline.config.space import load_space

    if trials < 1:
        raise InputError("trials must be at least 1")
    values.setdefault("seeds", 1)
    cfg, ecfg = settings(overwrite=overwrite, progress=progress, **values)
    folder, summary = run_search(
        cfg,
        ecfg,
        load_space(space),
        trials,
        holdout,
        holdout_folds,
        timeout,
        storage,
        resume,
        workers,
        ecfg.executor,
        ecfg.ray_address,
        score_all_on_test,
        out,
        rejudge,
        log=_log(progress),
    )
    return FolderResult(folder, folder / "search.html", summary)


def power(
    effect: float | list[float] = 0.1,
    lag: int = 1,
    runs: int = 20,
    out: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    **values: Any,
) -> PowerRunResult:
    """Would this setup find an effect this large on these data? (``python -m pipeline power``)"""
    from pipeline.cli.compose import run_power

    effects = [effect] if isinstance(effect, (int, float)) else list(effect)
    cfg, ecfg = settings(overwrite=overwrite, progress=progress, **values)
    folder, res = run_power(cfg, ecfg, [float(e) for e in effects], int(lag), int(runs), out, log=_log(progress))
    return PowerRunResult(folder, res.table, res)


def explain(run_dir: str | Path, progress: bool = True, **values: Any) -> list[str]:
    """Recompute the importances of a finished run from its saved model (``python -m pipeline explain``); returns
    the summary lines (the page is ``importance.html`` or ``importance_lastfold.html`` in the run folder)."""
    from pipeline.cli.rerun import explain_run_dir
    from pipeline.config.schema import ExplainConfig

    names = {f.name for f in dataclasses.fields(ExplainConfig)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise InputError(f"unknown explain setting {unknown[0]!r}; see ExplainConfig in pipeline.config.schema")
    _, lines = explain_run_dir(str(run_dir), ExplainConfig(**values).validate(), progress=progress)
    return lines
