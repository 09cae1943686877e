"""Every flag is checked at the boundary, before any work; every combination of the stage switches works;
and a property-based test draws flag combinations and sees exit 0 with complete outputs, or exit 2 with
one ``error:`` line, never a traceback."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import FAST
from pipeline.cli.main import main

RUN_FILES = {"config.json", "metrics.json", "predictions.csv", "model.pt", "index.html", "featureproof.json"}


@pytest.fixture
def no_work(monkeypatch):
    import pipeline.stages.prepare

    def boom(*a, **k):
        raise AssertionError("work started before the flags were checked")

    monkeypatch.setattr(pipeline.stages.prepare, "build_dataset", boom)


BAD = [
    (["--bootstrap", "50"], "--bootstrap"),
    (["--bootstrap", "-1"], "--bootstrap"),
    (["--block", "-2"], "--block"),
    (["--window", "1"], "--window"),
    (["--horizons", "0"], "horizons"),
    (["--horizons", "5,1,5"], "more than once"),
    (["--dropout", "1"], "--dropout"),
    (["--dropout", "-0.1"], "--dropout"),
    (["--dropout", "nan"], "--dropout"),
    (["--lr", "0"], "--lr"),
    (["--lr", "inf"], "--lr"),
    (["--batch-size", "0"], "--batch-size"),
    (["--folds", "0"], "--folds"),
    (["--seeds", "0"], "--seeds"),
    (["--test-fraction", "1"], "--test-fraction"),
    (["--test-fraction", "0"], "--test-fraction"),
    (["--val-fraction", "0"], "--val-fraction"),
    (["--lgbm-lags", "0"], "--lgbm-lags"),
    (["--lgbm-lags", "9"], "at most --window"),
    (["--shap-windows", "0"], "--shap-windows"),
    (["--permutation-repeats", "0"], "--permutation-repeats"),
    (["--epochs", "0"], "--epochs"),
    (["--patience", "0"], "--patience"),
    (["--seed", "-1"], "--seed"),
    (["--weight-decay", "-1"], "--weight-decay"),
    (["--cost-bps", "-5"], "--cost-bps"),
    (["--jobs", "0"], "--jobs"),
    (["--gpus-per-job", "0.5"], "--executor ray"),
    (["--start", "yesterday"], "--start"),
    (["--start", "2016-01-01", "--end", "2015-01-01"], "before --end"),
    (["--hidden", "0"], "--hidden"),
    (["--window", "100000"], "--window"),
]


@pytest.mark.parametrize("flags,needle", BAD, ids=[" ".join(f) for f, _ in BAD])
def test_bad_flag_is_one_line_and_exit_2_before_any_work(flags, needle, tiny_csv, no_work, tmp_path, capsys):
    argv = ["run", "--data", str(tiny_csv), *FAST, "--out", str(tmp_path / "r")]
    # the last occurrence of a flag wins in argparse: append the bad value after FAST's
    rc = main([*argv, *flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err
    assert not (tmp_path / "r").exists()


def test_cuda_without_a_gpu_is_a_clear_error(tiny_csv, no_work, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: --device cuda is valid here")
    assert main(["run", "--data", str(tiny_csv), *FAST, "--device", "cuda", "--out", str(tmp_path / "r")]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


@pytest.mark.parametrize("ablation", ["permute", "retrain", "both", "none"])
@pytest.mark.parametrize("explain", [False, True], ids=["no-explain", "explain"])
def test_every_ablation_with_and_without_explain(ablation, explain, tiny_csv, tmp_path):
    out = tmp_path / "r"
    flags = ["--ablation", ablation, "--seeds", "2", "--jobs", "1", "--permutation-repeats", "2"]
    rc = main(
        ["run", "--data", str(tiny_csv), *FAST, *flags, *([] if explain else ["--no-explain"]), "--out", str(out)]
    )
    assert rc == 0
    files = {p.name for p in out.iterdir()}
    assert RUN_FILES <= files
    assert ("importance.csv" in files) == (ablation != "none" or explain)


@pytest.mark.parametrize("target", ["direction", "return"])
def test_bootstrap_zero_means_no_bootstrap_intervals(target, tiny_csv, tmp_path):
    out = tmp_path / "r"
    assert (
        main(
            [
                "run",
                "--data",
                str(tiny_csv),
                *FAST,
                "--bootstrap",
                "0",
                "--target",
                target,
                "--horizons",
                "1,3",
                "--ablation",
                "none",
                "--no-explain",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    entry = metrics["horizon_results"][0]
    assert entry["edge"]["ci_low"] is not None  # the HAR interval of the headline needs no bootstrap
    assert entry["model_ci"]  # day-mean metrics keep their HAR intervals


# ---- the property test --------------------------------------------------------------------------------

FLAGS = {
    "--target": (
        st.sampled_from(["direction", "return", "volatility", "drawdown", "mean_close", "close"]),
        st.sampled_from(["price", "updown", "", "xs_direction", "xs_rank"]),
    ),  # xs_*: one symbol here
    "--quantiles": (st.sampled_from(["2", "5", "10"]), st.sampled_from(["1", "0", "-5"])),
    "--top-k": (st.sampled_from(["0", "1", "3"]), st.sampled_from(["-1"])),
    "--horizons": (
        st.lists(st.integers(1, 12), min_size=1, max_size=3, unique=True).map(lambda v: ",".join(map(str, v))),
        st.sampled_from(["0", "-1", "1,1", "a", "", "1,,", "400"]),
    ),
    "--window": (st.integers(2, 12).map(str), st.sampled_from(["1", "0", "-3", "x", "2.5", "99999"])),
    "--folds": (st.integers(1, 2).map(str), st.sampled_from(["0", "-1", "1.5"])),
    "--seeds": (st.integers(1, 2).map(str), st.sampled_from(["0", "-2"])),
    "--dropout": (st.sampled_from(["0", "0.1", "0.5"]), st.sampled_from(["1", "-0.1", "nan", "1e9"])),
    "--lr": (st.sampled_from(["0.001", "0.01"]), st.sampled_from(["0", "-1", "inf", "nan"])),
    "--batch-size": (st.sampled_from(["1", "16", "64", "100000"]), st.sampled_from(["0", "-5"])),
    "--test-fraction": (st.sampled_from(["0.2", "0.3", "0.5"]), st.sampled_from(["0", "1", "1.5", "-0.2"])),
    "--val-fraction": (st.sampled_from(["0.1", "0.2"]), st.sampled_from(["0", "0.9", "-1"])),
    "--bootstrap": (st.sampled_from(["0", "100"]), st.sampled_from(["1", "99", "-1"])),
    "--block": (st.sampled_from(["0", "1", "7", "5000"]), st.sampled_from(["-1"])),
    "--lgbm-lags": (st.integers(1, 2).map(str), st.sampled_from(["0", "-1", "50"])),
    "--shap-windows": (st.sampled_from(["1", "5", "20"]), st.sampled_from(["0", "-3"])),
    "--permutation-repeats": (st.sampled_from(["1", "2"]), st.sampled_from(["0", "-1"])),
    # retraining per group is the slowest stage: drawn on about one example in ten
    "--ablation": (
        st.sampled_from(["none"] * 4 + ["permute"] * 4 + ["retrain", "both"]),
        st.sampled_from(["drop", ""]),
    ),
    "--device": (st.sampled_from(["auto", "cpu"]), st.sampled_from(["gpu", "cuda:0"])),
    "--norm": (st.sampled_from(["none", "layer", "batch"]), None),
    "--pool": (st.sampled_from(["last", "mean"]), None),
    "--scaler": (st.sampled_from(["standard", "robust", "minmax"]), None),
    "--clip-quantile": (st.sampled_from(["0", "0.01"]), st.sampled_from(["0.5", "-0.1"])),
}
SWITCHES = ["--no-explain", "--bidirectional", "--no-log-transform"]


@st.composite
def argv_strategy(draw):
    argv = []
    for flag, (valid, invalid) in FLAGS.items():
        if not draw(st.booleans()):
            continue  # leave this flag at its default
        bad = invalid is not None and draw(st.integers(0, 11)) == 0
        argv += [flag, draw(invalid if bad else valid)]
    for switch in SWITCHES:
        if draw(st.booleans()):
            argv.append(switch)
    if "--no-explain" not in argv and draw(st.integers(0, 2)) > 0:
        argv.append("--no-explain")  # explain costs the most time: run it on about a third of the examples
    return argv


def quick_figures(mp: pytest.MonkeyPatch, draw: bool) -> None:
    """Figures are never encoded to PNG here (the slowest step of a tiny run); with ``draw`` they are still
    drawn (so an odd flag mix that breaks a figure is caught), otherwise skipped altogether."""
    import matplotlib.pyplot as plt

    import pipeline.reporting.figures
    import pipeline.reporting.importance_page as imp

    def no_png(fig):
        plt.close(fig)
        return "data:image/png;base64,"

    for module in (pipeline.reporting.figures, imp):
        mp.setattr(module, "to_data_uri", no_png)
    if not draw:
        blank = lambda *a, **k: "data:image/png;base64,"  # noqa: E731
        for name in (
            "learning_curves",
            "predicted_vs_true",
            "confusion_and_roc",
            "equity_curves",
            "forest_plot",
            "cross_section_chart",
        ):
            mp.setattr(pipeline.reporting.figures, name, blank)
        for name in ("_bars", "_lag_chart", "_tree_beeswarm", "rank_overview"):
            mp.setattr(imp, name, blank)
        mp.setattr(imp, "_shap_figures", lambda *a, **k: [])


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(flags=argv_strategy(), draw=st.integers(0, 3).map(lambda k: k == 0))  # figures drawn on one example in four
def test_any_flag_combination_exits_0_with_outputs_or_2_with_one_line(flags, draw, tiny_csv, tmp_path, capfd):
    out = tmp_path / "prop"
    shutil.rmtree(out, ignore_errors=True)
    base = [
        "run",
        "--data",
        str(tiny_csv),
        "--features",
        "ohlcv",
        "--hidden",
        "4",
        "--epochs",
        "1",
        "--no-progress",
        "--jobs",
        "1",
        "--bootstrap",
        "0",
        "--shap-windows",
        "8",
        "--permutation-repeats",
        "1",
        "--lgbm-lags",
        "1",
        "--window",
        "5",
        "--folds",
        "1",
        "--horizons",
        "1",
    ]
    with pytest.MonkeyPatch.context() as mp:
        quick_figures(mp, draw)
        try:
            rc = main([*base, *flags, "--out", str(out)])
        except SystemExit as exc:  # argparse: a value of the wrong type or choice
            rc = exc.code
    captured = capfd.readouterr()
    event(f"exit {rc}")  # --hypothesis-show-statistics: how many examples ran to completion
    errors = [line for line in captured.err.splitlines() if line.startswith("error:") or "Traceback" in line]
    assert "Traceback" not in captured.err and "Traceback" not in captured.out, flags
    if rc == 0:
        files = {p.name for p in out.iterdir()}
        assert RUN_FILES <= files, (flags, files)
        manifest = json.loads((out / "featureproof.json").read_text())
        assert set(manifest["files"]) | {"featureproof.json"} == files
    else:
        assert rc == 2, (flags, rc, captured.err[-2000:])
        assert len(errors) == 1, (flags, captured.err)
        assert not out.exists() or not any(out.iterdir()), flags


@pytest.mark.parametrize(
    "line,needle",
    [
        ("window = 5.5", "must be an integer"),
        ("window = true", "must be an integer"),
        ('lr = "fast"', "must be a number"),
        ("horizons = 5", "list of positive integers"),
        ("horizons = [1, 0]", "horizons"),
        ('bidirectional = "yes"', "true or false"),
        ('scaler = "zscore"', "one of standard, robust, minmax"),
        ("target = 5", "must be a string"),
        ("dropout = 2.0", "--dropout"),
        ("macro = 3", "must be a list"),
    ],
)
def test_config_file_values_are_checked_like_flags(line, needle, tmp_path, tiny_csv, no_work, capsys):
    toml = tmp_path / "c.toml"
    toml.write_text(line + "\n")
    assert main(["run", "--data", str(tiny_csv), "--config", str(toml), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_config_keys_are_flag_spellings_or_field_names(tmp_path):
    """``no-explain = true`` (the flag) and ``explain = false`` (the field) mean the same; both spellings of
    other keys work too; --version and --help exit 0."""
    from pipeline.cli.main import _apply_config, build_parser

    for text in (
        "no-explain = true\nbatch-size = 64\nno_log_transform = true\n",
        "explain = false\nbatch_size = 64\nlog_transform = false\n",
    ):
        toml = tmp_path / "c.toml"
        toml.write_text(text)
        args = _apply_config(build_parser(), ["run", "--config", str(toml)])
        assert args.explain is False and args.batch_size == 64 and args.log_transform is False
    toml.write_text("no-explain = false\n")
    assert _apply_config(build_parser(), ["run", "--config", str(toml)]).explain is True
    assert main(["--version"]) == 0 and main(["run", "--help"]) == 0


def test_quiet_prints_only_the_path_and_verbose_adds_epochs(tiny_csv, tmp_path, capfd):
    plain = [a for a in FAST if a != "--no-progress"] + ["--epochs", "2", "--ablation", "none", "--no-explain"]
    assert main(["run", "--data", str(tiny_csv), *plain, "--quiet", "--out", str(tmp_path / "q")]) == 0
    out, err = capfd.readouterr()
    assert out.strip() == str(tmp_path / "q" / "index.html") and err == ""  # one line for scripts, nothing else
    assert main(["run", "--data", str(tiny_csv), *plain, "-v", "--out", str(tmp_path / "v")]) == 0
    out, err = capfd.readouterr()
    assert "epoch 1: train loss" in err and "epoch 2: train loss" in err
    assert "(linear path): epoch 1" in err and "2 epochs of the linear path + 2 of the whole model" in err
    assert "report: " in out and "h=1: LSTM+linear accuracy" in out
    # by default: the one-screen table, one row per horizon, and no sentence longer than a wide terminal
    assert main(["run", "--data", str(tiny_csv), *plain, "--out", str(tmp_path / "d")]) == 0
    out, err = capfd.readouterr()
    rows = [line for line in out.splitlines() if line.strip().startswith("1 ")]
    assert "edge [95% CI]" in out and "Holm p" in out and len(rows) == 1 and "h=1: LSTM+linear accuracy" not in out
    assert "no evidence of skill" in rows[0] or "significantly worse" in rows[0] or "skill (beats" in rows[0]
    assert (
        max(len(line) for line in out.splitlines() if not line.startswith(("report:", "  importance: /", "  ledger")))
        <= 200
    )
    assert sum(line.startswith("  warning: covariate shift") for line in out.splitlines()) <= 1
    assert main(["run", "-q", "-v", "--out", str(tmp_path / "x")]) == 2
    assert capfd.readouterr().err.strip() == "error: --quiet and --verbose contradict each other; choose one"
