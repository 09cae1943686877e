"""Explain stage: method units, the planted-signal self-test, the importance outputs and re-explaining a run."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from explain import agreement
from explain.ablation import group_permutation
from explain.common import Importance, group_indices, shadow_columns
from explain.shap_lstm import expected_gradients
from pipeline.cli import main
from pipeline.explain_stage import _holm_by, _per_day_item, sample_loss
from pipeline.model import LSTMModel, ModelConfig
from pipeline.selftest import selftest
from tests.conftest import TINY


def test_permutation_sees_only_the_groups_a_model_uses():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5, 3)).astype(np.float32)
    y = (X[:, -1, 0] > 0).astype(float)[:, None]
    predict = lambda Z: 1 / (1 + np.exp(-5 * Z[:, -1, :1]))  # noqa: E731  uses column 0 only
    gidx = group_indices(["a", "b", "c"], {"A": ["a"], "BC": ["b", "c"]})
    loss = sample_loss(True)
    out = group_permutation([(predict, X, y[:, :1])], gidx, [1], loss, n_repeats=10)
    assert out[(1, "A")][0].shape == (400,)
    assert out[(1, "A")][0].mean() > 0.5 and np.allclose(out[(1, "BC")][0], 0.0)
    # judged over test days: A clears the floor, BC (exactly the floor) does not
    dates = np.arange(400)
    items = [_per_day_item(1, g, "permutation", out[(1, g)][0], dates, {}) for g in ("A", "BC")]
    _holm_by(items)
    assert items[0].clears and not items[1].clears


def test_shadow_columns_keep_the_distribution_and_break_the_relation():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 4))
    gidx = {"g1": np.array([0, 1]), "g2": np.array([3])}
    sh = shadow_columns(X, gidx, rng)
    assert sh.shape == (500, 3)
    np.testing.assert_allclose(np.sort(sh[:, 0]), np.sort(X[:, 0]))
    assert abs(np.corrcoef(sh[:, 0], X[:, 0])[0, 1]) < 0.15
    # within a group the rows move together: the pair (col 0, col 1) is a permutation of the original pairs
    pairs = {tuple(r) for r in np.round(X[:, :2], 12)}
    assert all(tuple(r) in pairs for r in np.round(sh[:, :2], 12))


def test_expected_gradients_shapes_and_completeness():
    torch.manual_seed(0)
    model = LSTMModel(ModelConfig(3, 2, hidden=6, dropout=0.0))
    rng = np.random.default_rng(0)
    bg = rng.normal(size=(40, 8, 3)).astype(np.float32)
    X = rng.normal(size=(10, 8, 3)).astype(np.float32)
    phi = expected_gradients(model, bg, X, torch.device("cpu"), nsamples=200, seed=0)
    assert phi.shape == (10, 8, 3, 2)
    with torch.no_grad():
        fx = model(torch.as_tensor(X)).numpy()
        base = model(torch.as_tensor(bg)).numpy().mean(axis=0)
    total = phi.sum(axis=(1, 2))
    # expected gradients are complete in expectation: the sum tracks f(x) - E f(background)
    assert np.corrcoef(total.ravel(), (fx - base).ravel())[0, 1] > 0.9


def test_agreement_table_and_kendall():
    items = [Importance(1, g, m, v, v, v, {"f1": v, "f2": v * 0.9}) for m, vals in
             {"permutation": [3, 2, 1], "lstm_shap": [3, 1, 2]}.items() for g, v in zip("xyz", vals)]
    table = agreement.importance_table(items)
    assert list(table.columns)[:7] == ["horizon", "group", "method", "value", "ci_low", "ci_high", "rank"]
    assert table[(table.method == "permutation") & (table.group == "x")]["rank"].item() == 1
    corr = agreement.method_correlations(table, 1)
    assert corr.loc["permutation", "lstm_shap"] == pytest.approx(1 / 3)
    assert agreement.disagreements(table, 1)[0].startswith("h=1: every method ranks 'x' first")
    assert (agreement.stability(items)["stability_tau"] == 1.0).all()


def test_selftest_finds_the_planted_signal_and_no_skill_on_a_random_walk(tmp_path, capsys):
    rc = selftest("small", progress=False, workdir=str(tmp_path))
    out = capsys.readouterr().out
    assert "FAIL" not in out, out
    assert rc == 0 and out.count("PASS") == 12


@pytest.fixture(scope="module")
def explained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "run"
    rc = main(["run", "--start", "2010-01-01", "--end", "2014-12-31", "--features", "ohlcv+technical", "--horizons", "1,5",
               *TINY, "--shap-windows", "60", "--out", str(out)])
    assert rc == 0
    return out


def test_importance_outputs(explained_run):
    imp = pd.read_csv(explained_run / "importance.csv")
    assert list(imp.columns) == ["horizon", "group", "method", "value", "ci_low", "ci_high", "rank", "floor", "p_holm",
                                 "clears_floor", "basis"]
    assert (imp[imp.method == "permutation"].floor == 0).all()
    assert imp[imp.method.isin(["lgbm_gain", "tree_shap"])].floor.gt(0).all()  # the largest shadow
    assert set(imp.method) == {"permutation", "lgbm_gain", "lgbm_split", "tree_shap", "lstm_shap"}
    assert set(imp.group) == {"price", "volume", "ma", "rsi", "macd", "bollinger"}
    assert set(imp.horizon) == {1, 5}
    assert imp.groupby(["horizon", "method"])["rank"].min().eq(1).all()
    html = (explained_run / "importance.html").read_text()
    assert "Kendall" in html and "data:image/png;base64," in html and "Answer first" in html
    import json
    m = json.loads((explained_run / "metrics.json").read_text())
    for line, entry in zip(m["importance_findings"], m["horizon_results"]):
        assert ("no skill" in line) == (not entry["skill"])  # the skill gate speaks first
    assert 'href="importance.html"' in (explained_run / "index.html").read_text()


def test_explain_rerun_on_a_finished_run(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--start", "2010-01-01", "--end", "2013-12-31", "--features", "ohlcv", "--horizons", "1",
                 *TINY, "--ablation", "none", "--no-explain", "--out", str(out)]) == 0
    assert not (out / "importance.csv").exists()
    assert 'href="importance.html"' not in (out / "index.html").read_text()
    assert main(["explain", str(out), "--shap-windows", "40", "--no-progress"]) == 0
    imp = pd.read_csv(out / "importance.csv")
    assert {"permutation", "lstm_shap", "tree_shap"} <= set(imp.method)
    assert 'href="importance.html"' in (out / "index.html").read_text()


def test_explain_on_a_non_run_folder(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["explain", str(tmp_path)]) == 2
    assert "not a featureproof run folder" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine"
