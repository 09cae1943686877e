"""MLflow tracking (``--track``): ``run`` and ``compare`` read back with ``mlflow.search_runs`` (params, metrics
with their interval bounds, tags, nested runs, artifacts); the default store beside the reports; a missing
extra or a file store refused in one line before any work; a search's trials logged by its workers (the Ray
workers' case is in tests/test_search.py)."""

from __future__ import annotations

import sys

import pytest

from pipeline.cli.main import main

from tests.conftest import TINY

mlflow = pytest.importorskip("mlflow")

DATA = ["--horizons", "1,5", "--start", "2010-01-01", "--end", "2014-12-31"]
FAST = [*TINY, *DATA, "--ablation", "none", "--no-explain"]
COMPARE = [*[a for a in TINY if a not in ("--shap-windows", "40")], *DATA]


def _runs(uri: str):
    mlflow.set_tracking_uri(uri)
    try:
        return mlflow.search_runs(experiment_names=["featureproof"], output_format="list")
    finally:
        mlflow.set_tracking_uri(None)


def test_run_and_compare_are_logged_and_read_back(tmp_path, capsys):
    reports = tmp_path / "reports"
    uri = f"sqlite:///{reports / 'mlflow.db'}"
    # run with --track alone: the SQLite store beside the reports, artifacts in an explicit location
    assert main(["run", *FAST, "--out", str(reports / "run"), "--track"]) == 0
    assert (reports / "mlflow.db").is_file() and (reports / "index.html").is_file()
    assert "mlflow run " in capsys.readouterr().out
    assert (
        f"mlflow ui --backend-store-uri sqlite:///{reports.resolve() / 'mlflow.db'}"
        in (reports / "index.html").read_text()
    )
    # compare with the URI from a TOML file (track = "...")
    toml = tmp_path / "compare.toml"
    toml.write_text(f'track = "{uri}"\nseeds = 1\n')
    assert (
        main(
            [
                "compare",
                *COMPARE,
                "--features",
                "ohlcv,ohlcv+technical",
                "--config",
                str(toml),
                "--out",
                str(reports / "cmp"),
            ]
        )
        == 0
    )

    runs = _runs(uri)
    by_kind = {}
    for r in runs:
        by_kind.setdefault(r.data.tags["featureproof.kind"], []).append(r)
    assert sorted((k, len(v)) for k, v in by_kind.items()) == [("compare", 1), ("compare cell", 2), ("run", 1)]
    assert all(r.info.status == "FINISHED" for r in runs)

    run = by_kind["run"][0]
    p, m, t = run.data.params, run.data.metrics, run.data.tags
    assert (
        p["target"] == "direction"
        and p["window"] == "20"
        and p["horizons"] == "1,5"
        and p["explain.ablation"] == "none"
    )
    for h in (1, 5):
        assert m[f"h{h}.accuracy.ci_low"] <= m[f"h{h}.accuracy"] <= m[f"h{h}.accuracy.ci_high"]
        assert (
            m[f"h{h}.edge.ci_low"] <= m[f"h{h}.edge"] <= m[f"h{h}.edge.ci_high"] and 0 <= m[f"h{h}.edge.p_value"] <= 1
        )
        assert t[f"h{h}.verdict"].startswith(f"h={h}: LSTM") and t[f"h{h}.skill"] in ("yes", "no")
        assert t[f"h{h}.comparator"]
    assert len(t["featureproof.fingerprint.data"]) >= 8 and len(t["featureproof.fingerprint.prices"]) >= 8
    client = mlflow.tracking.MlflowClient(uri)
    files = {a.path for a in client.list_artifacts(run.info.run_id, "report")}
    assert {"report/metrics.json", "report/config.json", "report/index.html"} <= files
    assert run.info.artifact_uri.startswith((reports / "mlartifacts").as_uri())

    parent = by_kind["compare"][0]
    cells = by_kind["compare cell"]
    assert {c.data.tags["mlflow.parentRunId"] for c in cells} == {parent.info.run_id}
    assert sorted(c.data.params["features"] for c in cells) == ["ohlcv", "ohlcv+technical"]
    for c in cells:
        cm = c.data.metrics
        assert cm["h1.accuracy.ci_low"] <= cm["h1.accuracy"] <= cm["h1.accuracy.ci_high"]
        assert 0 <= cm["h1.vs_comparator.p_holm"] <= 1 and c.data.tags["h1.beats_comparator"] in ("yes", "no")
    assert parent.data.params["cells"] == "ohlcv,ohlcv+technical" and "verdict.1" in parent.data.tags
    assert "report/compare.json" in {a.path for a in client.list_artifacts(parent.info.run_id, "report")}


def test_track_without_the_extra_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow now raises ImportError
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    out = tmp_path / "reports" / "run"
    assert main(["run", *FAST, "--out", str(out), "--track"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--track" in err and "[tracking]" in err
    assert not out.exists() and not (tmp_path / "reports" / "mlflow.db").exists()  # refused before any work


def test_track_refuses_a_file_store(tmp_path, capsys):
    assert (
        main(
            [
                "compare",
                *COMPARE,
                "--features",
                "ohlcv,technical",
                "--out",
                str(tmp_path / "c"),
                "--track",
                str(tmp_path / "mlruns"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "file store" in err
    assert not (tmp_path / "c").exists()


def test_a_search_logs_every_trial_under_its_parent(tmp_path):
    from pipeline.calibration.simulate import random_walk_frame

    from tests.test_search import FAST as SEARCH_FAST, SMALL

    csv, space = tmp_path / "walk.csv", tmp_path / "space.toml"
    random_walk_frame(1600, seed=4).to_csv(csv, index=False)
    space.write_text(SMALL)
    uri = f"sqlite:///{tmp_path / 'track.db'}"
    assert (
        main(
            [
                "search",
                "--source",
                "csv",
                "--data",
                str(csv),
                "--space",
                str(space),
                "--out",
                str(tmp_path / "s"),
                "--trials",
                "3",
                "--track",
                uri,
                *SEARCH_FAST,
            ]
        )
        == 0
    )
    check_search_runs(uri, 3)


def check_search_runs(uri: str, trials: int) -> None:
    """A finished search's parent, one nested run per trial logged by the worker that ran it, and the final run."""
    runs = _runs(uri)
    parents = [r for r in runs if r.data.tags["featureproof.kind"] == "search"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    logged = sorted(int(r.data.tags["trial"]) for r in children if r.data.tags["featureproof.kind"] == "trial")
    assert logged == list(range(trials))  # every trial once: nothing lost, nothing twice
    assert {r.data.tags["logged_by"] for r in children if "logged_by" in r.data.tags} == {"worker"}
    assert [r.data.tags["featureproof.kind"] for r in children].count("run") == 1  # the final run, nested
    assert "pbo" in parent.data.metrics or parent.data.metrics["trials"] < 2
    assert parent.data.params["search.trials"] == str(trials) and "holdout_edge" in parent.data.metrics


def test_runs_in_other_folders_sharing_a_tracking_server_are_counted_once(tmp_path, capfd):
    """Two reports folders (two machines) logging to one store: the ledger counts each other's runs, and a
    run both in the folder's ledger and in MLflow once."""
    import json

    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    one = ["run", *FAST, "--horizons", "1", "--track", uri]
    assert main([*one, "--out", str(tmp_path / "a" / "run1")]) == 0
    assert main([*one, "--seed", "1", "--out", str(tmp_path / "b" / "run2")]) == 0  # another folder, same store
    assert main([*one, "--seed", "2", "--out", str(tmp_path / "a" / "run3")]) == 0  # run1 is in both ledgers
    counts = [
        json.loads((tmp_path / f / "metrics.json").read_text())["ledger"][0]["count"]
        for f in ("a/run1", "b/run2", "a/run3")
    ]
    assert counts == [1, 2, 3]
    assert "Downloading artifacts" not in capfd.readouterr().err  # reading the store's ledger entries is quiet
    # without the shared store, the second folder's ledger knows only itself
    assert main([*one[:-2], "--seed", "3", "--out", str(tmp_path / "c" / "run4")]) == 0
    assert json.loads((tmp_path / "c" / "run4" / "metrics.json").read_text())["ledger"][0]["count"] == 1


def test_an_unreachable_server_is_one_line_within_seconds(tmp_path, capsys):
    import time

    t0 = time.perf_counter()
    assert main(["run", *FAST, "--out", str(tmp_path / "r"), "--track", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no MLflow server answers" in err and time.perf_counter() - t0 < 60
    assert not (tmp_path / "r").exists()
