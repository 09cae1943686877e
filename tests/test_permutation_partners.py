"""Permutation on overlapping time-series windows: no sample reads a block from a window holding its own target's
days (``explain.ablation.partners``); conditional permutation's centred statistic; the joint conditional claim."""

from __future__ import annotations

import numpy as np

from explain import ablation
from explain.common import Importance
from pipeline.evaluation.importance_tests import relied_on


def test_partners_is_a_permutation_that_never_reaches_into_the_target_span():
    rng = np.random.default_rng(0)
    day = np.repeat(np.arange(400), 3)  # a panel: three symbols a day
    for reach in (0, 1, 69):
        perm = ablation.partners(rng, len(day), day, reach)
        assert sorted(perm) == list(range(len(day)))
        d = day[perm] - day
        assert not ((d >= 1) & (d <= reach)).any()
    # unconstrained, about one partner in six would reach into the span: the constraint does work here
    free = rng.permutation(len(day))
    d = day[free] - day
    assert ((d >= 1) & (d <= 69)).mean() > 0.1


def test_partners_keeps_a_permutation_when_the_days_are_too_few():
    perm = ablation.partners(np.random.default_rng(1), 5, np.arange(5), 30)
    assert sorted(perm) == list(range(5))


def _log_loss(y, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def test_centred_increase_is_the_outcome_part_and_ignores_pure_prediction_moves():
    """A model that reads column 0 with a large weight, and outcomes independent of it: the centred value is
    ``(y - ybar)(logit p - logit p')`` sample by sample, with mean 0 however far the shuffle moves the
    predictions; with outcomes that follow the column it is clearly positive."""
    rng = np.random.default_rng(3)
    n, T = 4000, 3
    X = rng.normal(size=(n, T, 2)).astype(np.float32)
    y = (rng.random((n, 1)) < 0.5).astype(float)

    def predict(x):
        return 1 / (1 + np.exp(-(0.1 + 2.0 * x[:, -1, :1])))

    out = ablation.permutation_importance(
        [(predict, X, y)], {"a": (np.array([0]), None)}, [1], _log_loss, 5, 0, centre=True
    )
    v = out[(1, "a")][0]
    base, ybar = predict(X)[:, 0], y[:, 0].mean()
    assert abs(v.mean()) < 3 * v.std() / np.sqrt(n)
    # the identity: centred value = (y - ybar) * (logit p - mean over repeats of logit p')
    rng2 = np.random.default_rng(0)
    perms = [rng2.permutation(n) for _ in range(5)]
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    moved = np.mean(
        [logit(predict(np.concatenate([X[perm][:, :, :1], X[:, :, 1:]], axis=2))[:, 0]) for perm in perms], axis=0
    )
    assert np.allclose(v, (y[:, 0] - ybar) * (logit(base) - moved), atol=1e-4)
    # an outcome that follows the column: the centred statistic finds it
    y2 = (rng.random((n, 1)) < predict(X)).astype(float)
    out2 = ablation.permutation_importance(
        [(predict, X, y2)], {"a": (np.array([0]), None)}, [1], _log_loss, 5, 0, centre=True
    )
    v2 = out2[(1, "a")][0]
    assert v2.mean() > 5 * v2.std() / np.sqrt(n)


def _imp(method, group, p, clears):
    return Importance(1, group, method, 0.01, 0.0, 0.02, p_value=p, clears=clears)


def test_conditional_claim_needs_the_plain_test_as_well():
    cond = [
        _imp("conditional_permutation", "a", 0.01, True),
        _imp("conditional_permutation", "b", 0.01, True),
        _imp("conditional_permutation", "c", 0.30, False),
    ]
    plain = [
        _imp("permutation", "a", 0.02, True),
        _imp("permutation", "b", 0.40, False),
        _imp("permutation", "c", 0.01, True),
    ]
    relied_on(cond, plain)
    assert [(i.group, i.clears, i.p_value) for i in cond] == [("a", True, 0.02), ("b", False, 0.40), ("c", False, 0.30)]


def test_perm_windows_gives_a_panel_fewer_repeats_and_treeshap_a_share_of_each_days_symbols():
    """--perm-windows: a fold with at most that many test windows keeps the repeats asked (a single symbol's run is
    unchanged); a panel's fold gets proportionally fewer (at least 1). TreeSHAP's subset keeps every test day with
    about cap / n of its samples, seeded, sorted."""
    from pipeline.config.schema import ExplainConfig
    from pipeline.stages.explain import permutation_repeats, scored_samples

    assert permutation_repeats(ExplainConfig(), 5000) == (5, 2)
    assert permutation_repeats(ExplainConfig(), 95000) == (1, 1)
    assert permutation_repeats(ExplainConfig(perm_windows=50000), 100000) == (2, 1)  # round(2.5) -> 2, banker's
    assert permutation_repeats(ExplainConfig(perm_windows=0), 10**6) == (5, 2)

    day = np.repeat(np.arange(300), 64)  # 300 days x 64 symbols
    np.testing.assert_array_equal(scored_samples(day, 0, 1), np.arange(len(day)))
    np.testing.assert_array_equal(scored_samples(day, len(day), 1), np.arange(len(day)))
    keep = scored_samples(day, 4800, 1)
    assert abs(len(keep) - 4800) <= 300 and (np.diff(keep) > 0).all()
    per_day = np.bincount(day[keep], minlength=300)
    assert per_day.min() >= 1 and set(per_day) == {16}  # 64 x 4800 / 19200
    np.testing.assert_array_equal(keep, scored_samples(day, 4800, 1))
    assert not np.array_equal(keep, scored_samples(day, 4800, 2))
    ragged = np.sort(np.random.default_rng(0).integers(0, 50, 2000))  # symbols entering and leaving
    kept = scored_samples(ragged, 500, 3)
    assert set(ragged[kept]) == set(ragged)
