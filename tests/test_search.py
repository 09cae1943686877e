"""``python -m pipeline search``: the selection statistics against hand-computed and published values, the space's
refusals, the held-back days the trials never see, resume, two workers on one storage, and the refusal to mix
storages of different data."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math

import numpy as np
import pandas as pd
import pytest

from pipeline.calibration.simulate import random_walk_frame
from pipeline.cli.main import main
from pipeline.config.schema import RunConfig
from pipeline.config.space import load_space, make_space
from pipeline.errors import InputError
from pipeline.evaluation.selection import (
    deflated_sharpe,
    expected_max_sharpe,
    pbo,
    probabilistic_sharpe,
    reality_check,
    timing_excess,
)

SMALL = """
[window]
low = 10
high = 30
step = 10
[model]
choices = ["linear"]
[lr]
low = 1e-3
high = 1e-2
log = true
[groups]
"""
FAST = [
    "--horizons",
    "1",
    "--epochs",
    "3",
    "--patience",
    "2",
    "--folds",
    "2",
    "--bootstrap",
    "0",
    "--lgbm-lags",
    "2",
    "--no-explain",
    "--ablation",
    "none",
    "--no-progress",
]


# --------------------------------------------------------------------------- PBO and DSR against known values
def test_pbo_hand_computed_case():
    """4 periods in 4 blocks, 3 configurations: the 6 in-sample halves worked by hand (see the comments)."""
    perf = np.array([[3, 2, 1], [1, 3, 2], [2, 1, 3], [3, 1, 2]], dtype=float)
    res = pbo(perf, n_blocks=4)
    # IS {0,1}: best c1, OOS rank 1 -> w 1/4;  {0,2}: best c0, OOS tie (2,2,2) -> rank 2 -> w 1/2
    # {0,3}: best c0, OOS rank 1 -> 1/4;       {1,2}: best c2, OOS tie with c1 at 1.5 -> w 1.5/4
    # {1,3}: IS tie -> c0, OOS rank 3 -> 3/4;  {2,3}: IS tie c0/c2 -> c0, OOS rank 2 -> 1/2
    w = np.array([1 / 4, 1 / 2, 1 / 4, 1.5 / 4, 3 / 4, 1 / 2])
    np.testing.assert_allclose(res["logits"], np.log(w / (1 - w)))
    assert res["pbo"] == pytest.approx(5 / 6) and res["n_splits"] == 6
    # one configuration best everywhere: never overfit; the best in-sample is always worst out of sample: always
    assert pbo(np.array([[1.0, 0.0], [1.0, 0.0]]), n_blocks=2)["pbo"] == 0.0
    assert pbo(np.array([[1.0, 0.0], [0.0, 1.0]]), n_blocks=2)["pbo"] == 1.0


def test_pbo_of_noise_is_about_one_half():
    rng = np.random.default_rng(0)
    values = [pbo(rng.normal(size=(320, 20)))["pbo"] for _ in range(20)]
    assert 0.3 < np.mean(values) < 0.7


def test_deflated_sharpe_matches_the_papers_worked_example():
    """Bailey and López de Prado (2014), section 'A numerical example': annualised SR 2.5 over 1,250 days, 100
    trials with annualised Sharpe variance 0.5, skew -3, kurtosis 10 -> SR0 = 0.1132 per day, DSR = 0.9004."""
    sr0 = expected_max_sharpe(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=1e-4)
    assert probabilistic_sharpe(2.5 / np.sqrt(250), sr0, 1250, -3.0, 10.0) == pytest.approx(0.9004, abs=1e-4)


def test_deflated_sharpe_of_returns_uses_their_moments():
    rng = np.random.default_rng(1)
    r = rng.standard_t(5, 1000) * 0.01 + 0.001
    trials = rng.normal(0, 0.03, 50)
    d = deflated_sharpe(r, trials)
    sr = r.mean() / r.std(ddof=1)
    assert d["sharpe"] == pytest.approx(sr) and d["n_trials"] == 50
    assert d["dsr"] == pytest.approx(
        probabilistic_sharpe(sr, expected_max_sharpe(50, np.var(trials, ddof=1)), 1000, d["skew"], d["kurtosis"])
    )
    # more trials with the same dispersion raise the bar
    assert deflated_sharpe(r, np.r_[trials, trials])["dsr"] < d["dsr"]


def test_reality_check_finds_a_better_model_and_not_noise():
    rng = np.random.default_rng(2)
    bench = rng.normal(1, 1, 600)
    models = rng.normal(1, 1, (600, 6))
    null = reality_check(bench, models, reps=300)
    assert null["stepm_superior"] == []
    models[:, 3] -= 0.6
    found = reality_check(bench, models, reps=300)
    assert found["spa_p"] < 0.05 and found["stepm_superior"] == [3]
    # a configuration that makes the benchmark's calls every day (no variance) is never "better"
    same = np.column_stack([bench, bench, models[:, 3]])
    assert reality_check(bench, same[:, :2], reps=300)["spa_p"] == 1.0
    assert reality_check(bench, same, reps=300)["stepm_superior"] == [2]


def test_spa_is_studentised_a_steady_edge_is_not_masked_by_noisy_configurations():
    """The issue's snippet: a steady edge (t about 3.4 over 1,000 days) alone, and beside five zero-edge
    configurations with ten times its spread. arch 8.0's SPA compares raw means (p = 0.32 here before the
    differentials were studentised); Hansen's statistic is the largest t-statistic."""
    rng = np.random.default_rng(1)
    z = rng.standard_normal(1000)
    steady = 0.1 + 0.93 * (z - z.mean()) / z.std()
    noisy = 9.3 * rng.standard_normal((1000, 5))
    alone = reality_check(np.zeros(1000), -steady[:, None])
    beside = reality_check(np.zeros(1000), -np.column_stack([steady, noisy]))
    assert alone["spa_p"] < 0.05 and beside["spa_p"] < 0.05 and beside["stepm_superior"] == [0]
    assert beside["studentised"]


def test_spa_size_with_unequal_spreads_and_no_edge():
    """No configuration has an edge; spreads from 1 to 10: the studentised SPA rejects at about its nominal rate
    (60 draws here, the study runs 1,000: 'selection:' cells in docs/calibration.md)."""
    from pipeline.calibration.study import spa_claims

    rng = np.random.default_rng(11)
    rates = pd.DataFrame([spa_claims(rng) for _ in range(60)]).mean()
    assert (rates <= 0.12).all(), rates[rates > 0.12]


def test_dsr_deflates_the_excess_over_random_timing_not_zero():
    """30 no-skill long/flat trials on a rising market: the raw returns' DSR passes often, the excess's almost
    never; a trial that knows the next day's sign on 15% of days passes."""
    from pipeline.calibration.study import dsr_claims

    rng = np.random.default_rng(5)
    null = pd.DataFrame([dsr_claims(rng) for _ in range(40)]).mean()
    excess = null[null.index.str.startswith("selection:")].iloc[0]
    raw = null[null.index.str.startswith("legacy")].iloc[0]
    assert excess <= 0.10 and raw >= 0.25
    planted = np.mean([next(iter(dsr_claims(rng, planted=True).values())) for _ in range(20)])
    assert planted >= 0.6
    # timing_excess: random timing with the same exposure earns exposure x the asset's return
    assert np.allclose(timing_excess(np.array([0.01, 0.0]), np.array([0.01, 0.02]), 0.5), [0.005, -0.01])


# --------------------------------------------------------------------------- the space
def test_space_refusals(tmp_path):
    def bad(text: str, match: str):
        path = tmp_path / "space.toml"
        path.write_text(text)
        with pytest.raises(InputError, match=match):
            load_space(str(path))

    bad("[windw]\nlow = 10\nhigh = 20\n", "unknown knob 'windw'")
    bad("[window]\nlow = 50\nhigh = 20\n", "empty range")
    bad("[model]\nchoices = []\n", "choices is empty")
    bad("[model]\nchoices = ['lstm', 'xgboost']\n", "'xgboost' is not one of")
    bad("[weight_decay]\nlow = 0\nhigh = 1e-2\nlog = true\n", "log scale needs low > 0")
    bad("[window]\nlow = 10\nhigh = 5000\n", "outside")
    bad("[window\n", "not valid TOML")
    assert load_space(None).max_window == 120
    assert make_space({"window": {"value": 30}}).max_window == 30


def test_search_refuses_a_window_longer_than_the_data(tmp_path, capsys):
    csv = tmp_path / "walk.csv"
    random_walk_frame(400, seed=3).to_csv(csv, index=False)
    space = tmp_path / "space.toml"
    space.write_text("[window]\nlow = 10\nhigh = 900\n")
    rc = main(
        [
            "search",
            "--source",
            "csv",
            "--data",
            str(csv),
            "--space",
            str(space),
            "--trials",
            "2",
            "--out",
            str(tmp_path / "s"),
            *FAST,
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "window 900" in err and len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- the search end to end
@pytest.fixture
def walk(tmp_path):
    csv = tmp_path / "walk.csv"
    random_walk_frame(1600, seed=4).to_csv(csv, index=False)
    space = tmp_path / "space.toml"
    space.write_text(SMALL)
    return csv, space


def test_trials_never_see_the_held_back_days(walk):
    from pipeline.stages.search import make_context, score_trial, trial_config

    csv, space_path = walk
    cfg = RunConfig(
        source="csv",
        data=str(csv),
        horizons=[1, 5],
        epochs=2,
        patience=1,
        folds=2,
        bootstrap=0,
        lgbm_lags=2,
        progress=False,
    ).validate()
    ctx = make_context(cfg, load_space(str(space_path)), holdout=0.2)
    cut = pd.Timestamp(ctx.holdout_start)
    assert max(p.index.max() for p in ctx.search_data.prices.values()) < cut
    assert max(t.frame.index.max() for t in ctx.search_data.tables.values()) < cut
    assert ctx.days.max() < cut and ctx.n_holdout_days > 200
    # every trial scores on the same days, whatever its window
    a = score_trial(ctx, trial_config(ctx, {"window": 10, "model": "linear"}))
    b = score_trial(ctx, trial_config(ctx, {"window": 30, "model": "linear", "group:ma": "out"}))
    assert a.day_edge.index.equals(b.day_edge.index) and a.day_edge.index.max() < cut
    assert len(a.day_edge) == len(ctx.days)
    # the user's own --exclude-groups hold in every trial, and are not searched
    ctx2 = make_context(dataclasses.replace(cfg, exclude_groups=["ma"]), load_space(str(space_path)), holdout=0.2)
    assert "ma" not in ctx2.groups
    drop_all = {f"group:{g}": "out" for g in ctx2.groups}
    trial = trial_config(ctx2, {"window": 10, "model": "linear", **drop_all})
    assert "ma" in trial.exclude_groups and len(set(ctx2.groups) - set(trial.exclude_groups)) == 1
    assert score_trial(ctx2, trial).day_edge.index.equals(a.day_edge.index)
    # the final configuration's test days are exactly the held-back days
    final = trial_config(
        ctx, {"window": 10, "model": "linear"}, test_start=ctx.holdout_start, folds=1, sample_start=None
    )
    from pipeline.stages.prepare import prepare

    prepared = prepare(final)
    test_dates = prepared.ws.dates[prepared.test_idx]
    assert test_dates.min() == np.datetime64(cut) and len(np.unique(test_dates)) == ctx.n_holdout_days
    train_end = prepared.ws.dates[prepared.folds[0].val].max()
    assert train_end < np.datetime64(cut)


def test_search_writes_its_report_and_resumes(walk, tmp_path, capsys):
    csv, space = walk
    out = tmp_path / "search"
    args = ["search", "--source", "csv", "--data", str(csv), "--space", str(space), "--out", str(out), *FAST]
    assert main([*args, "--trials", "3"]) == 0
    for name in ("search.html", "trials.csv", "search.json", "search.db", "run/index.html", "run/metrics.json"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "search.json").read_text())
    assert summary["trials"] == 3 and summary["holdout_start"] and math.isfinite(summary["holdout_edge"])
    html = (out / "search.html").read_text()
    assert "held-back days" in html and "Optimism" in html and "backtest overfitting" in html
    run_metrics = json.loads((out / "run" / "metrics.json").read_text())
    first_test = min(p["date"] for p in [{"date": d} for d in pd.read_csv(out / "run" / "predictions.csv").date])
    assert first_test == summary["holdout_start"] and run_metrics["horizon_results"][0]["verdict"]
    # the folder is not reused without --resume (or --overwrite)
    capsys.readouterr()
    assert main([*args, "--trials", "4"]) == 2
    assert "--resume" in capsys.readouterr().err
    # resume after the held-back days were judged: refused (another try at the same days) before any trial runs
    capsys.readouterr()
    assert main([*args, "--trials", "5", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "--rejudge" in err and "judged already (1 time" in err and len(err.strip().splitlines()) == 1
    assert len(pd.read_csv(out / "trials.csv")) == 3
    # --rejudge: two more trials, the first three kept; the second judgement goes to run-2, the first stays, the page
    # leads with the count and the ledger counts both judgements
    assert main([*args, "--trials", "5", "--resume", "--rejudge"]) == 0
    trials = pd.read_csv(out / "trials.csv")
    assert sorted(trials.trial) == [0, 1, 2, 3, 4]
    summary = json.loads((out / "search.json").read_text())
    assert [j["folder"] for j in summary["holdout_judgements"]] == ["run", "run-2"] and summary["run"] == "run-2"
    assert (out / "run" / "index.html").is_file() and (out / "run-2" / "index.html").is_file()
    assert "judged 2 times" in (out / "search.html").read_text()
    assert json.loads((out / "run-2" / "metrics.json").read_text())["ledger"][0]["count"] == 2
    # a storage that belongs to another data set is refused in one line
    other = tmp_path / "other.csv"
    random_walk_frame(1600, seed=5).to_csv(other, index=False)
    capsys.readouterr()
    rc = main(
        [
            "search",
            "--source",
            "csv",
            "--data",
            str(other),
            "--space",
            str(space),
            "--out",
            str(tmp_path / "s2"),
            "--storage",
            f"sqlite:///{out / 'search.db'}",
            "--trials",
            "6",
            *FAST,
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "other data" in err and len(err.strip().splitlines()) == 1


def test_two_workers_share_one_storage(walk, tmp_path):
    """Two local worker processes on one SQLite study: exactly --trials trials, none lost, none duplicated."""
    csv, space = walk
    out = tmp_path / "search"
    track = ["--track", f"sqlite:///{tmp_path / 'track.db'}"] if importlib.util.find_spec("mlflow") else []
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
                str(out),
                "--trials",
                "4",
                "--workers",
                "2",
                *track,
                *FAST,
            ]
        )
        == 0
    )
    if track:  # two forked workers logged their trials to one SQLite store at once
        from tests.test_tracking import check_search_runs

        check_search_runs(track[1], 4)
    trials = pd.read_csv(out / "trials.csv")
    assert sorted(trials.trial) == [0, 1, 2, 3]
    assert set(trials.state) <= {"complete", "pruned"}
    params = trials[["window", "lr"]].round(12).apply(tuple, axis=1)
    assert params.is_unique  # two workers did not run the same suggestion twice


def test_the_reports_index_lists_a_search(walk, tmp_path):
    csv, space = walk
    root = tmp_path / "reports"
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
                str(root / "s"),
                "--trials",
                "2",
                *FAST,
            ]
        )
        == 0
    )
    html = (root / "index.html").read_text()
    assert "1 search" in html and "s/search.html" in html and '<tr class="search">' in html


def test_two_ray_workers_share_one_storage(walk, tmp_path):
    """The same through the executor's Ray path: two Ray tasks, one SQLite study, exactly --trials trials."""
    ray = pytest.importorskip("ray")
    csv, space = walk
    out = tmp_path / "search"
    track = ["--track", f"sqlite:///{tmp_path / 'track.db'}"] if importlib.util.find_spec("mlflow") else []
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rc = main(
            [
                "search",
                "--source",
                "csv",
                "--data",
                str(csv),
                "--space",
                str(space),
                "--out",
                str(out),
                "--trials",
                "4",
                "--workers",
                "2",
                "--executor",
                "ray",
                *track,
                *FAST,
            ]
        )
    finally:
        ray.shutdown()
    assert rc == 0
    assert sorted(pd.read_csv(out / "trials.csv").trial) == [0, 1, 2, 3]
    if track:  # the two Ray workers logged their trials to one SQLite store at once: none lost, none twice
        from tests.test_tracking import check_search_runs

        check_search_runs(track[1], 4)


def test_stepm_steps_down_and_stops_when_every_configuration_is_better():
    """arch 8.0's StepM goes on with no model left when a later step finds all the rest better (and fails on
    an empty array); ours steps down on the studentised statistics and stops when it has named them all."""
    rng = np.random.default_rng(2)
    bench = rng.normal(0, 1, 300)
    m = np.column_stack(
        [
            bench - 1.0 + rng.normal(0, 1, 300),
            bench - 0.25 + rng.normal(0, 1, 300),
            bench - 0.25 + rng.normal(0, 1, 300),
        ]
    )
    assert reality_check(bench, m, reps=200)["stepm_superior"] == [0, 1, 2]
    noise = rng.normal(0, 1, 300)
    assert reality_check(bench, np.column_stack([m[:, 0], bench + noise - noise.mean()]), reps=200)[
        "stepm_superior"
    ] == [0]


def test_trial_config_keeps_every_trial_valid(walk):
    """A transformer's hidden size becomes a multiple of its heads, LightGBM's lags fit the window, and a trial
    that drops every searched group keeps the first one: the chosen configuration always passes the schema."""
    from pipeline.stages.search import make_context, trial_config

    csv, space_path = walk
    cfg = RunConfig(
        source="csv", data=str(csv), horizons=[1], epochs=2, folds=2, bootstrap=0, lgbm_lags=5, progress=False
    ).validate()
    ctx = make_context(cfg, load_space(str(space_path)), holdout=0.2)
    t = trial_config(ctx, {"model": "transformer", "hidden": 30, "window": 3})
    assert t.hidden == 28 and t.lgbm_lags == 3
    t = trial_config(ctx, {f"group:{g}": "out" for g in ctx.groups})
    assert set(ctx.groups) - set(t.exclude_groups) == {ctx.groups[0]}


def test_score_all_on_test_puts_every_trial_in_the_ledger(walk, tmp_path):
    """With --score-all-on-test every complete trial is judged on the held-back days: the ledger counts each one
    (the chosen one once, through its final run), and the final run's answer counts them all."""
    from pipeline.stages import ledger

    csv, space = walk
    root = tmp_path / "reports"
    track = ["--track"] if importlib.util.find_spec("mlflow") else []
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
                str(root / "s"),
                "--trials",
                "3",
                "--score-all-on-test",
                *track,
                *FAST,
            ]
        )
        == 0
    )
    summary = json.loads((root / "s" / "search.json").read_text())
    complete = len(summary["score_all_on_test"]["trials"])
    answer = json.loads((root / "s" / "run" / "metrics.json").read_text())["ledger"][0]
    assert answer["count"] == complete >= 2
    assert [c["configurations"] for c in ledger.counts(root / ledger.LEDGER)] == [complete]
    assert "entries" not in summary["score_all_on_test"]
    if track:  # the trials' entries are on the search's MLflow run too: a folder sharing the store counts them all
        from pipeline.tracking import open_store, ledger_entries

        tracker = open_store("default", root)
        kept = ledger_entries(tracker, answer_fingerprint(root))
        assert sorted(e["name"] for e in kept if e["kind"] == "search trial") == sorted(
            f"trial {n}" for n in summary["score_all_on_test"]["trials"] if n != summary["best_trial"]
        )
        assert sum(e["kind"] == "run" for e in kept) == 1


def answer_fingerprint(root) -> str:
    import sqlite3

    from pipeline.stages import ledger

    with sqlite3.connect(root / ledger.LEDGER) as con:
        return con.execute("SELECT DISTINCT fingerprint FROM entries").fetchone()[0]
