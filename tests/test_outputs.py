"""Output safety: featureproof never deletes or overwrites a file it did not write, replaces its own
folders only with --overwrite, and publishes every folder atomically (old or new, never a mix)."""

from __future__ import annotations

import json
import os

import pytest

from conftest import FAST
from pipeline import io as fpio
from pipeline.cli.main import main
from pipeline.errors import InputError


def _no_training(monkeypatch):
    """Make any attempt to load data fail loudly: the checks must happen before any work."""
    import pipeline.stages.prepare

    def boom(*a, **k):
        raise AssertionError("work started before the output folder was checked")

    monkeypatch.setattr(pipeline.stages.prepare, "build_dataset", boom)


def _run(tiny_csv, out, *extra):
    return main(
        ["run", "--data", str(tiny_csv), *FAST, "--ablation", "none", "--no-explain", "--out", str(out), *extra]
    )


def test_out_with_foreign_files_survives_and_stops_before_work(tmp_path, tiny_csv, monkeypatch, capsys):
    research = tmp_path / "research"
    (research / "sub").mkdir(parents=True)
    (research / "thesis.tex").write_text("years of work")
    (research / "sub" / "data.csv").write_text("1,2,3")
    _no_training(monkeypatch)
    for extra in ([], ["--overwrite"]):
        assert _run(tiny_csv, research, *extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: --out") and "not written by featureproof" in err[0]
    assert (research / "thesis.tex").read_text() == "years of work"
    assert (research / "sub" / "data.csv").read_text() == "1,2,3"
    assert sorted(p.name for p in research.iterdir()) == ["sub", "thesis.tex"]


def test_own_folder_is_replaced_only_with_overwrite(tmp_path, tiny_csv, capsys):
    out = tmp_path / "run"
    assert _run(tiny_csv, out) == 0
    manifest = json.loads((out / "featureproof.json").read_text())
    assert manifest["kind"] == "run" and {"index.html", "metrics.json", "model.pt"} <= set(manifest["files"])
    assert set(manifest["files"]) | {"featureproof.json"} == {p.name for p in out.iterdir()}
    created = json.loads((out / "metrics.json").read_text())["created"]
    capsys.readouterr()

    assert _run(tiny_csv, out) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert json.loads((out / "metrics.json").read_text())["created"] == created

    assert _run(tiny_csv, out, "--overwrite", "--seed", "1") == 0
    assert json.loads((out / "config.json").read_text())["config"]["seed"] == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_own_folder_with_a_foreign_file_is_never_replaced(tmp_path, tiny_csv, capsys):
    out = tmp_path / "run"
    assert _run(tiny_csv, out) == 0
    (out / "my_notes.md").write_text("keep me")
    assert _run(tiny_csv, out, "--overwrite") == 2
    assert "did not write (my_notes.md)" in capsys.readouterr().err
    assert (out / "my_notes.md").read_text() == "keep me" and (out / "index.html").exists()


def test_a_file_appearing_during_the_run_is_kept_and_so_are_the_results(tmp_path, tiny_csv, monkeypatch, capsys):
    """The folder is checked again just before publishing; the new results then go to a side folder."""
    import pipeline.reporting.run_folder

    out = tmp_path / "run"
    assert _run(tiny_csv, out) == 0
    real = pipeline.reporting.run_folder.render_run_report

    def render_and_meddle(*a, **k):
        (out / "added_meanwhile.txt").write_text("mine")
        return real(*a, **k)

    monkeypatch.setattr(pipeline.reporting.run_folder, "render_run_report", render_and_meddle)
    assert _run(tiny_csv, out, "--overwrite") == 2
    err = capsys.readouterr().err
    assert "added_meanwhile.txt" in err and "new results are in" in err
    assert (out / "added_meanwhile.txt").read_text() == "mine"
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("run.new-")]
    assert len(kept) == 1 and (kept[0] / "index.html").exists() and (kept[0] / "featureproof.json").exists()


def test_empty_existing_folder_is_used(tmp_path, tiny_csv):
    out = tmp_path / "empty"
    out.mkdir()
    assert _run(tiny_csv, out) == 0 and (out / "index.html").exists()


def test_out_that_is_a_file(tmp_path, tiny_csv, monkeypatch, capsys):
    path = tmp_path / "report.html"
    path.write_text("<html>mine</html>")
    _no_training(monkeypatch)
    assert _run(tiny_csv, path, "--overwrite") == 2
    assert "is a file" in capsys.readouterr().err and path.read_text() == "<html>mine</html>"


def test_features_out_file_needs_overwrite(tmp_path, tiny_csv, monkeypatch, capsys):
    path = tmp_path / "features.csv"
    path.write_text("mine")
    args = ["features", "--data", str(tiny_csv), "--features", "ohlcv", "--out", str(path)]
    assert main(args) == 2 and "--overwrite" in capsys.readouterr().err and path.read_text() == "mine"
    assert main([*args, "--overwrite"]) == 0 and path.read_text().startswith("date,")


def test_interrupted_write_leaves_the_old_folder(tmp_path, tiny_csv, monkeypatch, capsys):
    import pipeline.reporting.run_folder

    out = tmp_path / "run"
    assert _run(tiny_csv, out) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline.reporting.run_folder, "render_run_report", interrupted)
    assert _run(tiny_csv, out, "--overwrite") == 130
    assert "no output was written or replaced" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_publish_replaces_a_folder_whole(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(fpio, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    with fpio.atomic_dir(out, "run") as tmp:
        (tmp / "a.txt").write_text("old")
        (tmp / "old_only.txt").write_text("old")
    with fpio.atomic_dir(out, "run", overwrite=True) as tmp:
        (tmp / "a.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "featureproof.json"]
    assert (out / "a.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_stale_temporaries_of_dead_processes_are_swept(tmp_path):
    dead = 2**22 + 12345  # above the default pid_max: no such process
    while fpio._pid_alive(dead):
        dead += 1
    stale = tmp_path / f".run.fp-{fpio._HOST}-{dead}-abc123.tmp"
    stale.mkdir()
    (stale / "index.html").write_text("half")
    aside = tmp_path / f".kept.fp-{fpio._HOST}-{dead}-xyz789.old"  # killed between the two renames
    aside.mkdir()
    (aside / "metrics.json").write_text("{}")
    alive = tmp_path / f".other.fp-{fpio._HOST}-{os.getpid()}-abc.tmp"
    alive.mkdir()
    foreign = tmp_path / ".something.tmp"
    foreign.write_text("not ours")
    fpio.sweep_stale(tmp_path)
    assert not stale.exists() and alive.exists() and foreign.exists()
    assert (tmp_path / "kept" / "metrics.json").exists() and not aside.exists()


def test_update_dir_refuses_folders_it_did_not_write(tmp_path):
    (tmp_path / "x.txt").write_text("mine")
    with pytest.raises(InputError, match="not a featureproof folder"):
        with fpio.update_dir(tmp_path):
            pass
    assert (tmp_path / "x.txt").read_text() == "mine"


def test_reports_index_is_not_added_to_a_users_folder(tmp_path, tiny_csv):
    (tmp_path / "my_paper.pdf").write_text("pdf")
    assert _run(tiny_csv, tmp_path / "run") == 0
    assert not (tmp_path / "index.html").exists()
    reports = tmp_path / "reports"
    assert _run(tiny_csv, reports / "a") == 0
    assert (reports / "index.html").exists()


def test_unwritable_out_is_refused_before_work(tmp_path, tiny_csv, monkeypatch, capsys):
    if os.geteuid() == 0:
        monkeypatch.setattr(os, "access", lambda path, mode: not str(path).startswith(str(tmp_path / "locked")))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    _no_training(monkeypatch)
    try:
        assert _run(tiny_csv, locked / "deeper" / "run") == 2
    finally:
        locked.chmod(0o755)
    assert "not a writable folder" in capsys.readouterr().err


def test_disk_errors_while_writing_are_one_line(tmp_path, tiny_csv, monkeypatch, capsys):
    import errno

    import pipeline.reporting.run_folder

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x" / "index.html"))

    monkeypatch.setattr(pipeline.reporting.run_folder, "render_run_report", full)
    assert _run(tiny_csv, tmp_path / "x") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0]
    assert not (tmp_path / "x").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def _fake_run(root, name: str, created: str, accuracy: dict[int, float]) -> None:
    import json

    from pipeline.io import write_manifest

    folder = root / name
    folder.mkdir()
    results = [
        {
            "horizon": h,
            "headline_metric": "accuracy",
            "comparator": "majority",
            "model": {"accuracy": a},
            "baselines": {"majority": {"accuracy": 0.5}},
            "verdict": f"h={h}: verdict",
        }
        for h, a in accuracy.items()
    ]
    (folder / "metrics.json").write_text(
        json.dumps(
            {
                "created": created,
                "symbols": ["X"],
                "target": "direction",
                "feature_spec": "ohlcv",
                "horizon_results": results,
            }
        )
    )
    write_manifest(folder, "run")


def test_reports_index_rows_per_horizon_sort_keys_and_filter(tmp_path):
    """Every horizon gets a row; dates and numbers carry sort keys (the browser test sorts by them)."""
    from pipeline.reporting.index import update_index

    _fake_run(tmp_path, "b", "2026-11-28T09:00:00", {1: 0.51, 5: 0.62})
    _fake_run(tmp_path, "a", "2025-01-02T10:00:00", {1: 0.7, 10: 0.45})
    html = update_index(tmp_path).read_text()
    assert html.count('<tr class="run">') == 4 and "2 runs, 0 comparisons and 0 searches" in html
    assert 'data-sort="2025-01-02T10:00:00"' in html and 'data-sort="0.45"' in html
    # sorting and filtering in a real browser: tests/test_browser.py


def test_human_labels_keep_the_raw_key_as_tooltip():
    from pipeline.labels import label, label_html

    assert (
        label("balanced_accuracy") == "balanced accuracy"
        and label("mcnemar_vs_comparator") == "McNemar vs comparator baseline"
    )
    assert (
        label("direction_h5") == "5-day direction" and label("xs_direction_h10") == "10-day cross-sectional direction"
    )
    assert label("baseline:majority") == "majority class (baseline)" and label("lstm_shap") == "expected gradients"
    assert label("my_own_feature") == "my own feature" and label("ohlcv+technical") == "ohlcv+technical"
    assert str(label_html("auc")) == '<span class="key" title="auc">ROC AUC</span>'
    assert str(label_html("<b>x</b>")) == "&lt;b&gt;x&lt;/b&gt;"  # escaped, no tooltip when nothing to explain


def test_headings_name_a_few_symbols_and_seeds_read_in_words():
    from pipeline.labels import seeds_text, symbols_text

    assert symbols_text(["SP500"]) == "SP500"
    assert symbols_text([f"S{i}" for i in range(5)]) == "S0, S1, S2, S3, S4"
    assert symbols_text([f"S{i}" for i in range(64)]) == "S0, S1, S2, S3 and 60 more"
    assert seeds_text([0]) == "1 seed (0)" and seeds_text([3, 4]) == "2 seeds (3, 4)"


def test_metrics_json_follows_its_published_schema(tmp_path, tiny_csv):
    """metrics.json carries its schema_version and validates against docs/schemas/metrics.schema.json, the
    contract a notebook, MLflow or another tool reads it by."""
    jsonschema = pytest.importorskip("jsonschema")
    from pathlib import Path

    from pipeline.reporting.run_folder import METRICS_SCHEMA_VERSION

    schema = json.loads((Path(__file__).resolve().parents[1] / "docs" / "schemas" / "metrics.schema.json").read_text())
    assert _run(tiny_csv, tmp_path / "run", "--horizons", "1,5") == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["schema_version"] == METRICS_SCHEMA_VERSION == schema["properties"]["schema_version"]["const"]
    jsonschema.validate(metrics, schema)
    broken = {**metrics, "horizon_results": [{k: v for k, v in metrics["horizon_results"][0].items() if k != "edge"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
