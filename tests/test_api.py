"""The Python API: ``pipeline.run(**settings)`` takes the schema's names, returns a typed result equal to what the
CLI writes, raises one ``ValueError`` subclass with the CLI's message on a bad setting, and never exits."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import pipeline
from pipeline.errors import InputError

TINY = dict(
    start="2012-01-01",
    end="2014-12-31",
    features="ohlcv",
    horizons=[1, 5],
    window=10,
    hidden=4,
    epochs=2,
    folds=2,
    bootstrap=0,
    lgbm_lags=1,
    ablation="permute",
    explain=False,
    n_repeats=2,
    lag_repeats=1,
    clusters=False,
    jobs=1,
    threads=1,
)


def test_run_returns_the_verdicts_metrics_importance_and_predictions_it_wrote(tmp_path):
    result = pipeline.run(out=str(tmp_path / "run"), progress=False, **TINY)
    assert isinstance(result, pipeline.RunResult)
    assert result.report.is_file() and result.report.name == "index.html"
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert result.metrics == written
    v = result.verdicts
    assert list(v.horizon) == [1, 5] and set(v.metric) == {"accuracy"}
    assert {"comparator", "edge", "ci_low", "ci_high", "p", "p_holm", "skill", "verdict"} <= set(v.columns)
    for e, row in zip(written["horizon_results"], v.itertuples()):
        assert row.edge == e["edge"]["mean"] and row.p_holm == e["edge"]["p_holm"] and row.skill == e["skill"]
        assert row.ci_low <= row.edge <= row.ci_high
    assert isinstance(result.importance, pd.DataFrame) and set(result.importance.method) >= {"permutation"}
    assert isinstance(result.predictions, pd.DataFrame) and len(result.predictions) > 0
    assert result.skill == dict(zip(v.horizon, v.skill))
    page = result._repr_html_()
    assert "featureproof run" in page and str(result.report) in page and "<script" not in page
    assert pipeline.RunResult.load(result.folder).metrics == written


@pytest.mark.parametrize(
    "values,needle",
    [
        ({"windw": 10}, "unknown setting 'windw'; did you mean window"),
        ({"window": 0}, "--window"),
        ({"target": "nope"}, "--target"),
        ({"model": "rnn"}, "--model"),
    ],
)
def test_a_bad_setting_is_one_value_error_with_the_clis_message(values, needle, tmp_path):
    with pytest.raises(ValueError) as err:
        pipeline.run(out=str(tmp_path / "run"), progress=False, **{**TINY, **values})
    assert isinstance(err.value, InputError) and needle in str(err.value)
    assert "\n" not in str(err.value) and not (tmp_path / "run").exists()


def test_settings_take_the_cli_spellings_as_well():
    cfg, ecfg = pipeline.settings(symbol="SP500", horizons="1,5", **{"lgbm-lags": 3}, ablation="both")
    assert cfg.symbols == ["SP500"] and cfg.horizons == [1, 5] and cfg.lgbm_lags == 3 and ecfg.ablation == "both"
