"""The documentation site builds in strict mode (every link and every API reference resolves), and the Python
API's page documents the functions a notebook user calls."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_docs_site_builds_strictly_with_the_api_reference(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", **__import__("os").environ},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    for name in ("pipeline.api.run", "pipeline.api.power", "RunResult"):
        assert name in api, name
    # the CLI reference is generated from the parsers: every flag of every command is on the page
    import argparse
    import html

    from pipeline.cli.main import build_parser

    cli = html.unescape((tmp_path / "site" / "cli" / "index.html").read_text())
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert len(sub.choices) >= 9
    for name, command in sub.choices.items():
        section = cli.split(f'id="{name}"', 1)[1].split("<h3", 1)[0]
        for action in command._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue  # --help: every command's, said once above the tables
            for flag in action.option_strings:
                assert flag in section, f"{name} {flag}"
