"""The tutorials in docs/tutorials execute from top to bottom (nbclient, a fresh kernel, a scratch folder) and leave
what they say they leave: a run folder, a compare folder, a search whose second judgement was refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is a dev dependency (pip install -e '.[dev]')")
nbclient = pytest.importorskip("nbclient", reason="nbclient is a dev dependency (pip install -e '.[dev]')")

TUTORIALS = Path(__file__).resolve().parents[1] / "docs" / "tutorials"


def execute(name: str, cwd: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(TUTORIALS / name, as_version=4)
    nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    ).execute()
    return nb


def text(nb) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", "") + json.dumps(o.get("data", {})))
    return "\n".join(out)


def test_tutorials_are_listed_in_the_docs():
    nav = (TUTORIALS.parents[1] / "mkdocs.yml").read_text()
    names = sorted(p.name for p in TUTORIALS.glob("*.ipynb"))
    assert len(names) >= 3
    for name in names:
        assert f"tutorials/{name}" in nav, name
        nb = nbformat.read(TUTORIALS / name, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
            f"{name}: commit it without outputs"
        )


def test_run_and_read(tmp_path):
    nb = execute("01-run-and-read.ipynb", tmp_path)
    shown = text(nb)
    assert (tmp_path / "runs" / "first" / "index.html").is_file()
    assert "featureproof run" in shown  # the one-screen answer's _repr_html_
    assert "horizons: 0" in shown or "horizon" in shown.split("InputError")[-1]  # the bad setting's one line


def test_compare_feature_sets(tmp_path):
    execute("02-compare-feature-sets.ipynb", tmp_path)
    folder = tmp_path / "runs" / "sp20-compare"
    assert (folder / "compare.csv").is_file() and (folder / "compare_tests.csv").is_file()


def test_search(tmp_path):
    nb = execute("03-search.ipynb", tmp_path)
    assert (tmp_path / "runs" / "search" / "search.html").is_file()
    assert "judged already" in text(nb)  # the resumed search's second judgement is refused
