"""Explain stage: method units, the planted-signal self-test, the importance outputs and re-explaining a run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from explain import agreement
from explain.ablation import group_permutation
from explain.common import Importance, group_indices, shadow_columns
from explain import clusters, gradients, temporal
from explain.ablation import permutation_importance
from explain.gradients import expected_gradients
from explain.shap_lstm import reference_expected_gradients
from pipeline.cli.main import main
from pipeline.evaluation.importance_tests import holm_by as _holm_by, per_day_item as _per_day_item, sample_loss
from pipeline.models.lstm import LSTMModel, ModelConfig
from pipeline.cli.selftest import selftest
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


def test_batched_expected_gradients_agree_with_shap():
    """Same estimator as shap.GradientExplainer: per-feature mean |phi| rank correlation >= 0.95."""
    from scipy.stats import spearmanr

    torch.manual_seed(3)
    model = LSTMModel(ModelConfig(6, 2, hidden=8, dropout=0.0))
    rng = np.random.default_rng(3)
    bg = rng.normal(size=(50, 10, 6)).astype(np.float32)
    X = rng.normal(size=(40, 10, 6)).astype(np.float32)
    X[:, :, 0] *= 3  # features of different importance
    ours = expected_gradients(model, bg, X, torch.device("cpu"), nsamples=400, seed=1)
    ref = reference_expected_gradients(model, bg, X, torch.device("cpu"), nsamples=400, seed=1)
    assert ours.shape == ref.shape == (40, 10, 6, 2)
    feat = lambda p: np.abs(p.sum(axis=1)).mean(axis=(0, 2))  # noqa: E731
    assert spearmanr(feat(ours), feat(ref)).statistic >= 0.95
    lag = lambda p: np.abs(p.sum(axis=2)).mean(axis=(0, 2))  # noqa: E731
    assert spearmanr(lag(ours), lag(ref)).statistic >= 0.9


def test_integrated_gradients_match_captum_and_are_complete():
    torch.manual_seed(4)
    model = LSTMModel(ModelConfig(3, 2, hidden=6, dropout=0.0, pool="mean"))
    rng = np.random.default_rng(4)
    X = rng.normal(size=(8, 12, 3)).astype(np.float32)
    base = np.zeros((12, 3), np.float32)
    ours = gradients.integrated_gradients(model, base, X, torch.device("cpu"), steps=32)
    ref = gradients.captum_integrated_gradients(model, base, X, torch.device("cpu"), steps=32)
    np.testing.assert_allclose(ours, ref, atol=1e-6)
    with torch.no_grad():
        gap = (model(torch.as_tensor(X)) - model(torch.as_tensor(base[None]))).numpy()
    np.testing.assert_allclose(ours.sum(axis=(1, 2)), gap, atol=2e-3)  # completeness


def test_randomisation_check_catches_an_attribution_that_ignores_the_model():
    torch.manual_seed(5)
    model = LSTMModel(ModelConfig(4, 1, hidden=8, dropout=0.0))
    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 10, 4)).astype(np.float32)
    # train briefly so that the weights carry something
    from pipeline.models.trainer import TrainConfig, fit

    y = (X[:, -1, :1] > 0).astype(np.float32)
    fit(model, X, y, X, y, TrainConfig(epochs=5, batch_size=16, progress=False), torch.device("cpu"))
    bg = rng.normal(size=(20, 10, 4)).astype(np.float32)
    eg = gradients.randomisation_check("eg", lambda m: expected_gradients(m, bg, X, torch.device("cpu"), 16, 0), model)
    ig = gradients.randomisation_check(
        "ig", lambda m: gradients.integrated_gradients(m, bg.mean(axis=0), X, torch.device("cpu")), model
    )
    broken = gradients.randomisation_check("input x constant", lambda m: X[..., None] * 2.5, model)
    assert eg.passed and ig.passed
    assert not broken.passed and broken.signed_rho > 0.99


def test_prefix_resume_is_exact_and_lag_blocks_find_a_planted_lag():
    torch.manual_seed(6)
    model = LSTMModel(ModelConfig(3, 1, hidden=8, dropout=0.0)).eval()
    rng = np.random.default_rng(6)
    X = rng.normal(size=(500, 20, 3)).astype(np.float32)
    with torch.no_grad():
        x = torch.as_tensor(X)
        np.testing.assert_allclose(
            model.resume(x[:, 15:], model.prefix(x[:, :15])).numpy(), model(x).numpy(), atol=1e-6
        )
    # a "model" that reads column 0 on day 5 (step T-5) only
    y = (X[:, -5, 0] > 0).astype(float)[:, None]

    class Lagged:
        def __call__(self, Z):
            return 1 / (1 + np.exp(-4 * np.asarray(Z)[:, -5, :1]))

    blocks = temporal.lag_blocks(20)
    assert [b.label for b in blocks] == ["last day", "day 2", "days 3-7", "days 8-20"]
    targets = {
        (g, b.label): (cols, b.steps(20))
        for g, cols in {"A": np.array([0]), "B": np.array([1, 2])}.items()
        for b in blocks
    }
    out = permutation_importance([(Lagged(), X, y)], targets, [1], sample_loss(True), n_repeats=3)
    values = {key: v[0].mean() for (h, key), v in out.items()}
    assert max(values, key=values.get) == ("A", "days 3-7")
    assert all(values[k] == 0 for k in values if k != ("A", "days 3-7"))
    share = np.zeros(20)
    share[-5] = 1.0
    assert temporal.days_holding(share) == 5 and "last 5 days" in temporal.reliance_sentence(1, share)


def test_perfectly_correlated_copies_share_a_cluster():
    rng = np.random.default_rng(7)
    n = 800
    lead = rng.normal(size=n)
    trend = np.cumsum(rng.normal(size=n))
    rows = np.column_stack(
        [lead, 2 * lead + 1, trend, trend + rng.normal(0, 0.1, n), rng.normal(size=n), rng.normal(size=n)]
    )
    cols = ["lead", "lead_copy", "ma5", "ma10", "noise_a", "noise_b"]
    groups = {
        "extra:lead": ["lead"],
        "extra:lead_copy": ["lead_copy"],
        "ma": ["ma5", "ma10"],
        "extra:noise_a": ["noise_a"],
        "extra:noise_b": ["noise_b"],
    }
    cl = clusters.correlation_clusters(rows, cols, groups)
    where = {c: name for name, idx in cl.members.items() for c in (cols[i] for i in idx)}
    assert where["lead"] == where["lead_copy"] and where["ma5"] == where["ma10"]
    assert where["lead"] != where["noise_a"] and where["lead"] != where["ma5"]
    assert cl.groups[where["lead"]] == ["extra:lead", "extra:lead_copy"] and where["ma5"] == "ma"
    assert "extra:lead and extra:lead_copy move together" in " ".join(clusters.cluster_sentences(cl, cols))


def test_agreement_table_and_kendall():
    items = [
        Importance(1, g, m, v, v, v, {"f1": v, "f2": v * 0.9})
        for m, vals in {"permutation": [3, 2, 1], "lstm_shap": [3, 1, 2]}.items()
        for g, v in zip("xyz", vals)
    ]
    table = agreement.importance_table(items)
    assert list(table.columns)[:7] == ["horizon", "group", "method", "value", "ci_low", "ci_high", "rank"]
    assert table[(table.method == "permutation") & (table.group == "x")]["rank"].item() == 1
    corr = agreement.method_correlations(table, 1)
    assert corr.loc["permutation", "lstm_shap"] == pytest.approx(1 / 3)
    assert agreement.disagreements(table, 1)[0].startswith("h=1: every method ranks 'x' first")
    assert (agreement.stability(items)["stability_tau"] == 1.0).all()


@pytest.mark.parametrize("model", ["lstm", "linear"])
def test_selftest_finds_the_planted_signal_and_no_skill_on_a_random_walk(tmp_path, capsys, model):
    """The selftest's controls pass for the default LSTM and for another family (every family passes them:
    ``python -m pipeline selftest --size small --model NAME``, see the README)."""
    rc = selftest("small", progress=False, workdir=str(tmp_path), model=model)
    out = capsys.readouterr().out
    assert "FAIL" not in out, out
    assert rc == 0 and out.count("PASS") == 20 and "planted-lag search" in out


@pytest.fixture(scope="module")
def explained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "run"
    rc = main(
        [
            "run",
            "--start",
            "2010-01-01",
            "--end",
            "2014-12-31",
            "--features",
            "ohlcv+technical",
            "--horizons",
            "1,5",
            *TINY,
            "--shap-windows",
            "60",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    return out


def test_importance_outputs(explained_run):
    imp = pd.read_csv(explained_run / "importance.csv")
    assert list(imp.columns) == [
        "horizon",
        "group",
        "method",
        "value",
        "ci_low",
        "ci_high",
        "rank",
        "floor",
        "p_holm",
        "clears_floor",
        "basis",
    ]
    assert (imp[imp.method == "permutation"].floor == 0).all()
    assert imp[imp.method.isin(["lgbm_gain", "tree_shap"])].floor.gt(0).all()  # the largest shadow
    assert set(imp.method) == {
        "permutation",
        "conditional_permutation",
        "lgbm_gain",
        "lgbm_split",
        "tree_shap",
        "lstm_shap",
        "integrated_gradients",
    }
    assert set(imp.group) == {"price", "volume", "ma", "rsi", "macd", "bollinger"}
    assert set(imp.horizon) == {1, 5}
    assert imp.groupby(["horizon", "method"])["rank"].min().eq(1).all()
    html = (explained_run / "importance.html").read_text()
    assert "Kendall" in html and "data:image/png;base64," in html and "Answer first" in html
    lead = html.index("Answer first")
    for question in (
        "Is there skill worth explaining",
        "How far back does the model look?",
        "Which features move together?",
        "Can the gradient attributions be trusted?",
    ):
        assert lead < html.index(question) < html.index("How to read this")  # conclusions first, then the detail
    assert (
        lead < html.index('alt="rank of each feature group') < html.index("How far back")
    )  # the one picture, near the top
    lags = pd.read_csv(explained_run / "importance_lags.csv")
    assert set(lags.block) == {"last day", "day 2", "days 3-7", "days 8-20"}  # a 20-day window (TINY)
    assert set(pd.read_csv(explained_run / "importance_clusters.csv").method) == {"permutation", "lstm_shap"}
    periods = pd.read_csv(explained_run / "importance_periods.csv")
    assert periods.groupby(["horizon", "group", "method"]).period.nunique().eq(2).all()  # TINY has 2 folds
    checks = pd.read_csv(explained_run / "attribution_checks.csv")
    assert {"lstm_shap", "integrated_gradients"} <= set(checks.method) and checks.infidelity.notna().all()
    import json

    m = json.loads((explained_run / "metrics.json").read_text())
    for line, entry in zip(m["importance_findings"], m["horizon_results"]):
        assert ("no skill" in line) == (not entry["skill"])  # the skill gate speaks first
    assert 'href="importance.html"' in (explained_run / "index.html").read_text()


def test_explain_rerun_on_a_finished_run(tmp_path):
    out = tmp_path / "run"
    assert (
        main(
            [
                "run",
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
    assert not (out / "importance.csv").exists()
    assert 'href="importance.html"' not in (out / "index.html").read_text()
    assert main(["explain", str(out), "--shap-windows", "40", "--no-progress"]) == 0
    imp = pd.read_csv(out / "importance.csv")
    assert {"permutation", "lstm_shap", "tree_shap"} <= set(imp.method)
    assert 'href="importance.html"' in (out / "index.html").read_text()
    assert "fold 2 only" in (out / "importance.html").read_text()  # says what the rerun covers
    # a second rerun never replaces the richer result already there: it writes beside it
    before = (out / "importance.csv").read_bytes()
    assert main(["explain", str(out), "--shap-windows", "40", "--no-progress"]) == 0
    assert (out / "importance.csv").read_bytes() == before
    assert (out / "importance_lastfold.csv").exists() and (out / "importance_lastfold_lags.csv").exists()
    assert "importance.html" in (out / "importance_lastfold.html").read_text()
    assert 'href="importance_lastfold.html"' in (out / "index.html").read_text()


def test_explain_on_a_non_run_folder(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["explain", str(tmp_path)]) == 2
    assert "not a featureproof run folder" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine"
