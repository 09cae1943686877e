"""The inference module and its calibration: HAR tests of per-day means, intervals, Holm, and a reduced
calibration study that asserts every claim keeps its error rate on null data and finds planted signals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.evaluation import inference
from pipeline.calibration.study import StudyConfig, run_study


def test_per_day_averages_symbols_of_a_day():
    dates = np.array([3, 1, 1, 2, 3, 3])
    np.testing.assert_allclose(inference.per_day(np.arange(6.0), dates), [1.5, 3.0, 3.0])


def test_mean_test_interval_is_the_dual_of_the_test():
    rng = np.random.default_rng(0)
    for shift in (0.0, 0.05, 0.2):
        t = inference.mean_test(rng.normal(shift, 1, 800), h=5)
        assert t.ci_low <= t.mean <= t.ci_high
        assert (t.ci_low > 0 or t.ci_high < 0) == (t.p_value < 0.05)
        assert t.mde > 0 and t.dof == inference.ewc_dof(800, 5)
    one = inference.mean_test(rng.normal(0.3, 1, 500), alternative="greater")
    assert one.p_value < 0.01 and one.ci_high == np.inf


def test_dof_shrinks_with_the_horizon_and_constant_series_are_not_significant():
    assert inference.ewc_dof(1500, 1) >= inference.ewc_dof(1500, 5) > inference.ewc_dof(1500, 10) >= 2
    assert inference.ewc_dof(300, 10) == 7
    t = inference.mean_test(np.zeros(300))
    assert t.p_value == 1.0


def test_overlapping_sums_are_not_overconfident():
    """A naive t-test on overlapping 10-day sums rejects far too often; the HAR test does not."""
    rng = np.random.default_rng(1)
    naive, har = [], []
    for _ in range(300):
        r = rng.standard_t(4, 1010)
        d = np.convolve(r, np.ones(10), "valid")[:1000]
        har.append(inference.mean_test(d, h=10).p_value < 0.05)
        naive.append(abs(d.mean() / (d.std() / np.sqrt(len(d)))) > 1.96)
    assert np.mean(naive) > 0.3 and np.mean(har) < 0.09


def test_bootstrap_intervals_move_whole_days_and_can_be_off():
    dates = np.repeat(np.arange(200), 3)
    blocks = inference.DayBlocks(dates, 10)
    rows = blocks.sample(np.random.default_rng(0))
    assert len(rows) == 600 and np.all(np.bincount(dates[rows]) % 3 == 0)
    assert inference.metric_intervals(lambda r: {"m": 1.0}, {"m": 1.0}, dates, n_boot=0) == {}
    y = np.random.default_rng(2).normal(size=600)
    ci = inference.metric_intervals(lambda r: {"m": float(y[r].mean())}, {"m": float(y.mean())}, dates, h=1, n_boot=200)
    assert ci["m"][0] < y.mean() < ci["m"][1]
    assert inference.block_length(1500, 10) == 60 and inference.block_length(1500, 1) == 18


def test_holm():
    np.testing.assert_allclose(inference.holm(np.array([0.01, 0.04, 0.03])), [0.03, 0.06, 0.06])
    assert inference.holm(np.array([0.5]))[0] == 0.5


def test_exact_tests_only_where_days_are_independent():
    assert inference.iid_tests_valid(1, 1)
    assert not inference.iid_tests_valid(5, 1) and not inference.iid_tests_valid(1, 3)


def test_reduced_calibration_study():
    """The calibration study at reduced size, through the same functions as ``python -m pipeline calibrate``
    (one test: the study runs once, whichever worker takes it). It fails on an observed size of 8% or a
    coverage of 90% in any cell with at least 100 simulations, and on any size or coverage cell outside the
    study's own pass line (nominal within 2 Monte-Carlo errors)."""
    study = run_study(
        StudyConfig(
            sims=120,
            n_days=500,
            n_boot=100,
            lgbm_sims=40,
            lgbm_days=600,
            e2e_sims=25,
            compare_sims=15,
            ledger_sims=3,
            e2e_days=1500,
            seed=3,
            # the selection cells need hundreds of draws to judge a 5% size: their own tests
            # (tests/test_search.py) and the 1,000-draw study in docs/calibration.md; the defaults
            # cells run the LSTM at window 60 (35 s a market): docs/calibration.md
            parts=tuple(p for p in StudyConfig().parts if p not in ("selection", "defaults", "search_wide")),
        ),
        progress=False,
    )
    size = study[study.kind == "size"]
    many = size[size.sims >= 100]
    assert len(size) >= 80 and len(many) >= 50
    assert (many.rate < 0.08).all(), many[many.rate >= 0.08][["claim", "horizon", "symbols", "rate"]]
    cov = study[study.kind == "coverage"]
    assert len(cov) >= 24
    assert (cov[cov.sims >= 100].rate > 0.90).all(), cov[cov.rate <= 0.90][["claim", "horizon", "symbols", "rate"]]
    bad = study[study.kind.isin(["size", "coverage"]) & ~study.ok]
    assert bad.empty, bad[["claim", "horizon", "symbols", "rate", "bound", "sims"]]
    assert (study.mc_error >= 0).all() and set(study.kind) <= {"size", "coverage", "power", "descriptive"}

    # the real stages, every method whose claims reach the lead, the family over horizons
    stages = study[study.claim.str.startswith("stages:")]
    assert set(stages.kind) == {"size", "power"} and (stages.path.str.startswith("real stages")).all()
    assert set(stages[stages.kind == "size"].horizon) == {"1", "5", "all"}
    for method in (
        "permutation",
        "conditional permutation",
        "drop-and-retrain",
        "TreeSHAP (LightGBM)",
        "expected gradients",
        "integrated gradients",
    ):
        assert stages.claim.str.startswith(f"stages: {method} calls some no-information group").any(), method
        assert stages.claim.str.startswith(f"stages: {method} calls the planted group").any(), method
    assert stages.claim.str.contains(r"\[family-wise\]").any()
    # compare --models through compare_sets: the pair, each family against its comparator, the whole family
    real_compare = study[study.claim.str.startswith("compare (real stages)")]
    assert (
        set(real_compare.kind) == {"size", "power"}
        and real_compare.path.str.startswith("real stages: compare_sets").all()
    )
    assert real_compare.claim.str.contains("two model families differ").any()
    assert real_compare.claim.str.contains(r"\[family-wise\]").any()
    # the ledger: 20 runs on one market counted one after another (size after 5, 10, 20; power; the naive best)
    real_ledger = study[study.claim.str.startswith("ledger (real stages)")]
    assert set(real_ledger.kind) == {"size", "power"} and real_ledger.path.str.startswith("real stages: 20 runs").all()
    assert real_ledger.claim.str.contains("after 20 no-skill runs on one market, SPA").any()
    assert study.claim.str.startswith("legacy (not used): the best of 20 no-skill runs").any()
    # correlated groups, the cross-section's references and book, compare's whole family
    assert study.claim.str.startswith("importance: conditional permutation calls one of two correlated").any()
    assert study.claim.str.startswith("importance: joint permutation").any()
    for prefix in (
        "cross-section: Rank IC differs from some reference",
        "cross-section: the long-short book",
        "cross-section: planted signal, Rank IC above every reference",
    ):
        assert study.claim.str.startswith(prefix).any(), prefix
    assert len(study[study.claim.str.contains("set against the comparator")]) >= 3
    run_cells = study[study.claim.str.startswith("run:")]
    assert set(run_cells.path.str.split(":").str[0]) == {
        "analytic",
        "evaluation.tables.metric_table (every interval run and compare report) on simulated predictors",
    }

    # power is stated and the descriptive rows show why the old rules went
    power = study[study.kind == "power"].set_index(["claim", "horizon", "symbols"])["rate"]
    assert power[("run: planted signal beats always up (DM, HAR), h=1", "1", 5)] > 0.4
    assert power[("importance: permutation calls the planted group important, h=1", "1", 5)] > 0.8
    assert (
        power[
            (
                "importance: tree_shap calls the planted group important (above shadows, aligned out of sample), h=1",
                "1",
                1,
            )
        ]
        > 0.5
    )
    assert (
        power[("stages: conditional permutation calls the planted group important (explain stage), h=1", "1", 1)] > 0.8
    )
    descriptive = study[study.kind == "descriptive"]
    legacy = descriptive[descriptive.claim.str.startswith("legacy")]
    assert (legacy[legacy.sims >= 100].rate > 0.08).all()  # Wilcoxon over seeds x folds: far above its nominal 5%
    plain = descriptive[descriptive.claim.str.startswith("not a claim: plain permutation")]
    assert (plain.rate > 0.5).all()  # what conditional permutation fixes


@pytest.mark.parametrize("clf", [True, False])
def test_weighted_resample_metrics_equal_the_resampled_rows(clf):
    """The bootstrap's O(N) metrics from multiplicities equal compute_metrics on the resampled rows, ties
    included (AUC and IC from average ranks)."""
    from pipeline.evaluation.metrics import WeightedMetrics, compute_metrics

    rng = np.random.default_rng(5)
    n = 2000
    y = (rng.random(n) > 0.5).astype(float) if clf else rng.normal(size=n)
    p = np.round(rng.random(n), 2) if clf else np.round(rng.normal(size=n), 1)
    r = np.round(rng.normal(size=n), 1)
    weighted = WeightedMetrics(clf, y, p, r)
    for _ in range(10):
        rows = rng.integers(0, n, size=n)
        expected = compute_metrics(clf, y[rows], p[rows], r[rows])
        got = weighted(np.bincount(rows, minlength=n))
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, abs=1e-12), key


def test_a_constant_nonzero_differential_is_significant_and_its_interval_agrees():
    """One side better by the same amount on every day: the interval [mean, mean] excludes 0, so the test
    must reject too (it used to give p = 1 beside that interval)."""
    t = inference.mean_test(np.full(100, 0.01), h=5)
    assert t.p_value < 0.05 and t.ci_low == t.ci_high == pytest.approx(0.01) and t.ci_low > 0
    assert inference.mean_test(np.zeros(100)).p_value == 1.0
    one_sided = inference.mean_test(np.full(100, -0.01), alternative="greater")
    assert one_sided.p_value == 1.0


def test_tiny_loss_differentials_are_tested_not_called_constant():
    """Squared-return losses are ~1e-4 and their differences ~1e-8: an absolute tolerance of 1e-8 called
    real differences constant (p = 1, zero-width interval)."""
    d = 1e-9 * np.random.default_rng(0).normal(1.0, 1.0, 500)
    t = inference.mean_test(d)
    assert t.se > 0 and t.ci_low < t.mean < t.ci_high and t.p_value < 1e-6


def test_too_few_days_give_no_test_and_an_interval_that_says_nothing():
    t = inference.mean_test(np.arange(5.0))
    assert t.p_value == 1.0 and t.ci_low == -np.inf and t.ci_high == np.inf


def test_holm_ignores_untested_hypotheses_and_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    got = inference.holm(np.array([0.01, np.nan, 0.04]))
    np.testing.assert_allclose(got, [0.02, np.nan, 0.04])
    rng = np.random.default_rng(1)
    for _ in range(200):
        p = rng.uniform(size=rng.integers(1, 12)) ** 3
        p[rng.uniform(size=len(p)) < 0.2] = p[0]  # ties
        np.testing.assert_allclose(inference.holm(p), multipletests(p, method="holm")[1], rtol=0, atol=1e-12)


def test_hand_written_statistics_equal_the_libraries_that_own_them():
    """AUC, balanced accuracy, MCC (scikit-learn), Spearman (SciPy) and McNemar (statsmodels), on draws with
    ties, constant columns and resample weights (the O(N) weighted forms the bootstrap uses)."""
    from scipy.stats import spearmanr
    from sklearn.metrics import balanced_accuracy_score, matthews_corrcoef, roc_auc_score
    from statsmodels.stats.contingency_tables import mcnemar

    from pipeline.evaluation.metrics import WeightedMetrics, compute_metrics

    rng = np.random.default_rng(7)
    for trial in range(150):
        n = int(rng.integers(20, 200))
        y = (rng.uniform(size=n) < rng.uniform(0.2, 0.8)).astype(float)
        p = np.round(rng.uniform(size=n), int(rng.integers(1, 3)))  # ties
        if trial % 10 == 0:
            p[:] = 0.7  # a constant prediction
        w = rng.integers(0, 3, size=n)  # a resample's multiplicities
        w[0] = max(w[0], 1)
        rows = np.repeat(np.arange(n), w)
        yr, pr = y[rows], p[rows]
        if len(np.unique(yr)) == 2:
            for got in (compute_metrics(True, yr, pr), WeightedMetrics(True, y, p)(w)):
                assert abs(got["auc"] - roc_auc_score(yr, pr)) < 1e-12
                assert abs(got["balanced_accuracy"] - balanced_accuracy_score(yr, pr > 0.5)) < 1e-12
                assert abs(got["mcc"] - matthews_corrcoef(yr, pr > 0.5)) < 1e-12
        a, b = np.round(rng.normal(size=n), 1), np.round(rng.normal(size=n), 1)
        if trial % 10 == 1:
            a[:] = 1.0
        ref = np.zeros(n)
        got = compute_metrics(False, b, a, ref)["ic"]
        want = spearmanr(a, b).statistic if np.std(a) > 0 and np.std(b) > 0 else 0.0
        assert abs(got - want) < 1e-12
        right_m, right_b = rng.uniform(size=n) < 0.55, rng.uniform(size=n) < 0.5
        b_, c_ = int(np.sum(right_m & ~right_b)), int(np.sum(~right_m & right_b))
        if b_ + c_:
            table = [[0, b_], [c_, 0]]
            assert (
                abs(inference.mcnemar_binomial(right_m, right_b)["p_value"] - mcnemar(table, exact=True).pvalue) < 1e-12
            )


def test_study_reads_typed_claims_not_their_wording(monkeypatch):
    """A cell's kind and horizon are declared where it is made (study.Claim), so rewording a sentence changes no
    cell's kind: the selection cells reworded to say "covers" and "planted" everywhere keep their kinds."""
    from pipeline.calibration import study as st

    cfg = StudyConfig(sims=1, selection_sims=2, symbols=(1,), n_days=300, parts=("selection",), seed=1)
    before = run_study(cfg, progress=False).set_index(["claim", "horizon"]).kind
    assert set(before) == {"size", "power", "descriptive"}

    def reworded(fn):
        def wrapped(*args, **kwargs):
            return {st.Claim(f"planted and covers: {c}", c.kind, c.horizon): v for c, v in fn(*args, **kwargs).items()}

        return wrapped

    monkeypatch.setattr(st, "spa_claims", reworded(st.spa_claims))
    monkeypatch.setattr(st, "dsr_claims", reworded(st.dsr_claims))
    after = run_study(cfg, progress=False)
    after["claim"] = after.claim.str.removeprefix("planted and covers: ")
    pd.testing.assert_series_equal(after.set_index(["claim", "horizon"]).kind.sort_index(), before.sort_index())
    with pytest.raises(TypeError, match="plain string"):
        st.claim_kind("run: a sentence without a declared kind")
