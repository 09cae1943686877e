"""compare: identical folds for every set, Holm-corrected paired tests, executors that agree, the index."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipeline.cli.main import main
from pipeline.config.schema import DEFAULTS
from pipeline.evaluation.inference import holm
from pipeline.calibration.simulate import planted_signal_frame, random_walk_frame

SMALL = [
    "--horizons",
    "1",
    "--window",
    "10",
    "--hidden",
    "16",
    "--epochs",
    "12",
    "--patience",
    "4",
    "--lr",
    "5e-3",
    "--folds",
    "2",
    "--seeds",
    "2",
    "--no-progress",
]


def test_holm_correction():
    np.testing.assert_allclose(holm(np.array([0.01, 0.04, 0.03])), [0.03, 0.06, 0.06])
    assert holm(np.array([0.5]))[0] == 0.5


def test_planted_signal_set_wins_significantly(tmp_path):
    path = tmp_path / "sig.csv"
    planted_signal_frame(1400).to_csv(path, index=False)
    out = tmp_path / "cmp"
    assert (
        main(
            [
                "compare",
                "--data",
                str(path),
                "--features",
                "ohlcv,ohlcv+extra",
                *SMALL,
                "--jobs",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    tests = pd.read_csv(out / "compare_tests.csv")
    assert list(tests.columns[:7]) == ["horizon", "set_a", "set_b", "metric", "diff", "p_value", "p_holm"]
    assert set(tests.test) == {"diebold_mariano"}
    dm = tests[(tests.set_a == "ohlcv+extra") & (tests.set_b == "ohlcv")].iloc[0]  # always later set − earlier set
    assert dm.p_holm < 0.05 and dm["diff"] > 0 and dm.ci_low > 0  # ohlcv+extra's accuracy is higher
    table = pd.read_csv(out / "compare.csv")
    acc = table[(table.metric == "accuracy") & (table.symbol == "all")].set_index("feature_set")
    assert acc.loc["ohlcv+extra", "mean"] > 0.8 > acc.loc["ohlcv", "mean"]
    assert {"feature_set", "horizon", "metric", "mean", "ci_low", "ci_high"} <= set(table.columns)
    meta = json.loads((out / "compare.json").read_text())
    assert meta["ranking"]["1"][0] == "ohlcv+extra"
    assert {"baseline:majority", "baseline:previous"} <= set(meta["ranking"]["1"])  # baselines stay in the ranking
    assert any(
        v.startswith("h=1: ohlcv+extra − ohlcv = +")
        and "ohlcv+extra better by" in v
        and v.endswith(", significant after Holm.")
        for v in meta["verdicts"]
    )
    html = (out / "index.html").read_text()
    assert "data:image/png;base64," in html and "Holm" in html
    # the page opens with the set x horizon matrix against the reference set, significance marked
    matrix = html[html.index('<table class="matrix">') :]
    matrix = matrix[: matrix.index("</table>")]
    assert html.index('<table class="matrix">') < html.index("Ranking and every pair")
    assert "set − ohlcv" in matrix and "ohlcv+extra" in matrix and "★" in matrix and "comparator baseline" in matrix
    assert '<div class="verdict good">h=1: ohlcv+extra − ohlcv = +' in html  # the significant pair, marked better


def test_random_walk_no_pair_is_significant(tmp_path):
    path = tmp_path / "rw.csv"
    random_walk_frame(1200, seed=5).to_csv(path, index=False)
    out = tmp_path / "cmp"
    assert main(["compare", "--data", str(path), "--features", "ohlcv,ohlcv+technical", *SMALL, "--out", str(out)]) == 0
    tests = pd.read_csv(out / "compare_tests.csv")
    # significance is judged over test days (Diebold-Mariano on the seed ensembles, Holm over pairs x horizons)
    assert (tests.p_holm >= 0.05).all(), tests
    meta = json.loads((out / "compare.json").read_text())
    assert all(v.endswith(", not significant after Holm.") or "same calls" in v for v in meta["verdicts"])
    html = (out / "index.html").read_text()
    assert "★" not in html[html.index('<table class="matrix">') : html.index("Differences in")]


def _small_compare(tmp_path, name, *extra):
    out = tmp_path / name
    assert (
        main(
            [
                "compare",
                "--start",
                "2011-01-01",
                "--end",
                "2014-12-31",
                "--features",
                "ohlcv,ohlcv+technical",
                "--horizons",
                "1",
                "--window",
                "10",
                "--hidden",
                "6",
                "--epochs",
                "2",
                "--folds",
                "2",
                "--seeds",
                "2",
                "--no-progress",
                *extra,
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return pd.read_csv(out / "compare.csv")


def test_local_pool_gives_the_same_numbers_as_one_process(tmp_path):
    one = _small_compare(tmp_path, "one", "--jobs", "1")
    two = _small_compare(tmp_path, "two", "--jobs", "2")
    pd.testing.assert_frame_equal(one, two)


def test_ray_gives_the_same_numbers_as_the_local_pool(tmp_path):
    ray = pytest.importorskip("ray")
    local = _small_compare(tmp_path, "local", "--jobs", "2")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = _small_compare(tmp_path, "ray", "--executor", "ray")
    finally:
        ray.shutdown()
    pd.testing.assert_frame_equal(local, on_ray)


def test_reports_index_lists_runs_and_comparisons(tmp_path):
    _small_compare(tmp_path, "c1", "--jobs", "1")
    assert (
        main(
            [
                "run",
                "--start",
                "2011-01-01",
                "--end",
                "2013-12-31",
                "--features",
                "ohlcv",
                "--horizons",
                "1",
                "--window",
                "10",
                "--hidden",
                "4",
                "--epochs",
                "1",
                "--folds",
                "1",
                "--bootstrap",
                "0",
                "--ablation",
                "none",
                "--no-explain",
                "--no-progress",
                "--out",
                str(tmp_path / "r1"),
            ]
        )
        == 0
    )
    html = (tmp_path / "index.html").read_text()
    assert 'href="c1/index.html"' in html and 'href="r1/index.html"' in html and "sort" in html


def test_foreign_index_is_never_overwritten(tmp_path):
    (tmp_path / "index.html").write_text("<html>my own page</html>")
    _small_compare(tmp_path, "c1", "--jobs", "1")
    assert (tmp_path / "index.html").read_text() == "<html>my own page</html>"


def test_compare_needs_two_sets(tmp_path, capsys):
    assert main(["compare", "--features", "ohlcv", "--out", str(tmp_path / "x")]) == 2
    assert "at least two feature sets" in capsys.readouterr().err


def test_compare_uses_runs_baselines_comparator_and_book_settings(tmp_path):
    """One baseline registry: compare reports logistic regression and LightGBM, chooses the comparator run
    chooses for the same data and settings, and honours --cost-bps, --quantiles, --top-k and --threads."""
    common = [
        "--source",
        "sample",
        "--symbols",
        "AAPL,MSFT,JNJ,KO",
        "--target",
        "xs_direction",
        "--horizons",
        "1,5",
        "--start",
        "2013-01-01",
        "--end",
        "2016-12-31",
        "--window",
        "10",
        "--hidden",
        "4",
        "--epochs",
        "1",
        "--folds",
        "1",
        "--bootstrap",
        "0",
        "--lgbm-lags",
        "2",
        "--cost-bps",
        "12",
        "--quantiles",
        "2",
        "--top-k",
        "1",
        "--threads",
        "1",
        "--seeds",
        "1",
        "--no-progress",
    ]
    # the reference set (the first) starts last, so compare's samples are run's samples
    assert (
        main(
            [
                "run",
                *common,
                "--features",
                "ohlcv+technical",
                "--ablation",
                "none",
                "--no-explain",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
    assert (
        main(["compare", *common, "--features", "ohlcv+technical,ohlcv", "--jobs", "1", "--out", str(tmp_path / "cmp")])
        == 0
    )
    run = json.loads((tmp_path / "run" / "metrics.json").read_text())
    meta = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    for entry in run["horizon_results"]:
        h = str(entry["horizon"])
        assert meta["comparators"][h] == entry["comparator"]
        assert {f"baseline:{b}" for b in entry["baselines"]} <= set(meta["ranking"][h])
    assert {"baseline:logistic", "baseline:lightgbm", "baseline:reversal", "baseline:momentum"} <= set(
        meta["ranking"]["1"]
    )
    xs = meta["views"]["ohlcv+technical"]["cross_section"][0]
    assert (
        xs["scores"][xs["model"]]["rank_ic"] == run["cross_section"][0]["scores"][xs["model"]]["rank_ic"]
    )  # same unit, same numbers
    assert xs["quantiles"] == 2 and xs["scores"][xs["model"]]["book"]["k"] == 1
    assert xs["scores"][xs["model"]]["book"]["cost_bps"] == 12.0
    tests = pd.read_csv(tmp_path / "cmp" / "compare_tests.csv")
    assert set(tests.set_b) >= {
        "ohlcv+technical",
        f"baseline:{meta['comparators']['1']}",
    }  # sets against the comparator, in the family


def test_compare_models_on_the_same_folds_seeds_and_days(tmp_path):
    """``compare --models``: every family on the same features, folds, seeds and test days, in compare's one
    family of tests (pairs and every model against the comparator, Holm over all x horizons); the matrix names
    the families; with several --features the cells are the model x feature-set grid."""
    common = [
        "--source",
        "sample",
        "--start",
        "2012-01-01",
        "--end",
        "2015-12-31",
        "--window",
        "10",
        "--epochs",
        "1",
        "--folds",
        "1",
        "--bootstrap",
        "0",
        "--seeds",
        "1",
        "--horizons",
        "1,5",
        "--lgbm-lags",
        "2",
        "--jobs",
        "1",
        "--no-progress",
    ]
    assert main(["compare", *common, "--models", "lstm,gru,linear", "--out", str(tmp_path / "models")]) == 0
    meta = json.loads((tmp_path / "models" / "compare.json").read_text())
    assert meta["feature_sets"] == ["lstm", "gru", "linear"] and meta["models"] == ["lstm", "gru", "linear"]
    assert {c["features"] for c in meta["cells"]} == {DEFAULTS.features}  # run's default features
    tests = pd.read_csv(tmp_path / "models" / "compare_tests.csv")
    assert {("gru", "lstm"), ("linear", "lstm"), ("linear", "gru")} <= set(zip(tests.set_a, tests.set_b))
    assert len(tests) == 2 * (3 + 3)  # 3 pairs + 3 against the comparator, per horizon: one Holm family
    assert "which model family does best" in (tmp_path / "models" / "index.html").read_text()
    assert (
        main(
            [
                "compare",
                *common,
                "--models",
                "lstm,mlp",
                "--features",
                "ohlcv,ohlcv+technical",
                "--out",
                str(tmp_path / "grid"),
            ]
        )
        == 0
    )
    grid = json.loads((tmp_path / "grid" / "compare.json").read_text())
    assert grid["feature_sets"] == ["lstm|ohlcv", "lstm|ohlcv+technical", "mlp|ohlcv", "mlp|ohlcv+technical"]


def test_compare_refuses_a_flag_no_compared_family_uses(capsys):
    assert main(["compare", "--models", "lstm,gru", "--heads", "2", "--no-progress"]) == 2
    assert "--heads does not apply to --model lstm and gru" in capsys.readouterr().err
