"""One schema: a default written once in ``pipeline/config/schema.py`` reaches ``--help``, TOML parsing,
``config.json`` and the trainer's configuration, and nowhere else is a default of a setting written."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import fields
from pathlib import Path

from conftest import FAST

ROOT = Path(__file__).resolve().parents[1]


def test_a_default_changed_in_the_schema_reaches_help_toml_config_json_and_the_trainer(tmp_path, tiny_csv):
    """A copy of the package whose schema says weight_decay = 3e-4 instead of 1e-4, nothing else changed."""
    for name in ("pipeline", "features", "explain"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    schema = tmp_path / "pipeline" / "config" / "schema.py"
    text = schema.read_text()
    assert text.count("weight_decay: float = opt(1e-4,") == 1
    schema.write_text(text.replace("weight_decay: float = opt(1e-4,", "weight_decay: float = opt(3e-4,"))
    toml = tmp_path / "run.toml"
    toml.write_text("window = 7\n")  # no weight decay in the file: the schema's default applies
    out = tmp_path / "run"
    script = textwrap.dedent(f"""
        import json, sys
        from pipeline.cli.main import _apply_config, build_parser, main
        from pipeline.config.schema import RunConfig
        from pipeline.models.trainer import TrainConfig
        args = _apply_config(build_parser(), ["run", "--config", {str(toml)!r}])
        cfg = RunConfig.from_args(args)
        rc = main(["run", "--data", {str(tiny_csv)!r}, *{FAST!r}, "--no-explain", "--ablation", "none",
                   "--out", {str(out)!r}])
        print(json.dumps({{"toml": cfg.weight_decay, "window": cfg.window, "trainer": TrainConfig().weight_decay, "rc": rc}}))
    """)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    got = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert got.returncode == 0, got.stderr[-2000:]
    values = json.loads(got.stdout.strip().splitlines()[-1])
    assert values == {"toml": 3e-4, "window": 7, "trainer": 3e-4, "rc": 0}
    assert json.loads((out / "config.json").read_text())["config"]["weight_decay"] == 3e-4
    help_text = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--help"], cwd=tmp_path, env=env, capture_output=True, text=True
    ).stdout
    assert re.search(r"--weight-decay WEIGHT_DECAY\s+AdamW weight decay \(default: 0\.0003\)", help_text), help_text


def test_no_default_of_a_setting_is_written_outside_the_schema():
    """argparse gets its defaults from the schema: no ``default=`` of a run or explain setting in the CLI."""
    from pipeline.config.schema import ExplainConfig, RunConfig

    names = {f.name.replace("_", "-") for cls in (RunConfig, ExplainConfig) for f in fields(cls)}
    names |= {"permutation-repeats"}
    offenders = []
    for path in (ROOT / "pipeline" / "cli").glob("*.py"):
        for m in re.finditer(r'add_argument\(\s*"--([a-z-]+)"[^)]*default=[-0-9"\'\[]', path.read_text()):
            if m.group(1) in names and m.group(1) != "lgbm-lags":  # explain RUN_DIR: default None = the run's own
                offenders.append(f"{path.name}: --{m.group(1)}")
    assert not offenders, offenders
