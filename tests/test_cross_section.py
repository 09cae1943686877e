"""Cross-section: planted signals are found, independent random walks are not, close-only data run, and
the SP20 sample loads offline."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipeline.cli.main import main
from pipeline.evaluation.cross_section import cross_section, evaluate_score


def _panel(n_dates: int, n_sym: int, rng: np.random.Generator, signal: float = 0.0, h: int = 1):
    """Per date and symbol: a score, the realised h-day forward return (overlapping sums of daily returns)
    and the next day's return. ``signal`` plants a correlation between the score and the next h days."""
    daily = rng.standard_t(4, size=(n_dates + h, n_sym)) * 0.01
    score = rng.normal(size=(n_dates, n_sym))
    if signal:
        daily[1 : n_dates + 1] += signal * 0.01 * score  # the score predicts the next day's return
    fwd = np.stack([daily[t + 1 : t + 1 + h].sum(axis=0) for t in range(n_dates)])
    dates = np.repeat(pd.bdate_range("2010-01-01", periods=n_dates).to_numpy(), n_sym)
    symbols = np.tile(np.array([f"S{i:02d}" for i in range(n_sym)], dtype=object), n_dates)
    return dates, symbols, score.ravel(), fwd.ravel(), daily[1 : n_dates + 1].ravel()


def test_planted_cross_sectional_signal_is_found():
    rng = np.random.default_rng(1)
    dates, symbols, score, fwd, nxt = _panel(600, 20, rng, signal=0.15)
    res = evaluate_score(dates, symbols, score, fwd, nxt, h=1)
    for name in ("ic", "rank_ic"):
        assert res[name]["mean"] > 0 and res[name]["ci_low"] > 0 and res[name]["p_value"] < 0.05
    assert res["spread"]["mean"] > 0 and res["spread"]["ci_low"] > 0  # top quantile beats the bottom one
    q = [c["mean"] for c in res["quantiles"]]
    assert q[-1] > q[0] and np.corrcoef(np.arange(len(q)), q)[0, 1] > 0.8  # monotone in the score
    assert res["book"]["sharpe"] > 1 and res["book"]["daily"]["ci_low"] > 0
    flipped = evaluate_score(dates, symbols, -score, fwd, nxt, h=1)
    assert flipped["rank_ic"]["ci_high"] < 0 and flipped["spread"]["mean"] < 0


@pytest.mark.parametrize("h", [1, 5])
def test_independent_random_walks_keep_the_nominal_rate(h):
    """200 panels of independent fat-tailed random walks (overlapping h-day returns for h = 5): the Rank IC
    and spread tests reject at about their 5% rate, and the Rank IC interval covers zero in the rest."""
    rng = np.random.default_rng(100 + h)
    rejections = {"rank_ic": 0, "ic": 0, "spread": 0}
    sims = 200
    for _ in range(sims):
        dates, symbols, score, fwd, nxt = _panel(300, 12, rng, h=h)
        # a persistent score (as a model's would be): the same view for h days at a time
        res = evaluate_score(dates, symbols, score, fwd, nxt, h=h, quantiles=4)
        for k in rejections:
            rejections[k] += res[k]["p_value"] < 0.05
    for k, n in rejections.items():
        assert n / sims <= 0.09, (k, n / sims)  # nominal 5%; the binomial 99% bound for 200 draws is about 9%


def test_model_against_references_is_tested_with_holm():
    rng = np.random.default_rng(3)
    dates, symbols, score, fwd, nxt = _panel(500, 15, rng, signal=0.2)
    noise = rng.normal(size=score.shape)
    xs = cross_section(
        dates, symbols, {"LSTM": score, "noise": noise, "half": score + 3 * noise}, fwd, nxt, 1, 5, 0, 5.0
    )
    assert xs["against"]["noise"]["mean"] > 0 and xs["against"]["noise"]["p_holm"] < 0.05
    assert (
        set(xs["against"]) == {"noise", "half"} and xs["against"]["half"]["p_holm"] >= xs["against"]["half"]["p_value"]
    )


def _planted_panel_csv(path, n_sym=12, n_days=900, seed=0, reversal=0.35):
    """A long CSV of close-only prices whose next-day return reverses part of today's (a planted
    cross-sectional reversal signal that the reversal baseline and the LSTM can find)."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2012-01-02", periods=n_days)
    parts = []
    for i in range(n_sym):
        r = np.zeros(n_days)
        eps = rng.standard_t(5, size=n_days) * 0.012
        for t in range(1, n_days):
            r[t] = -reversal * eps[t - 1] + eps[t]
        close = 50 * np.exp(np.cumsum(r))
        parts.append(pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "symbol": f"S{i:02d}", "close": close}))
    pd.concat(parts).to_csv(path, index=False)


def test_planted_panel_end_to_end_close_only(tmp_path, capsys):
    data = tmp_path / "panel.csv"
    _planted_panel_csv(data)
    out = tmp_path / "run"
    rc = main(
        [
            "run",
            "--data",
            str(data),
            "--target",
            "xs_direction",
            "--horizons",
            "1",
            "--features",
            "ohlcv",
            "--window",
            "5",
            "--hidden",
            "8",
            "--epochs",
            "8",
            "--folds",
            "1",
            "--bootstrap",
            "0",
            "--no-explain",
            "--ablation",
            "none",
            "--no-progress",
            "--out",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "left out the features that need them" in captured.err  # close-only: ranges and volume left out
    metrics = json.loads((out / "metrics.json").read_text())
    [xs] = metrics["cross_section"]
    rev = xs["scores"]["reversal"]
    assert rev["rank_ic"]["ci_low"] > 0 and rev["spread"]["mean"] > 0
    lstm = xs["scores"]["LSTM+linear"]
    assert lstm["rank_ic"]["mean"] > 0 and lstm["rank_ic"]["ci_low"] > 0
    html = (out / "index.html").read_text()
    assert "Cross-section" in html and "Rank IC" in html and "long-short" in html
    assert set(metrics["horizon_results"][0]["baselines"]) >= {"reversal", "momentum", "lightgbm"}
    # alphalens' and Qlib's descriptive views: the IC's distribution, by month, the score's turnover, alpha and beta
    assert {"skew", "kurtosis", "t"} <= set(lstm["rank_ic"]) and lstm["rank_ic_by_month"]
    assert {"rank_autocorrelation", "top_quantile_turnover"} <= set(lstm["stability"])
    assert {"alpha", "beta"} <= set(lstm["book"]) and "rank autocorrelation" in html
    # every simulated symbol trades to the end: the survivorship warning, on the command line and in the report
    assert "survivorship:" in captured.err and "survivorship:" in html


def test_random_walk_panel_end_to_end_finds_nothing(tmp_path):
    """Independent random walks through the whole pipeline: every score's Rank IC interval covers zero."""
    data = tmp_path / "panel.csv"
    _planted_panel_csv(data, seed=4, reversal=0.0)
    out = tmp_path / "run"
    assert (
        main(
            [
                "run",
                "--data",
                str(data),
                "--target",
                "xs_rank",
                "--horizons",
                "1,5",
                "--features",
                "ohlcv",
                "--window",
                "5",
                "--hidden",
                "8",
                "--epochs",
                "4",
                "--folds",
                "1",
                "--bootstrap",
                "0",
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
    metrics = json.loads((out / "metrics.json").read_text())
    for xs in metrics["cross_section"]:
        for name, res in xs["scores"].items():
            assert res["rank_ic"]["ci_low"] < 0 < res["rank_ic"]["ci_high"], (xs["horizon"], name, res["rank_ic"])


def test_xs_target_needs_several_symbols(tiny_csv, tmp_path, capsys):
    assert main(["run", "--data", str(tiny_csv), "--target", "xs_rank", "--out", str(tmp_path / "r")]) == 2
    assert "at least 3 symbols" in capsys.readouterr().err


def test_sp20_sample_is_offline_and_close_only():
    from pipeline.data.load import load_sample_prices

    frames = load_sample_prices(["SP20"])
    assert len(frames) == 20 and {"AAPL", "MSFT", "XOM"} <= set(frames)
    aapl = frames["AAPL"]
    assert aapl.index[0] == pd.Timestamp("1990-01-02") and aapl.index[-1] == pd.Timestamp("2022-12-28")
    assert aapl["close"].notna().all() and aapl["open"].isna().all() and aapl.attrs["absent_columns"]
    assert list(load_sample_prices(["msft"])) == ["MSFT"]


def test_score_stability_turnover_and_the_books_beta():
    """A persistent score keeps its ranks (autocorrelation near 1, little quantile turnover); a fresh random score
    every day has none (turnover near 1 - 1/quantiles), and its long-short book little beta to the universe."""
    from pipeline.evaluation.cross_section import evaluate_score

    rng = np.random.default_rng(0)
    n_days, n_sym = 400, 30
    dates = np.datetime64("2020-01-01") + np.repeat(np.arange(n_days), n_sym).astype("timedelta64[D]")
    syms = np.tile(np.arange(n_sym), n_days).astype(str)
    ret = rng.normal(size=(n_days, n_sym)) * 0.01
    slow = np.cumsum(rng.normal(size=(n_days, n_sym)) * 0.1, axis=0) + rng.normal(size=n_sym)
    persistent = evaluate_score(dates, syms, slow.ravel(), ret.ravel(), ret.ravel(), 1)
    fresh = evaluate_score(dates, syms, rng.normal(size=n_days * n_sym), ret.ravel(), ret.ravel(), 1)
    assert persistent["stability"]["rank_autocorrelation"] > 0.9 > 0.1 > abs(fresh["stability"]["rank_autocorrelation"])
    assert persistent["stability"]["top_quantile_turnover"] < 0.1
    assert abs(fresh["stability"]["top_quantile_turnover"] - 0.8) < 0.05
    assert len(persistent["rank_ic_by_month"]) == 14 and np.isfinite(persistent["rank_ic"]["kurtosis"])
    assert abs(fresh["book"]["beta"]) < 0.5
