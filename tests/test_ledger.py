"""The ledger of a reports folder: every configuration judged on the same test days is counted, with the
family-wise answer (SPA, StepM) over all of them; a run killed before publishing leaves no entry that counts,
a published one always counts; --fresh-ledger opts out and says so."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from pipeline.cli.main import main
from pipeline.stages import ledger
from tests.conftest import TINY

FAST = [*TINY, "--horizons", "1", "--ablation", "none", "--no-explain", "--start", "2010-01-01", "--end", "2014-12-31"]


def _entry(folder, diff, days, name="m", fp="abc", h=1, target="direction") -> ledger.Entry:
    """An entry on prices that agree on every day (their hash: the day's ordinal)."""
    return ledger.Entry(
        "run",
        str(folder),
        name,
        fp,
        target,
        h,
        "majority",
        pd.Series(diff, index=days),
        pd.Series(days.asi8 // 86_400_000_000_000, index=days),
    )


def _publish(folder, token):
    """A folder as atomic_dir publishes it, carrying ``token`` in its manifest."""
    from pipeline.io import write_manifest

    folder.mkdir(parents=True, exist_ok=True)
    write_manifest(folder, "run", token)


def test_pending_entries_count_only_once_their_folder_is_published(tmp_path):
    book = tmp_path / ledger.LEDGER
    days = pd.bdate_range("2020-01-01", periods=300)
    rng = np.random.default_rng(0)
    new = _entry(tmp_path / "new", rng.normal(size=300), days)
    ledger.record(book, [_entry(tmp_path / "killed", rng.normal(size=300), days)], "t-killed")  # pending, no folder
    assert ledger.earlier(book, new) == []
    _publish(tmp_path / "published", "t-published")
    ledger.record(
        book, [_entry(tmp_path / "published", rng.normal(size=300), days)], "t-published"
    )  # killed before the mark
    ledger.record(book, [_entry(tmp_path / "deleted-later", rng.normal(size=300), days)], "t-deleted")
    ledger.mark_done(book, "t-deleted")
    # killed while replacing a published folder of the same name (--overwrite): the old folder carries the old
    # token, so the killed run's pending entry does not count, and the old one still does (once)
    ledger.record(book, [_entry(tmp_path / "published", rng.normal(size=300), days)], "t-replacing")
    found = sorted(e.folder for e in ledger.earlier(book, new))
    assert found == [str(tmp_path / "deleted-later"), str(tmp_path / "published")]
    assert [c["configurations"] for c in ledger.counts(book)] == [2]
    # other data, another horizon, or too few shared days: not the same test days
    assert ledger.earlier(book, _entry(tmp_path / "x", np.zeros(300), days, fp="other")) == []
    assert ledger.earlier(book, _entry(tmp_path / "x", np.zeros(300), days, h=5)) == []
    later = pd.bdate_range("2021-01-01", periods=300)
    assert ledger.earlier(book, _entry(tmp_path / "x", np.zeros(300), later)) == []


def test_family_answer_counts_everything_and_finds_a_real_edge(tmp_path):
    days = pd.bdate_range("2020-01-01", periods=800)
    rng = np.random.default_rng(1)
    noise = [_entry(tmp_path / f"r{k}", rng.choice([-1.0, 0.0, 1.0], 800), days, name=f"r{k}") for k in range(9)]
    answer = ledger.family_answer(noise[-1], noise[:-1], h=1, reps=300)
    assert answer["count"] == 9 and answer["n_days"] == 800 and "9th configuration" in answer["sentence"]
    assert not answer["significant"]
    strong = _entry(tmp_path / "s", rng.choice([-1.0, 0.0, 1.0], 800) + 0.3, days, name="s")
    answer = ledger.family_answer(strong, noise, h=1, reps=300)
    assert answer["significant"] and answer["best_is_this"] and 9 in answer["stepm_superior"]


def test_runs_in_one_folder_count_each_other(tmp_path, capsys):
    root = tmp_path / "reports"
    for seed in ("0", "1"):
        assert main(["run", *FAST, "--seed", seed, "--out", str(root / f"run{seed}")]) == 0
    first = json.loads((root / "run0" / "metrics.json").read_text())["ledger"][0]
    second = json.loads((root / "run1" / "metrics.json").read_text())["ledger"][0]
    assert first["count"] == 1 and second["count"] == 2 and "2nd configuration" in second["sentence"]
    assert second["sentence"] in (root / "run1" / "index.html").read_text().replace("&#39;", "'")
    assert "direction: 2" in (root / "index.html").read_text()
    capsys.readouterr()
    assert main(["run", *FAST, "--seed", "2", "--fresh-ledger", "--out", str(root / "run2")]) == 0
    fresh = json.loads((root / "run2" / "metrics.json").read_text())["ledger"][0]
    assert fresh["count"] == 1 and fresh["fresh"] and "--fresh-ledger" in capsys.readouterr().out


def test_another_feature_set_on_the_same_prices_counts(tmp_path):
    root = tmp_path / "reports"
    assert main(["run", *FAST, "--features", "ohlcv", "--out", str(root / "a")]) == 0
    assert main(["run", *FAST, "--features", "ohlcv+technical", "--out", str(root / "b")]) == 0
    assert json.loads((root / "b" / "metrics.json").read_text())["ledger"][0]["count"] == 2


def test_compare_cells_are_counted_with_the_runs(tmp_path, capsys):
    root = tmp_path / "reports"
    assert main(["run", *FAST, "--features", "ohlcv", "--out", str(root / "a")]) == 0
    capsys.readouterr()
    compare = [a for a in FAST if a not in ("--ablation", "none", "--no-explain", "--shap-windows", "40")]
    assert (
        main(["compare", *compare, "--features", "ohlcv,ohlcv+technical", "--seeds", "1", "--out", str(root / "c")])
        == 0
    )
    answer = json.loads((root / "c" / "compare.json").read_text())["ledger"][0]
    assert answer["count"] == 3 and "ledger h=1: this is the 3rd configuration" in capsys.readouterr().out
    assert "this is the 3rd configuration" in (root / "c" / "index.html").read_text()
    assert main(["run", *FAST, "--features", "ohlcv", "--seed", "3", "--out", str(root / "b")]) == 0
    assert json.loads((root / "b" / "metrics.json").read_text())["ledger"][0]["count"] == 4


def test_the_skill_flag_needs_the_ledger_too_when_others_were_judged_on_the_same_days():
    """A run whose own test (Holm over its horizons) finds skill, judged after 19 noisy configurations on the same
    days: the ledger's family-wise answer (SPA, Holm over horizons) is not significant, so the skill flag is off,
    the verdict says why, and the explain stage's gate reads the gated flag. Alone, the flag stands."""
    from pipeline.stages.results import Evaluation, frozen_map

    days = pd.bdate_range("2020-01-01", periods=500)
    rng = np.random.default_rng(4)
    this = 0.004 + 0.03 * rng.standard_normal(500)  # a modest edge: own p small
    horizon = frozen_map(
        {
            "horizon": 1,
            "skill": True,
            "verdict": "The LSTM is significantly better.",
            "edge": frozen_map({"p_value": 0.01, "p_holm": 0.01, "mean": 0.004}),
        }
    )
    evaluation = Evaluation((horizon,), None, {}, None)
    alone = ledger.family_answer(_entry("this", this, days), [], 1)
    assert ledger.gate(evaluation, [alone]).skill() == {1: True}
    others = [_entry(f"o{k}", 0.3 * rng.standard_normal(500), days) for k in range(19)]
    crowd = ledger.family_answer(_entry("this", this, days), others, 1)
    assert crowd["count"] == 20 and crowd["spa_p"] >= 0.05
    gated = ledger.gate(evaluation, [crowd])
    e = gated.horizon_results[0]
    assert gated.skill() == {1: False} and e["skill_own"] and e["skill_failed"] == "ledger"
    assert "20 configurations" in e["verdict"] and "claims no skill" in e["verdict"]
    # --fresh-ledger: the answer gates nothing (the report says the ledger was not counted)
    assert ledger.gate(evaluation, [{**crowd, "fresh": True}]).skill() == {1: True}


def test_a_moved_test_start_an_added_column_and_a_later_start_are_judged_on_the_same_days(tmp_path):
    """The issue's case on one CSV of prices: a run; a run whose test block starts 20 days later; a run after the
    user added a column to the file, loaded from a later --start, whose test block starts a month earlier. The third
    counts all three (the key is the market and the judged days' OHLCV, not the loaded range or extra columns)."""
    from pipeline.calibration.simulate import random_walk_frame

    prices = random_walk_frame(1400, seed=7)
    plain = tmp_path / "prices.csv"
    prices.to_csv(plain, index=False)
    root = tmp_path / "reports"
    base = [
        "run",
        "--source",
        "csv",
        "--horizons",
        "1",
        "--window",
        "10",
        "--hidden",
        "4",
        "--epochs",
        "2",
        "--patience",
        "1",
        "--folds",
        "1",
        "--bootstrap",
        "0",
        "--lgbm-lags",
        "2",
        "--no-explain",
        "--ablation",
        "none",
        "--no-progress",
    ]
    days = pd.bdate_range("2005-01-03", periods=1400)
    assert main([*base, "--data", str(plain), "--test-start", str(days[1100].date()), "--out", str(root / "a")]) == 0
    assert main([*base, "--data", str(plain), "--test-start", str(days[1120].date()), "--out", str(root / "b")]) == 0
    # the user adds a column to the same file
    prices.assign(my_score=np.random.default_rng(0).normal(size=len(prices))).to_csv(plain, index=False)
    assert (
        main(
            [
                *base,
                "--data",
                str(plain),
                "--features",
                "ohlcv+extra",
                "--start",
                str(days[200].date()),
                "--test-start",
                str(days[1078].date()),
                "--out",
                str(root / "c"),
            ]
        )
        == 0
    )
    answers = [json.loads((root / f / "metrics.json").read_text())["ledger"][0] for f in "abc"]
    assert [a["count"] for a in answers] == [1, 2, 3]


def test_either_set_overlap_pooled_targets_and_prices_that_differ(tmp_path):
    """30 configurations on a 200-day block count for a later one on the last 225 or 300 days (it holds all their
    days); close and return pool (the same label and loss); days whose prices differ are not the same days."""
    book = tmp_path / ledger.LEDGER
    rng = np.random.default_rng(3)
    days = pd.bdate_range("2020-01-01", periods=300)
    block = days[-200:]
    for k in range(30):
        _publish(tmp_path / f"r{k}", f"t{k}")
        ledger.record(book, [_entry(tmp_path / f"r{k}", rng.normal(size=200), block, name=f"r{k}")], f"t{k}")
    for n in (225, 300):
        later = _entry(tmp_path / "new", rng.normal(size=n), days[-n:])
        assert len(ledger.earlier(book, later)) == 30
        assert "31st configuration" in ledger.judge(book, [later])[0]["sentence"]
    assert len(ledger.earlier(book, _entry(tmp_path / "new", rng.normal(size=200), block, target="close"))) == 0
    _publish(tmp_path / "ret", "t-ret")
    ledger.record(book, [_entry(tmp_path / "ret", rng.normal(size=200), block, name="ret", target="return")], "t-ret")
    assert len(ledger.earlier(book, _entry(tmp_path / "new", rng.normal(size=200), block, target="close"))) == 1
    revised = _entry(tmp_path / "new", rng.normal(size=200), block)
    revised = ledger.Entry(
        *[
            getattr(revised, f)
            for f in ("kind", "folder", "name", "fingerprint", "target", "horizon", "comparator", "diff")
        ],
        revised.prices + 1,
    )  # other prices
    answer = ledger.judge(book, [revised])[0]
    assert answer["count"] == 1 and len(ledger.earlier(book, revised)) == 0


def test_day_hashes_ignore_extra_columns_and_the_loaded_range():
    from pipeline.calibration.simulate import random_walk_frame
    from pipeline.data.dataset import Dataset

    frame = random_walk_frame(300, seed=1)
    frame.columns = [c.lower() for c in frame.columns]
    frame = frame.set_index(pd.DatetimeIndex(frame.pop("date")))
    a = Dataset({"X": frame}, {}, "ohlcv").day_hashes()
    b = Dataset({"X": frame.iloc[50:].assign(extra=1.0)}, {}, "ohlcv").day_hashes()
    assert a.iloc[50:].equals(b)
    c = Dataset({"X": frame.assign(close=frame.close * 1.001)}, {}, "ohlcv").day_hashes()
    assert (a != c).all()
