"""End-to-end ``python -m pipeline run`` on small real slices: outputs, contracts, escaping, config."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import torch

from pipeline.cli.main import main
from pipeline.models.families import build
from pipeline.models.lstm import ModelConfig
from pipeline.reporting.run_folder import load_checkpoint
from tests.conftest import TINY, nyse_layout


@pytest.fixture(scope="module")
def direction_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "dir"
    rc = main(
        [
            "run",
            "--target",
            "direction",
            "--start",
            "2009-01-01",
            "--end",
            "2014-12-31",
            "--features",
            "ohlcv+technical",
            *TINY,
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    return out


def test_run_writes_every_output(direction_run):
    names = {p.name for p in direction_run.iterdir()}
    assert {"config.json", "metrics.json", "predictions.csv", "model.pt", "index.html"} <= names
    m = json.loads((direction_run / "metrics.json").read_text())
    for key in ("target", "horizons", "symbols", "n_train", "n_test", "features", "groups", "horizon_results"):
        assert key in m
    assert m["horizons"] == [1, 5, 10] and m["symbols"] == ["SP500"]
    assert [h["horizon"] for h in m["horizon_results"]] == [1, 5, 10]
    h = m["horizon_results"][0]
    assert {"accuracy", "balanced_accuracy", "auc", "mcc", "log_loss", "brier"} <= set(h["model"])
    registry = {"majority", "previous", "logistic", "lightgbm", "window_ridge"}
    assert registry <= set(h["baselines"]) and set(h["baselines"]) - registry <= {"per_fold"}
    assert h["comparator"] in h["baselines"] and (h["comparator"] == "per_fold") == ("per_fold" in h["baselines"])
    choice = h["comparator_choice"]
    assert set(choice["by_fold"]) == set(choice["validation_loss"]) == {str(f) for f in range(1, len(m["folds"]) + 1)}
    assert all(set(v) == registry and choice["by_fold"][f] in registry for f, v in choice["validation_loss"].items())
    assert set(h["against_baselines"]) == set(h["baselines"])
    assert all(0 <= v["p_holm"] <= 1 and v["p_holm"] >= v["p_value"] for v in h["against_baselines"].values())
    lo, hi = h["model_ci"]["accuracy"]
    assert lo <= h["model"]["accuracy"] <= hi
    e = h["edge"]  # headline, interval and test speak about one prediction: the interval excludes 0 iff p < 0.05
    assert e["ci_low"] <= e["mean"] <= e["ci_high"] and ((e["ci_low"] > 0 or e["ci_high"] < 0) == (e["p_value"] < 0.05))
    assert e["mean"] == pytest.approx(h["model"]["accuracy"] - h["baselines"][h["comparator"]]["accuracy"], abs=1e-9)
    assert "80% power" in h["power"] and h["verdict"].startswith("h=1: LSTM+linear accuracy")
    assert "pesaran_timmermann" in h["tests"]  # h = 1, one symbol: the exact tests are valid
    assert m["horizon_results"][1]["tests"] == {}  # h = 5: overlapping labels, they are not shown
    assert "covariate_shift" in m and set(m["covariate_shift"]["worst"]) == set(m["groups"])
    cfg = json.loads((direction_run / "config.json").read_text())
    assert cfg["config"]["window"] == 20 and len(cfg["data_hash"]) == 16 and "torch" in cfg["versions"]


def test_predictions_cover_every_test_day_and_horizon(direction_run):
    p = pd.read_csv(direction_run / "predictions.csv")
    assert list(p.columns) == ["date", "symbol", "horizon", "prediction", "truth", "fold", "seed"]
    m = json.loads((direction_run / "metrics.json").read_text())
    assert len(p) == m["n_test"] * 3
    assert p["prediction"].between(0, 1).all() and set(p["truth"]) <= {0.0, 1.0}


def test_report_is_self_contained(direction_run):
    html = (direction_run / "index.html").read_text()
    assert "data:image/png;base64," in html
    assert not re.search(r'(src|href)="https?://', html)
    assert "does not beat" in html or "beats" in html or "worse" in html


def test_checkpoint_loads_with_weights_only(direction_run):
    ck = load_checkpoint(direction_run / "model.pt")
    model = build("lstm", ModelConfig(**ck["model_config"]), ck["run_config"]["window"])  # the LSTM+linear default
    model.load_state_dict(ck["state_dict"])
    assert ck["run_config"]["target"] == "direction" and len(ck["columns"]) == ck["model_config"]["n_features"]
    x = torch.zeros(2, 20, ck["model_config"]["n_features"])
    assert model(x).shape == (2, 3)


def test_fixed_seed_gives_identical_metrics(tmp_path):
    args = ["run", "--start", "2010-01-01", "--end", "2013-12-31", "--features", "ohlcv", "--horizons", "1", *TINY]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())["horizon_results"]
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())["horizon_results"]
    # the second run is the ledger's second configuration on these days: only its ledger answer differs
    assert b[0]["ledger"]["count"] == 2 and a[0]["ledger"]["count"] == 1
    drop = ("ledger",)
    assert [{k: v for k, v in e.items() if k not in drop} for e in a] == [
        {k: v for k, v in e.items() if k not in drop} for e in b
    ]


@pytest.mark.parametrize("target", ["return", "close", "volatility"])
def test_regression_targets(tmp_path, target):
    out = tmp_path / target
    assert (
        main(
            [
                "run",
                "--target",
                target,
                "--horizons",
                "1,5",
                "--start",
                "2010-01-01",
                "--end",
                "2013-12-31",
                "--features",
                "ohlcv",
                "--seeds",
                "2",
                *TINY,
                "--out",
                str(out),
            ]
        )
        == 0
    )
    m = json.loads((out / "metrics.json").read_text())
    h = m["horizon_results"][1]
    assert {"rmse", "mae", "r2", "ic", "sign_accuracy"} <= set(h["model"]) and "persistence" in h["baselines"]
    assert set(h["against_baselines"]) == set(h["baselines"])
    assert h["baselines"]["persistence"]["r2"] == pytest.approx(0.0)
    assert h["edge"]["loss"] == "squared error" and "MSE reduction" in h["power"]
    p = pd.read_csv(out / "predictions.csv")
    assert set(p["seed"]) == {0, 1}
    if target == "close":  # tested as the implied log return (scale-free); prices beside it in predictions.csv
        assert p["truth"].abs().max() < 0.5 and p["prediction"].abs().max() < 0.5 and "log return" in h["unit"]
        assert p["close"].min() > 500 and p["predicted_close"].min() > 500


def test_input_strings_are_escaped(tmp_path, sp500):
    raw = nyse_layout({"<script>alert(1)</script>": sp500.loc["2010":"2013"]})
    path = tmp_path / "evil.csv"
    raw.to_csv(path, index=False)
    out = tmp_path / "run"
    assert main(["run", "--data", str(path), "--features", "ohlcv", "--horizons", "1", *TINY, "--out", str(out)]) == 0
    html = (out / "index.html").read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_config_file_and_flag_override(tmp_path, capsys):
    toml = tmp_path / "run.toml"
    toml.write_text(
        'target = "return"\nhorizons = [1]\nwindow = 20\nhidden = 8\nepochs = 2\nfeatures = "ohlcv"\n'
        'start = "2011-01-01"\nend = "2013-12-31"\nbootstrap = 100\nfolds = 2\nprogress = false\n'
    )
    out = tmp_path / "run"
    assert main(["run", "--config", str(toml), "--target", "direction", "--out", str(out)]) == 0
    cfg = json.loads((out / "config.json").read_text())["config"]
    assert cfg["target"] == "direction" and cfg["window"] == 20 and cfg["horizons"] == [1]
    bad = tmp_path / "bad.toml"
    bad.write_text("windw = 3\n")
    assert main(["run", "--config", str(bad)]) == 2
    assert "unknown setting 'windw'" in capsys.readouterr().err


def test_run_bad_flags_and_short_data(tmp_path, sp500, capsys):
    assert main(["run", "--target", "sideways", "--out", str(tmp_path / "x")]) == 2
    assert "unknown --target" in capsys.readouterr().err
    short = tmp_path / "short.csv"
    nyse_layout({"X": sp500.loc["2012-01":"2012-06"]}).to_csv(short, index=False)
    assert main(["run", "--data", str(short), "--no-progress", "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert "too few" in err or "training dates" in err
    assert not (tmp_path / "y").exists()


def test_several_symbols_pool_into_one_model_with_per_symbol_results(tmp_path):
    out = tmp_path / "multi"
    assert (
        main(
            [
                "run",
                "--symbols",
                "SP500,NASDAQ",
                "--start",
                "2010-01-01",
                "--end",
                "2013-12-31",
                "--features",
                "ohlcv",
                "--horizons",
                "1",
                *TINY,
                "--ablation",
                "none",
                "--no-explain",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    m = json.loads((out / "metrics.json").read_text())
    assert m["symbols"] == ["SP500", "NASDAQ"]
    per = m["horizon_results"][0]["per_symbol"]
    assert set(per) == {"SP500", "NASDAQ"} and sum(v["n_test"] for v in per.values()) == m["n_test"]
    assert "majority" in per["SP500"]["baselines"]
    assert "One model pooled over every symbol" in (out / "index.html").read_text()


def test_too_many_windows_for_memory_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FEATUREPROOF_MAX_MEMORY_GB", "0.001")
    assert main(["run", "--no-progress", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "folds need about" in err and "--symbol" in err and not (tmp_path / "x").exists()


def test_covariate_shift_flags_price_levels_not_returns():
    from pipeline.config.schema import RunConfig
    from pipeline.stages.prepare import prepare

    cfg = RunConfig(
        features="ohlcv+levels", start="2003-01-01", end="2007-12-31", window=20, folds=2, horizons=[1]
    ).validate()
    exp = prepare(cfg)
    shift = exp.fold_data[-1].shift  # a bull market: the last test fold sits above every training level
    assert shift["ma_level"] > 0.5 and shift["bollinger_level"] > 0.5
    assert shift["price"] < 0.25 and shift["volume"] < 0.25  # returns leave the range only in a volatility break


def test_a_run_saved_before_the_linear_skip_path_is_explained_again_as_it_was(tmp_path, tiny_csv):
    """Folders written before ``skip`` existed hold the network alone: ``explain RUN_DIR`` rebuilds it so."""
    out = tmp_path / "old"
    assert (
        main(
            [
                "run",
                "--data",
                str(tiny_csv),
                "--features",
                "ohlcv",
                "--horizons",
                "1",
                "--window",
                "5",
                "--epochs",
                "1",
                "--folds",
                "1",
                "--bootstrap",
                "0",
                "--lgbm-lags",
                "1",
                "--no-explain",
                "--ablation",
                "none",
                "--skip",
                "none",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    ck = load_checkpoint(out / "model.pt")
    for part in (ck["model_config"], ck["run_config"]):
        part.pop("skip", None)  # as a checkpoint of 2026-12-02 had it
    torch.save(ck, out / "model.pt")
    saved = json.loads((out / "config.json").read_text())
    saved["config"].pop("skip", None)
    (out / "config.json").write_text(json.dumps(saved))
    assert (
        main(
            [
                "explain",
                str(out),
                "--ablation",
                "permute",
                "--permutation-repeats",
                "1",
                "--no-explain",
                "--no-clusters",
                "--no-progress",
            ]
        )
        == 0
    )
