"""``python -m pipeline reproduce RUN_DIR``: identical numbers on the same machine; a changed CSV refused in one
line naming the symbol and the first date that differs."""

from __future__ import annotations

import json

import pandas as pd

from pipeline.cli.main import main
from pipeline.stages import ledger

from tests.conftest import TINY

FAST = [*TINY, "--horizons", "1,5", "--ablation", "none", "--no-explain"]


def test_reproduce_gives_identical_metrics_on_the_embedded_sample(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["run", "--start", "2010-01-01", "--end", "2014-12-31", *FAST, "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["reproduce", str(run), "--out", str(tmp_path / "again")]) == 0
    out = capsys.readouterr().out
    assert "every one identical" in out
    a = json.loads((run / "metrics.json").read_text())["horizon_results"]
    b = json.loads((tmp_path / "again" / "metrics.json").read_text())["horizon_results"]
    assert [e["model"] for e in a] == [e["model"] for e in b] and [e["verdict"] for e in a] == [e["verdict"] for e in b]
    saved = json.loads((run / "config.json").read_text())
    assert saved["explain_config"]["ablation"] == "none" and (run / "data_signature.parquet").is_file()
    # the same configuration again is not a new one: the ledger neither counts the original in its answer nor
    # records the repeat
    assert [a["count"] for a in b_ledger(tmp_path / "again")] == [1, 1]
    assert [c["configurations"] for c in ledger.counts(tmp_path / ledger.LEDGER)] == [1]
    # without --out, the new run goes beside the old one as <RUN_DIR>-reproduced; --no-progress as every command
    assert main(["reproduce", str(run), "--no-progress"]) == 0
    assert "every one identical" in capsys.readouterr().out
    assert (tmp_path / "run-reproduced" / "metrics.json").is_file()
    assert json.loads((tmp_path / "run-reproduced" / "config.json").read_text())["config"]["progress"] is False


def b_ledger(folder):
    return json.loads((folder / "metrics.json").read_text())["ledger"]


def test_reproduce_refuses_changed_data_naming_symbol_and_date(tmp_path, nyse_csv, capsys):
    run = tmp_path / "run"
    assert main(["run", "--source", "csv", "--data", str(nyse_csv), *FAST, "--out", str(run)]) == 0
    frame = pd.read_csv(nyse_csv)
    row = frame.index[(frame.symbol == "AAPL") & (frame.date == "2013-06-03")][0]
    frame.loc[row, "close"] *= 1.01
    frame.to_csv(nyse_csv, index=False)
    capsys.readouterr()
    assert main(["reproduce", str(run)]) == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("warning:")]
    assert len(err) == 1 and "AAPL" in err[0] and "2013-06-03" in err[0]  # (a data warning may precede it)
    assert not list(tmp_path.glob("*reproduced*"))  # nothing written


def test_reproduce_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    assert main(["reproduce", str(tmp_path / "x")]) == 2
    assert "not a featureproof run folder" in capsys.readouterr().err
