"""``python -m pipeline power``: the planted column announces the return it should, the settings it refuses
get one line and exit 2, and a run on a user's CSV writes its page and JSON with effect 0 beside the effects."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipeline.calibration.simulate import random_walk_frame
from pipeline.cli.main import main
from pipeline.config.schema import RunConfig
from pipeline.errors import InputError
from pipeline.evaluation.inference import wilson_interval
from pipeline.stages.power import PowerSetting, plant_column, planted_name, planted_prices, with_extra

FAST = [
    "--features",
    "ohlcv",
    "--window",
    "8",
    "--epochs",
    "2",
    "--folds",
    "1",
    "--bootstrap",
    "0",
    "--horizons",
    "1,2",
    "--lgbm-lags",
    "1",
    "--no-explain",
    "--no-progress",
    "--model",
    "linear",
    "--jobs",
    "1",
]


def _close(n: int = 20000, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    ret = rng.standard_t(4, n) * 0.01
    return pd.Series(100 * np.exp(np.cumsum(ret)), index=pd.bdate_range("2000-01-03", periods=n))


@pytest.mark.parametrize("effect,lag", [(0.0, 1), (0.2, 1), (0.5, 12), (0.9, 40)])
def test_the_planted_column_announces_the_return_lag_days_later_with_the_effect_as_correlation(effect, lag):
    close = _close()
    col = plant_column(close, effect, lag, np.random.default_rng(1))
    r = np.log(close).diff().to_numpy()
    announced = r[lag:]  # the return from t+lag-1 to t+lag, for the value planted on day t
    x = col[:-lag]
    ok = np.isfinite(announced)
    assert abs(np.corrcoef(x[ok], announced[ok])[0, 1] - effect) < 0.03
    assert abs(np.std(col) - 1) < 0.03
    # the value of day t says nothing about any other day's return (one lag, not a smear)
    other = r[lag + 3 :]
    assert abs(np.corrcoef(col[: len(other)][np.isfinite(other)], other[np.isfinite(other)])[0, 1]) < 0.03
    # past the data's end the column is noise, never NaN
    assert np.isfinite(col).all()


def test_each_draw_is_fresh_and_reproducible_and_the_column_name_never_clashes():
    frame = random_walk_frame(300, seed=1).rename(columns=str.lower).set_index("date")
    frame.index = pd.to_datetime(frame.index)
    prices = {"A": frame, "B": frame.assign(planted=1.0)}
    name = planted_name(prices)
    assert name == "planted_2"
    a1, a2, b = (planted_prices(prices, 0.3, 2, seed, name) for seed in (7, 7, 8))
    assert np.array_equal(a1["A"][name], a2["A"][name])
    assert not np.array_equal(a1["A"][name], b["A"][name])
    assert not np.array_equal(a1["A"][name], a1["B"][name])  # each symbol its own draw
    assert a1["A"].attrs["extra_columns"][-1] == name and "planted" not in frame.columns  # the user's frame untouched
    assert (
        with_extra("ohlcv") == "ohlcv+extra"
        and with_extra("all") == "all"
        and with_extra("ohlcv+extra") == "ohlcv+extra"
    )


def test_wilson_interval_is_the_textbook_one():
    lo, hi = wilson_interval(0, 20)
    assert lo == 0 and abs(hi - 0.1611) < 1e-3  # Wilson's 0/20 upper bound
    lo, hi = wilson_interval(10, 20)
    assert abs(lo - 0.2993) < 1e-3 and abs(hi - 0.7007) < 1e-3
    assert all(np.isnan(wilson_interval(0, 0)))


@pytest.mark.parametrize(
    "setting,needle",
    [
        (PowerSetting((1.2,), 1, 5), "--effect 1.2 is out of range"),
        (PowerSetting((-0.1,), 1, 5), "--effect -0.1 is out of range"),
        (PowerSetting((float("nan"),), 1, 5), "--effect nan is out of range"),
        (PowerSetting((0.1,), 0, 5), "--lag 0 is out of range"),
        (PowerSetting((0.1,), 61, 5), "--lag 61 is beyond the 60-day window"),
        (PowerSetting((0.1,), 1, 1), "--runs 1"),
    ],
)
def test_power_refuses_settings_it_cannot_measure(setting, needle):
    with pytest.raises(InputError, match=needle.replace("-", r"\-").replace("[", r"\[")):
        setting.check(RunConfig())


def test_effect_zero_is_always_added():
    assert PowerSetting((0.2, 0.1), 3, 5).check(RunConfig()).effects == (0.0, 0.1, 0.2)


@pytest.mark.parametrize(
    "flags,needle",
    [
        (["--effect", "2"], "--effect 2 is out of range"),
        (["--effect", "a,b"], "give numbers separated by commas"),
        (["--lag", "9"], "--lag 9 is beyond the 8-day window"),
        (["--runs", "0"], "--runs 0"),
    ],
)
def test_power_refusals_are_one_line_and_exit_2_with_nothing_written(flags, needle, tiny_csv, tmp_path, capsys):
    out = tmp_path / "power"
    rc = main(["power", "--data", str(tiny_csv), *FAST, *flags, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err and not out.exists()


def test_power_on_a_user_csv_writes_its_page_and_json(tiny_csv, tmp_path, capsys):
    out = tmp_path / "power"
    rc = main(
        [
            "power",
            "--data",
            str(tiny_csv),
            *FAST,
            "--effect",
            "0.6",
            "--lag",
            "2",
            "--runs",
            "2",
            "--ablation",
            "permute",
            "--permutation-repeats",
            "2",
            "--no-clusters",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    stdout = capsys.readouterr().out
    assert "power.html" in stdout and "h=1: with a column correlated 0.6" in stdout
    data = json.loads((out / "power.json").read_text())
    assert data["setting"]["effects"] == [0.0, 0.6] and data["setting"]["lag"] == 2
    assert data["planted_group"] == "extra:planted" and data["config"]["features"] == "ohlcv+extra"
    rates = pd.DataFrame(data["rates"])
    assert set(rates.measure) >= {"skill", "window", "permutation"}
    assert set(rates.effect) == {0.0, 0.6} and set(rates.horizon) == {1, 2}
    assert (rates.runs == 2).all() and ((rates.low <= rates.rate) & (rates.rate <= rates.high)).all()
    assert len(data["runs"]) == 4
    # a run's outcome is a function of its effect, its number and the seed: two draws differ, repeats agree
    runs = {(r["effect"], r["run"]): r for r in data["runs"]}
    assert runs[(0.6, 0)]["metric"] != runs[(0.6, 1)]["metric"] or runs[(0.6, 0)]["edge"] != runs[(0.6, 1)]["edge"]
    html = (out / "power.html").read_text()
    assert "Would this setup have found an effect this large here?" in html and "extra:planted" in html
