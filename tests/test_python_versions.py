"""Python 3.10 to 3.13: the code parses as 3.10, uses no 3.11+ standard-library names, falls back to
``tomli`` where ``tomllib`` is missing, and (where such interpreters with the dependencies are found) the
package imports and the CLI runs on each of them."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for folder in ("pipeline", "features", "explain") for p in (ROOT / folder).rglob("*.py"))
# standard-library names added in 3.11 or later (the ones a codebase like this is tempted to use)
NEWER = {
    ("datetime", "UTC"),
    ("enum", "StrEnum"),
    ("typing", "Self"),
    ("typing", "LiteralString"),
    ("typing", "Never"),
    ("typing", "assert_never"),
    ("typing", "reveal_type"),
    ("asyncio", "TaskGroup"),
    ("hashlib", "file_digest"),
    ("itertools", "batched"),
    ("contextlib", "chdir"),
    ("typing", "override"),
}


def test_every_module_parses_as_python_3_10():
    for path in SOURCES:
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 10))


def test_no_standard_library_names_newer_than_3_10():
    found = []
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                found += [(path.name, node.module, a.name) for a in node.names if (node.module, a.name) in NEWER]
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if (node.value.id, node.attr) in NEWER:
                    found.append((path.name, node.value.id, node.attr))
            elif isinstance(node, ast.Import):
                bare = [a.name for a in node.names if a.name == "tomllib"]
                found += [(path.name, "import", b) for b in bare if not _inside_try(tree, node)]
    assert not found, found


def _inside_try(tree: ast.AST, target: ast.AST) -> bool:
    return any(isinstance(n, ast.Try) and any(target is c for c in ast.walk(n)) for n in ast.walk(tree))


def test_config_files_work_without_tomllib(tmp_path, tiny_csv):
    """Python 3.10 has no ``tomllib``: the CLI reads --config with ``tomli`` instead."""
    pytest.importorskip("tomli")
    config = tmp_path / "c.toml"
    config.write_text('features = "ohlcv"\nstart = "2015-01-01"\n')
    code = (
        "import sys; sys.modules['tomllib'] = None\n"
        "from pipeline.cli.main import main\n"
        f"raise SystemExit(main(['features', '--data', {str(tiny_csv)!r}, '--config', {str(config)!r}, "
        f"'--out', {str(tmp_path / 'f.csv')!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "f.csv").read_text().splitlines()[1].startswith("2015-")


def _interpreters() -> list[tuple[str, str]]:
    """(version, path) of Python 3.10-3.13 interpreters: FEATUREPROOF_PYTHONS (space-separated paths), else
    python3.X on PATH."""
    listed = os.environ.get("FEATUREPROOF_PYTHONS", "").split()
    paths = listed or [p for p in (shutil.which(f"python3.{m}") for m in (10, 11, 12, 13)) if p]
    out = []
    running = "%d.%d" % sys.version_info[:2]
    for path in paths:
        version = subprocess.run(
            [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
        ).stdout.strip()
        if version != running or listed:  # the running version is what every other test exercises
            out.append((version, path))
    return out


@pytest.mark.parametrize(
    "version,python",
    _interpreters()
    or [
        pytest.param(
            "none",
            "",
            marks=pytest.mark.skip(
                reason="no Python but the running one found (every other test runs on it); set FEATUREPROOF_PYTHONS to "
                "interpreters with the dependencies"
            ),
        )
    ],
)
def test_cli_smoke_on_each_python(version, python, tmp_path, tiny_csv):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    probe = subprocess.run([python, "-c", "import pandas, ta, pyarrow, jinja2"], capture_output=True, env=env)
    if probe.returncode != 0:
        pytest.skip(f"Python {version} at {python} lacks the dependencies (pandas, ta, pyarrow, jinja2)")
    config = tmp_path / "c.toml"
    config.write_text('features = "ohlcv+technical"\n')
    done = subprocess.run(
        [
            python,
            "-m",
            "pipeline",
            "features",
            "--data",
            str(tiny_csv),
            "--config",
            str(config),
            "--out",
            str(tmp_path / "f.csv"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "bollinger" in done.stdout
    has_torch = (
        subprocess.run([python, "-c", "import torch, lightgbm, shap"], capture_output=True, env=env).returncode == 0
    )
    if has_torch:  # the whole run, too
        done = subprocess.run(
            [
                python,
                "-m",
                "pipeline",
                "run",
                "--data",
                str(tiny_csv),
                "--features",
                "ohlcv",
                "--window",
                "5",
                "--hidden",
                "4",
                "--epochs",
                "1",
                "--folds",
                "1",
                "--horizons",
                "1",
                "--bootstrap",
                "0",
                "--no-progress",
                "--out",
                str(tmp_path / "run"),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "run" / "index.html").exists()
