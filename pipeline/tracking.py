"""MLflow tracking (the ``[tracking]`` extra): the store a command logs to, and what each command logs there.

* ``run`` logs one MLflow run: the resolved configuration as params; per horizon every model metric with its
  interval bounds, the headline edge over the comparator with its interval and p-values; the verdict, skill,
  comparator, data fingerprints and ledger sentence as tags; the report folder as artifacts.
* ``compare`` logs a parent run (the shared configuration, the comparison folder as artifacts) and a nested run
  per cell (feature set x model: its metrics with intervals, its test against the comparator).
* ``search`` creates its parent run before any worker starts; every worker logs each trial it finishes as a
  nested run (params, edge, naive p-value, state), and the chosen configuration's final run is nested too.

The default store is ``sqlite:///<reports folder>/mlflow.db`` with the artifacts in ``<reports
folder>/mlartifacts`` (an explicit artifact location: MLflow 3 refuses the old file store). The driver opens
the store and the experiment (:func:`open_store`) before any worker starts, because concurrent first use of
one SQLite file is a known MLflow failure; after that, workers log with plain client calls, each retried
while SQLite reports a lock. Nothing here keeps MLflow's global "active run": every call names its run, so
workers and the driver never share state.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from pipeline.errors import InputError

EXPERIMENT = "featureproof"
DEFAULT = "default"  # --track with no URI: the SQLite store beside the reports
DB_NAME = "mlflow.db"
ARTIFACTS = "mlartifacts"
INSTALL = 'pip install -e ".[tracking]" (or pip install mlflow)'
LEDGER_ARTIFACT = "ledger.json"
LEDGER_TAG = "featureproof.ledger"  # the prices' fingerprint of a run that keeps ledger entries
# MLflow's limits per log_batch call
_BATCH = {"metrics": 1000, "params": 100, "tags": 100}


@dataclass(frozen=True)
class Tracker:
    """Where to log: the store's URI, the experiment, and (for nested runs) the parent run's id."""

    uri: str
    experiment_id: str
    parent_run_id: str | None = None

    def under(self, run_id: str) -> "Tracker":
        """The same store with ``run_id`` as the parent of the runs logged through it."""
        return Tracker(self.uri, self.experiment_id, run_id)

    def where(self, run_id: str) -> dict:
        """Where ``run_id`` is, for a command's summary and its printed line."""
        return {"uri": self.uri, "experiment_id": self.experiment_id, "run_id": run_id}


def _mlflow():
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise InputError(f"--track needs MLflow, which is not installed: {INSTALL}") from None
    for name in ("mlflow", "alembic"):  # the store's schema migrations log at INFO on first use
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # quiet output: no bar per ledger.json
    return MlflowClient


def store_uri(track: str, reports_root: Path) -> str:
    """The tracking URI of ``--track`` (``default``: the SQLite file beside the reports folder)."""
    if track in (DEFAULT, ""):
        return f"sqlite:///{(Path(reports_root) / DB_NAME).resolve()}"
    if track.startswith("file:") or ("://" not in track and not track.startswith("databricks")):
        raise InputError(
            f"--track {track}: MLflow 3 refuses a file store (a folder); give sqlite:///PATH/mlflow.db, "
            "an http(s):// tracking server, or --track alone for the SQLite file beside the reports"
        )
    return track


def _artifact_location(uri: str) -> str | None:
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///") :]).parent / ARTIFACTS).resolve().as_uri()
    return None  # a server decides where its artifacts go


def open_store(track: str, reports_root: Path, experiment: str = EXPERIMENT) -> Tracker:
    """Create (or open) the store and the experiment, once, in the driver before any worker starts; a missing
    extra or a store that cannot be opened is one line (:class:`InputError`)."""
    client_cls = _mlflow()
    uri = store_uri(track, reports_root)
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        # no pooled SQLite connections: a local worker forked from this process must not inherit an open one
        os.environ.setdefault("MLFLOW_SQLALCHEMYSTORE_POOLCLASS", "NullPool")
    if uri.startswith(("http://", "https://")):
        _reachable(uri)
    try:
        client = client_cls(uri)
        found = _retry(client.get_experiment_by_name, experiment)
        if found is None:
            try:
                exp_id = _retry(client.create_experiment, experiment, artifact_location=_artifact_location(uri))
            except Exception:  # another driver created it between the two calls
                found = _retry(client.get_experiment_by_name, experiment)
                if found is None:
                    raise
                exp_id = found.experiment_id
        else:
            exp_id = found.experiment_id
        if found is None:  # ours: shown in the UI's model-training view, not GenAI's, with what it holds
            _retry(client.set_experiment_tag, exp_id, "mlflow.experimentKind", "custom_model_development")
            _retry(
                client.set_experiment_tag,
                exp_id,
                "mlflow.note.content",
                "featureproof runs, comparisons and searches: every network judged against its baselines on "
                "walk-forward test days (one run per report; nested runs per compare cell and search trial).",
            )
    except InputError:
        raise
    except Exception as exc:  # an unreachable server, a path that cannot be written, a malformed URI
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise InputError(f"--track {uri}: cannot open the MLflow store ({type(exc).__name__}: {first})") from None
    return Tracker(uri, str(exp_id))


def _reachable(uri: str, timeout: float = 10.0) -> None:
    """Fail in seconds, not after MLflow's minutes of retries, when nothing answers at a server's address (any
    HTTP answer, an authentication error included, means a server is there)."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout)
    except urllib.error.HTTPError:
        return
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InputError(
            f"--track {uri}: no MLflow server answers there ({reason}); start it (mlflow server ...) "
            "or check the address"
        ) from None


def _retry(fn, *args, attempts: int = 12, **kwargs):
    """Call ``fn``; while SQLite says the database is locked (another process is writing), wait and try again."""
    delay = 0.05
    for k in range(attempts):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if "locked" not in str(exc).lower() or k == attempts - 1:
                raise
            time.sleep(delay)
            delay = min(2.0, delay * 2)


def _chunks(items: list, n: int) -> Iterable[list]:
    for k in range(0, len(items), n):
        yield items[k : k + n]


def _param_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def start_run(
    tracker: Tracker,
    name: str,
    kind: str,
    params: dict | None = None,
    tags: dict | None = None,
    seconds_ago: float = 0.0,
) -> str:
    """Create a run (nested under ``tracker.parent_run_id`` when set), log its params and tags, leave it
    running; return its id. ``seconds_ago``: when the work it records began (a report logged once it is
    written), so that MLflow shows its real duration."""
    client = _mlflow()(tracker.uri)
    base = {"mlflow.runName": name, "featureproof.kind": kind}
    if tracker.parent_run_id:
        base["mlflow.parentRunId"] = tracker.parent_run_id
    run = _retry(
        client.create_run,
        tracker.experiment_id,
        tags={**base, **{k: str(v) for k, v in (tags or {}).items()}},
        run_name=name,
        start_time=int((time.time() - max(0.0, seconds_ago or 0.0)) * 1000),
    )
    _log(client, run.info.run_id, params=params)
    return run.info.run_id


def finish_run(
    tracker: Tracker,
    run_id: str,
    metrics: dict | None = None,
    tags: dict | None = None,
    artifacts: Path | None = None,
    exclude: tuple[str, ...] = (),
    status: str = "FINISHED",
) -> None:
    """Log ``metrics`` (non-finite values are left out), ``tags`` and the files under ``artifacts`` (but the
    top-level names in ``exclude``) to ``run_id`` and end it with ``status``."""
    client = _mlflow()(tracker.uri)
    _log(client, run_id, metrics=metrics, tags=tags)
    if artifacts is not None:
        folder = Path(artifacts)
        for path in sorted(folder.iterdir()):
            if path.name in exclude or path.name.startswith("."):
                continue
            if path.is_dir():
                _retry(client.log_artifacts, run_id, str(path), artifact_path=f"report/{path.name}")
            else:
                _retry(client.log_artifact, run_id, str(path), artifact_path="report")
    _retry(client.set_terminated, run_id, status)


def log_run_record(
    tracker: Tracker,
    name: str,
    kind: str,
    params: dict,
    metrics: dict,
    tags: dict,
    artifacts: Path | None = None,
    exclude: tuple[str, ...] = (),
    ledger: list[dict] | None = None,
    seconds: float = 0.0,
) -> str:
    """One complete run (start, log everything, finish) of work that took ``seconds``; its id. ``ledger``: the
    report's ledger entries (:func:`log_ledger`)."""
    run_id = start_run(tracker, name, kind, params, tags, seconds_ago=seconds)
    if ledger:
        log_ledger(tracker, run_id, ledger)
    finish_run(tracker, run_id, metrics, artifacts=artifacts, exclude=exclude)
    return run_id


def log_ledger(tracker: Tracker, run_id: str, entries: list[dict]) -> None:
    """Keep a report's ledger entries (plain data: fingerprint, target, horizon, comparator, publication token,
    test days, per-day differential) on its MLflow run, so that every folder and machine logging to the same
    server counts it (:func:`ledger_entries`). The run is tagged with the market's key to be found."""
    client = _mlflow()(tracker.uri)
    _retry(client.log_text, run_id, json.dumps(entries), LEDGER_ARTIFACT)
    first = entries[0]
    _log(
        client,
        run_id,
        tags={
            LEDGER_TAG: first["fingerprint"],
            "featureproof.target": first["target"],
            "featureproof.publication": first["token"],
        },
    )


def ledger_entries(tracker: Tracker, fingerprint: str) -> list[dict]:
    """Every ledger entry kept in ``tracker``'s experiment for this market (finished runs only: a run is logged
    after its report is published); the ledger keeps those of the pooled target and horizon."""
    client = _mlflow()(tracker.uri)
    out, token = [], None
    query = f"tags.`{LEDGER_TAG}` = '{fingerprint}'"
    while True:
        page = _retry(
            client.search_runs, [tracker.experiment_id], filter_string=query, max_results=1000, page_token=token
        )
        for run in page:
            if run.info.status != "FINISHED":
                continue
            with tempfile.TemporaryDirectory(prefix="featureproof-ledger-") as folder:
                path = _retry(client.download_artifacts, run.info.run_id, LEDGER_ARTIFACT, folder)
                out += json.loads(Path(path).read_text())
        token = page.token
        if not token:
            return out


def _log(
    client, run_id: str, params: dict | None = None, metrics: dict | None = None, tags: dict | None = None
) -> None:
    from mlflow.entities import Metric, Param, RunTag

    stamp = int(time.time() * 1000)
    items = {
        "params": [Param(k[:250], _param_text(v)[:6000]) for k, v in (params or {}).items()],
        "metrics": [
            Metric(k[:250], float(v), stamp, 0)
            for k, v in (metrics or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        ],
        "tags": [RunTag(k[:250], str(v)[:8000]) for k, v in (tags or {}).items()],
    }
    for kind, values in items.items():
        for part in _chunks(values, _BATCH[kind]):
            _retry(client.log_batch, run_id, **{kind: part})


# --------------------------------------------------------------------------------------------- what is logged
def config_params(config: dict) -> dict:
    """A resolved configuration as params, without the output and tracking settings (not what was run)."""
    return {k: v for k, v in config.items() if k not in ("out", "overwrite", "progress", "track", "experiment")}


def _flat(prefix: str, d: dict) -> dict:
    return {f"{prefix}{k}": v for k, v in d.items()}


def run_record(
    summary: dict, config: dict, explain_config: dict | None = None, fingerprints: dict | None = None
) -> tuple[dict, dict, dict]:
    """``run``'s params, metrics and tags from its ``metrics.json`` summary, resolved configuration, explain
    settings and data fingerprints (``{"data": ..., "prices": ...}``)."""
    params = config_params(config)
    params.update(_flat("explain.", explain_config or {}))
    metrics, tags = (
        {},
        {
            "featureproof.target": summary.get("target"),
            "featureproof.symbols": ",".join(summary.get("symbols") or [])[:500],
        },
    )
    for key, value in (fingerprints or {}).items():
        tags[f"featureproof.fingerprint.{key}"] = value
    for e in summary.get("horizon_results", []):
        h = f"h{e['horizon']}."
        for m, v in e.get("model", {}).items():
            metrics[h + m] = v
            lo, hi = (e.get("model_ci") or {}).get(m, (None, None))
            metrics[h + m + ".ci_low"], metrics[h + m + ".ci_high"] = lo, hi
        comp = e.get("comparator")
        for m, v in (e.get("baselines") or {}).get(comp, {}).items():
            metrics[h + "comparator." + m] = v
        edge = e.get("edge") or {}
        for k in ("mean", "ci_low", "ci_high", "p_value", "p_holm", "mde"):
            if k in edge:
                metrics[h + "edge" + ("" if k == "mean" else "." + k)] = edge[k]
        metrics[h + "n_days"] = e.get("n_days")
        tags[h + "verdict"] = e.get("verdict", "")
        tags[h + "skill"] = "yes" if e.get("skill") else "no"
        tags[h + "comparator"] = e.get("comparator_described") or comp or ""
    for xs in summary.get("cross_section") or []:
        h = f"h{xs.get('horizon')}.xs."
        for k, v in xs.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                metrics[h + k] = v
    for answer in summary.get("ledger") or []:
        tags[f"h{answer.get('horizon')}.ledger"] = answer.get("sentence", "")
    tags["featureproof.skill"] = "yes" if any(e.get("skill") for e in summary.get("horizon_results", [])) else "no"
    for k in ("train_seconds", "wall_seconds"):
        if k in summary:
            metrics[k] = summary[k]
    return params, metrics, tags


def compare_records(summary: dict) -> tuple[tuple[dict, dict, dict], dict[str, tuple[dict, dict, dict]]]:
    """``compare``'s parent record and one record per cell (params, metrics, tags) from its summary."""
    cfg = dict(summary.get("config") or {})
    parent_params = config_params(cfg)
    parent_params.update({"cells": [c["name"] for c in summary.get("cells", [])], "models": summary.get("models")})
    data = summary.get("dataset")
    parent_tags = {
        "featureproof.target": summary.get("target"),
        "featureproof.price_fingerprint": data.price_fingerprint() if data is not None else "",
        "featureproof.symbols": ",".join(summary.get("symbols") or [])[:500],
    }
    for k, line in enumerate(summary.get("verdicts") or []):
        parent_tags[f"verdict.{k + 1}"] = line
    for answer in summary.get("ledger") or []:
        parent_tags[f"h{answer.get('horizon')}.ledger"] = answer.get("sentence", "")
    table, tests = summary.get("table"), summary.get("tests")
    cells = {}
    for cell in summary.get("cells", []):
        name = cell["name"]
        params = {"features": cell["features"], "model": cell["model"]}
        metrics, tags = {}, {"featureproof.cell": name}
        if table is not None and len(table):
            rows = table[(table.feature_set == name) & (table.symbol == "all")]
            for r in rows.itertuples():
                key = f"h{r.horizon}.{r.metric}"
                metrics[key], metrics[key + ".ci_low"], metrics[key + ".ci_high"] = r.mean, r.ci_low, r.ci_high
        if tests is not None and len(tests):
            for r in tests[(tests.set_a == name) & tests.set_b.str.startswith("baseline:")].itertuples():
                key = f"h{r.horizon}.vs_comparator"
                metrics.update(
                    {
                        key: r.diff,
                        key + ".ci_low": r.ci_low,
                        key + ".ci_high": r.ci_high,
                        key + ".p_value": r.p_value,
                        key + ".p_holm": r.p_holm,
                    }
                )
                tags[f"h{r.horizon}.comparator"] = r.set_b.split(":", 1)[1]
                tags[f"h{r.horizon}.beats_comparator"] = "yes" if (r.p_holm < 0.05 and r.diff > 0) else "no"
        cells[name] = (params, metrics, tags)
    return (parent_params, {"wall_seconds": summary.get("wall_seconds")}, parent_tags), cells


def search_record(summary: dict) -> tuple[dict, dict]:
    """``search``'s parent metrics and tags from its summary (its params are logged when it starts)."""
    sel = summary.get("selection") or {}
    metrics = {
        "search_edge": summary.get("search_edge"),
        "holdout_edge": summary.get("holdout_edge"),
        "naive_p_value": summary.get("naive_p_value"),
        "trials": summary.get("trials"),
        "best_trial": summary.get("best_trial"),
        "wall_seconds": summary.get("wall_seconds"),
    }
    if isinstance(sel.get("pbo"), dict):
        metrics["pbo"] = sel["pbo"].get("pbo")
    if isinstance(sel.get("dsr"), dict):
        metrics["dsr"] = sel["dsr"].get("dsr")
    for state, n in (summary.get("states") or {}).items():
        metrics[f"trials.{state}"] = n
    if summary.get("score_all_on_test"):
        metrics["spa_p"] = summary["score_all_on_test"].get("spa_p")
    tags = {
        "featureproof.target": summary.get("target"),
        "lead": (summary.get("sentences") or {}).get("lead", ""),
        "featureproof.skill": "yes" if any(summary.get("holdout_skill") or []) else "no",
        "best_params": json.dumps(summary.get("best_params"), default=str),
    }
    return metrics, tags


def trial_record(trial, logged_by: str) -> tuple[dict, dict, dict]:
    """One Optuna trial's params, metrics and tags (any state: complete, pruned, failed); ``logged_by``: the
    worker that ran it, or the driver filling in a trial no worker logged."""
    attrs = trial.user_attrs
    metrics = {
        "edge": trial.value,
        "p_value_naive": attrs.get("p_value"),
        "sharpe": attrs.get("sharpe"),
        "seconds": attrs.get("seconds"),
        "pruned_after_fold": attrs.get("pruned_after_fold"),
    }
    tags = {"state": trial.state.name.lower(), "trial": trial.number, "logged_by": logged_by}
    if attrs.get("error"):
        tags["error"] = attrs["error"]
    return dict(trial.params), metrics, tags


def child_tags(tracker: Tracker, key: str) -> set[str]:
    """The values of tag ``key`` on the runs nested under ``tracker.parent_run_id`` (e.g. the trials a search's
    workers have logged)."""
    client = _mlflow()(tracker.uri)
    found, token = set(), None
    while True:
        page = _retry(
            client.search_runs,
            [tracker.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{tracker.parent_run_id}'",
            max_results=1000,
            page_token=token,
        )
        found.update(r.data.tags[key] for r in page if key in r.data.tags)
        token = page.token
        if not token:
            return found
