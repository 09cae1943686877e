"""Negative and positive controls of the whole run: no skill on a random walk, skill on a planted signal."""

from __future__ import annotations

import json

from pipeline.cli.main import main
from pipeline.calibration.simulate import planted_signal_frame, random_walk_frame
from tests.conftest import TINY


def test_random_walk_shows_no_skill(tmp_path):
    path = tmp_path / "rw.csv"
    random_walk_frame(1400, seed=3).to_csv(path, index=False)
    out = tmp_path / "run"
    assert main(["run", "--data", str(path), "--features", "ohlcv", "--horizons", "1", *TINY, "--out", str(out)]) == 0
    h = json.loads((out / "metrics.json").read_text())["horizon_results"][0]
    lo, hi = h["baselines_ci"]["majority"]["accuracy"]
    assert lo <= h["model"]["accuracy"] <= hi
    assert h["tests"]["pesaran_timmermann"]["p_value"] > 0.05
    assert not h["skill"] and "no evidence of skill" in h["verdict"] or "worse" in h["verdict"]


def test_planted_signal_is_learned(tmp_path):
    path = tmp_path / "sig.csv"
    planted_signal_frame(1600).to_csv(path, index=False)
    out = tmp_path / "run"
    args = [
        "run",
        "--data",
        str(path),
        "--features",
        "ohlcv+extra",
        "--horizons",
        "1",
        "--window",
        "10",
        "--hidden",
        "16",
        "--epochs",
        "25",
        "--patience",
        "6",
        "--lr",
        "5e-3",
        "--folds",
        "1",
        "--bootstrap",
        "100",
        "--no-progress",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    h = json.loads((out / "metrics.json").read_text())["horizon_results"][0]
    assert h["model"]["accuracy"] >= 0.85
    assert h["tests"]["pesaran_timmermann"]["p_value"] < 0.01
    for b in ("majority", "previous"):  # the feature-free baselines cannot see the signal
        assert h["against_baselines"][b]["p_holm"] < 0.01 and h["against_baselines"][b]["edge"] > 0.3


def test_a_signal_deep_in_the_window_is_in_the_comparator_set(tmp_path):
    """A signal 12 days back (beyond the logistic regression's last day and LightGBM's lags): ridge on the whole
    window finds it (its penalty chosen on the training rows' inner split), a network that does not is reported as
    having missed what the window holds, not as "no skill" alone."""
    import numpy as np

    path = tmp_path / "lag12.csv"
    planted_signal_frame(1800, seed=4, strength=0.0055, noise=0.007, lag=12).to_csv(path, index=False)
    out = tmp_path / "run"
    assert (
        main(
            [
                "run",
                "--data",
                str(path),
                "--features",
                "ohlcv+extra",
                "--horizons",
                "1",
                "--window",
                "20",
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
                "--out",
                str(out),
            ]
        )
        == 0
    )
    h = json.loads((out / "metrics.json").read_text())["horizon_results"][0]
    ceiling = 0.5 + np.arcsin(0.0055 / np.hypot(0.0055, 0.007)) / np.pi  # 0.712 (1,000 training days)
    assert h["baselines"]["window_ridge"]["accuracy"] >= ceiling - 0.1
    assert h["baselines"]["logistic"]["accuracy"] < 0.56 and h["comparator"] == "window_ridge"
    assert "the window holds information the LSTM+linear did not learn" in h["verdict"]


def test_the_window_sentence_says_what_the_ridge_means_and_nothing_without_information():
    """Ridge on the window better than the network and than chance: the network missed it. Both beat chance and tie:
    the network reads it no better than a linear model. Ridge beats the network but not chance: nothing."""
    from pipeline.evaluation.verdicts import window_sentence

    def entry(ridge_edge, ridge_p, blind_edge, blind_p, info):
        return {
            "model_name": "LSTM",
            "comparator": "majority",
            "edge": {"p_holm": 0.5, "p_value": 0.5, "mean": 0.0},
            "against_baselines": {
                "window_ridge": {"edge": ridge_edge, "p_holm": ridge_p},
                "majority": {"edge": blind_edge, "p_holm": blind_p},
            },
            "window_information": {"significant": info, "against": "majority"},
        }

    assert "did not learn" in window_sentence(entry(-0.1, 0.001, 0.0, 0.9, True))
    assert "no better than a linear model" in window_sentence(entry(0.0, 0.9, 0.2, 0.001, True))
    assert window_sentence(entry(-0.1, 0.001, -0.1, 0.001, False)) == ""
    assert window_sentence(entry(0.0, 0.9, 0.0, 0.9, True)) == ""
