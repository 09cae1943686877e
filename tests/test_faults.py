"""Faults with real processes: SIGKILL and SIGTERM a ``run`` mid-training and mid-report-writing, SIGKILL a
yfinance cache write mid-write, and kill Ray workers mid-job. After each: no corrupt file, the earlier
outputs are intact, and the next run works (and sweeps what the killed process left behind)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import FAST

from pipeline.stages import ledger

ROOT = Path(__file__).resolve().parents[1]

# A wrapper around the real CLI that announces a stage on stdout (and, for the writer, holds there), so
# the test can kill the process at a known point. Everything else is the real code path.
WRAPPER = textwrap.dedent("""
    import sys, time
    import pipeline.reporting.run_folder as run
    import pipeline.stages.fit as fit_stage
    stage = sys.argv[1]
    if stage == "training":
        real = fit_stage.fit
        def announce(prepared, log):
            print("STAGE training", flush=True)
            return real(prepared, log)
        fit_stage.fit = announce
    elif stage == "writing":
        real_render = run.render_run_report
        def hold(*a, **k):  # config.json, metrics.json, predictions.csv, model.pt are written by now
            print("STAGE writing", flush=True)
            time.sleep(120)
            return real_render(*a, **k)
        run.render_run_report = hold
    elif stage == "published":  # the folder is published; the ledger's entries are not marked done yet
        import pipeline.stages.ledger as ledger
        def hold_mark(*a, **k):
            print("STAGE published", flush=True)
            time.sleep(120)
        ledger.mark_done = hold_mark
    from pipeline.cli.main import main
    raise SystemExit(main(sys.argv[2:]))
""")


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _start(stage: str, argv: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", WRAPPER, stage, *argv],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for(proc: subprocess.Popen, marker: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    for line in proc.stdout:
        if line.startswith(marker):
            return
        if time.time() > deadline:
            break
    proc.kill()
    raise AssertionError(f"never reached {marker!r}: {proc.stderr.read()[-2000:]}")


@pytest.fixture
def earlier_run(tmp_path, tiny_csv):
    from pipeline.cli.main import main

    out = tmp_path / "reports" / "run"
    argv = ["run", "--data", str(tiny_csv), *FAST, "--ablation", "none", "--no-explain", "--out", str(out)]
    assert main(argv) == 0
    return out, argv


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("stage", ["training", "writing"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_run_leaves_the_earlier_outputs_intact(stage, sig, earlier_run, tmp_path):
    out, argv = earlier_run
    before = _snapshot(out)
    slow = ["--epochs", "300", "--patience", "300"] if stage == "training" else []
    proc = _start(stage, [*argv, *slow, "--overwrite"], tmp_path)
    _wait_for(proc, f"STAGE {stage}")
    time.sleep(1.0)  # well inside the stage
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert proc.returncode == (-9 if sig == signal.SIGKILL else 130), proc.stderr.read()[-2000:]
    if sig == signal.SIGTERM:
        assert "Traceback" not in proc.stderr.read()
    assert _snapshot(out) == before  # old folder, byte for byte: never a mix
    book = out.parent / ledger.LEDGER
    assert [c["configurations"] for c in ledger.counts(book)] == [1]  # the killed run's entries do not count
    left = _hidden(out.parent)
    if sig == signal.SIGTERM or stage == "training":
        assert left == []  # SIGTERM unwinds and removes its temporary folder; training writes nothing
    else:
        assert len(left) == 1 and left[0].startswith(".run.fp-") and left[0].endswith(".tmp")  # hidden, swept later
    # the next run works, replaces the folder and sweeps what the killed process left
    from pipeline.cli.main import main

    assert main([*argv, "--overwrite", "--seed", "3"]) == 0
    assert json.loads((out / "config.json").read_text())["config"]["seed"] == 3
    assert [a["count"] for a in json.loads((out / "metrics.json").read_text())["ledger"]] == [
        2
    ]  # the earlier run and this one
    assert _hidden(out.parent) == []
    manifest = json.loads((out / "featureproof.json").read_text())
    assert set(manifest["files"]) | {"featureproof.json"} == {p.name for p in out.iterdir()}


def test_a_run_killed_after_publishing_is_counted(earlier_run, tmp_path):
    """Killed between publishing its folder and marking its ledger entries done: the entries count (the folder
    carries their token), so a finished report is never missing from the ledger."""
    out, argv = earlier_run
    new = out.parent / "second"
    assert argv[-2:] == ["--out", str(out)]
    proc = _start("published", [*argv[:-2], "--out", str(new), "--seed", "5"], tmp_path)
    _wait_for(proc, "STAGE published")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert (new / "metrics.json").is_file()
    assert [c["configurations"] for c in ledger.counts(out.parent / ledger.LEDGER)] == [2]


CACHE_WRITER = textwrap.dedent("""
    import sys, time
    import pandas as pd
    import pyarrow.parquet as pq
    import yfinance
    from pipeline.data.load import load_sample_prices
    from pipeline.data import yf as yfsrc

    prices = load_sample_prices(["SP500"])["SP500"]

    def download(ticker, start=None, end=None, **kw):  # the shape yfinance.download returns
        part = prices.loc[pd.Timestamp(start): pd.Timestamp(end) - pd.Timedelta(days=1)]
        data = part[["close", "high", "low", "open", "volume"]].copy()
        data.columns = pd.MultiIndex.from_tuples([(c, ticker) for c in ["Close", "High", "Low", "Open", "Volume"]],
                                                 names=["Price", "Ticker"])
        data.index = pd.DatetimeIndex(part.index, name="Date")
        return data

    yfinance.download = download
    if sys.argv[1] == "hold":
        real = pq.write_table
        def half_then_hold(table, where, **kw):
            real(table, where, **kw)
            with open(where, "r+b") as fh:
                fh.truncate(100)  # a half-written file
            print("STAGE cache-write", flush=True)
            time.sleep(120)
        pq.write_table = half_then_hold
    frame = yfsrc.fetch_cached("AAPL", sys.argv[3], sys.argv[4], sys.argv[2])
    print("ROWS", len(frame), flush=True)
""")


def test_killed_cache_write_leaves_the_cache_readable(tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.run(
        [sys.executable, "-c", CACHE_WRITER, "go", str(cache), "2015-01-01", "2015-07-01"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.returncode == 0, first.stderr
    [path] = list(cache.glob("AAPL_*.parquet"))
    before = path.read_bytes()

    proc = subprocess.Popen(
        [sys.executable, "-c", CACHE_WRITER, "hold", str(cache), "2015-01-01", "2016-01-01"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _wait_for(proc, "STAGE cache-write")
    proc.kill()
    proc.wait(timeout=30)
    assert path.read_bytes() == before  # the cache file itself was never touched
    assert len(_hidden(cache)) == 1  # the half-written temporary, under a hidden name

    again = subprocess.run(
        [sys.executable, "-c", CACHE_WRITER, "go", str(cache), "2015-01-01", "2016-01-01"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0 and "unreadable" not in again.stderr, again.stderr
    assert "ROWS 252" in again.stdout
    assert _hidden(cache) == []  # swept


def test_ray_retries_a_job_whose_worker_was_killed_and_names_one_that_keeps_dying(tmp_path):
    ray = pytest.importorskip("ray")
    from pipeline.errors import JobError
    from pipeline.stages.executor import RAY_MAX_RETRIES, run_jobs

    marker_dir = str(tmp_path)

    class Job:
        def __init__(self, n, always=False):
            self.n, self.always = n, always

        def describe(self):
            return f"set demo, fold {self.n}, seed 0"

    def dies_once(job):
        import os
        import signal

        marker = os.path.join(marker_dir, f"attempt-{job.n}")
        if job.always or not os.path.exists(marker):
            with open(marker, "a") as fh:
                fh.write("x")
            os.kill(os.getpid(), signal.SIGKILL)  # the worker process dies mid-job
        return job.n * 10

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert run_jobs(dies_once, [Job(1), Job(2)], "ray") == [10, 20]  # Ray re-ran both on new workers
        with pytest.raises(JobError) as info:
            run_jobs(dies_once, [Job(3, always=True)], "ray")
    finally:
        ray.shutdown()
    message = str(info.value)
    assert message.startswith(f"job (set demo, fold 3, seed 0) failed on Ray after {RAY_MAX_RETRIES} retries")
    assert "\n" not in message
    assert (tmp_path / "attempt-3").read_text() == "x" * (RAY_MAX_RETRIES + 1)
