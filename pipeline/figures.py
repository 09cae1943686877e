"""Matplotlib figures for the reports, returned as base64 PNG data URIs (reports stay self-contained)."""
from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def to_data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def learning_curves(histories: dict) -> str:
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for (fold, seed), h in sorted(histories.items()):
        line, = ax.plot(range(1, len(h.train_loss) + 1), h.train_loss, lw=1, alpha=0.6, label=f"f{fold} s{seed} train")
        ax.plot(range(1, len(h.val_loss) + 1), h.val_loss, lw=1.6, ls="--", color=line.get_color(), label=f"f{fold} s{seed} val")
        ax.axvline(h.best_epoch, color=line.get_color(), lw=0.6, alpha=0.4)
    ax.set_xlabel("epoch"); ax.set_ylabel("loss"); ax.set_title("Learning curves (dashed: validation; vertical: best epoch)")
    ax.legend(fontsize=6, ncol=3)
    return to_data_uri(fig)


def predicted_vs_true(dates: np.ndarray, truth: np.ndarray, pred: np.ndarray, classification: bool, title: str,
                      ylabel: str) -> str:
    fig, ax = plt.subplots(figsize=(7, 3.2))
    order = np.argsort(dates, kind="stable")
    d, y, p = pd.DatetimeIndex(dates[order]), truth[order], pred[order]
    if classification:
        ax.plot(d, p, lw=0.8, label="predicted P(up)")
        ax.scatter(d, y, s=3, c=np.where(y > 0.5, "tab:green", "tab:red"), alpha=0.4, label="realised (1 up / 0 down)")
        ax.axhline(0.5, color="grey", lw=0.6)
    else:
        ax.plot(d, y, lw=0.9, label="true")
        ax.plot(d, p, lw=0.9, label="predicted", alpha=0.85)
    ax.set_ylabel(ylabel); ax.set_title(title); ax.legend(fontsize=7)
    fig.autofmt_xdate()
    return to_data_uri(fig)


def confusion_and_roc(y: np.ndarray, p: np.ndarray, title: str) -> str:
    fig, (a, b) = plt.subplots(1, 2, figsize=(7, 3.0))
    hat = p > 0.5
    cm = np.array([[np.sum(~hat & (y < 0.5)), np.sum(hat & (y < 0.5))], [np.sum(~hat & (y > 0.5)), np.sum(hat & (y > 0.5))]])
    a.imshow(cm, cmap="Blues")
    for i in range(2):
        for j in range(2):
            a.text(j, i, str(cm[i, j]), ha="center", va="center")
    a.set_xticks([0, 1], ["pred down", "pred up"]); a.set_yticks([0, 1], ["down", "up"]); a.set_title("confusion")
    order = np.argsort(-p, kind="stable")
    ys = (y[order] > 0.5).astype(float)
    tpr = np.r_[0, np.cumsum(ys) / max(ys.sum(), 1)]
    fpr = np.r_[0, np.cumsum(1 - ys) / max((1 - ys).sum(), 1)]
    b.plot(fpr, tpr); b.plot([0, 1], [0, 1], color="grey", lw=0.6); b.set_xlabel("FPR"); b.set_ylabel("TPR"); b.set_title("ROC")
    fig.suptitle(title, fontsize=9)
    return to_data_uri(fig)


def equity_curves(curves: pd.DataFrame, title: str) -> str:
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for column in curves.columns:
        ax.plot(pd.DatetimeIndex(curves.index), curves[column], label=column.replace("_", " "))
    ax.set_ylabel("growth of 1"); ax.set_title(title); ax.legend(fontsize=7)
    fig.autofmt_xdate()
    return to_data_uri(fig)


def forest_plot(horizon_results: list[dict], classification: bool) -> str:
    """The LSTM's edge over every baseline per horizon, with 95% intervals over test days (comparator in bold
    colour): the answer of the run in one picture. Right of zero = the LSTM is better."""
    rows = []
    for e in horizon_results:
        for b, v in e["against_baselines"].items():
            rows.append((e["horizon"], b, v["edge"], v["ci"][0], v["ci"][1], b == e["comparator"]))
    scale = 100 if classification else 1
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(rows) + 1.4))
    y = np.arange(len(rows))[::-1]
    for yi, (h, b, m, lo, hi, comp) in zip(y, rows):
        colour = "tab:blue" if comp else "#888"
        ax.plot([scale * lo, scale * hi], [yi, yi], color=colour, lw=2.2 if comp else 1.4)
        ax.plot(scale * m, yi, "o", color=colour, ms=6 if comp else 4)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, [f"h={h}  vs {b}" + ("  (comparator)" if comp else "") for h, b, _, _, _, comp in rows], fontsize=9)
    ax.set_xlabel("LSTM accuracy minus baseline accuracy (points)" if classification else "baseline MSE minus LSTM MSE",
                  fontsize=10)
    ax.set_title("The LSTM's edge over each baseline, 95% intervals over test days (right of 0: LSTM better)", fontsize=10)
    fig.tight_layout()
    return to_data_uri(fig)


def cross_section_chart(xs: dict) -> str:
    """Alphalens-style: the LSTM's mean forward return per score quantile (95% intervals), and the
    cumulative net return of every score's long-short book."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
    model = xs["scores"][xs["model"]]
    q = model["quantiles"]
    means = np.array([c["mean"] for c in q]) * 1e4
    lo = means - np.array([c["ci_low"] for c in q]) * 1e4
    hi = np.array([c["ci_high"] for c in q]) * 1e4 - means
    ax1.bar(range(1, len(q) + 1), means, yerr=[np.nan_to_num(lo), np.nan_to_num(hi)], capsize=3, color="tab:blue", alpha=0.8)
    ax1.axhline(0, color="black", lw=0.6)
    ax1.set_xlabel("quantile of the LSTM's score (1 = lowest)")
    ax1.set_ylabel(f"mean {xs['horizon']}-day return (bps)")
    ax1.set_title(f"h={xs['horizon']}: forward return by quantile")
    for name, res in xs["scores"].items():
        book = res["book"]
        if book["curve"]:
            ax2.plot(pd.DatetimeIndex(book["curve_dates"]), book["curve"], lw=1.4 if name == xs["model"] else 0.9,
                     label=f"{name} (Sharpe {book['sharpe']:.2f})")
    ax2.axhline(0, color="black", lw=0.6)
    ax2.set_title(f"long-short top/bottom {model['book']['k']}, net of {model['book']['cost_bps']:g} bps")
    ax2.set_ylabel("cumulative return (sum)")
    ax2.legend(fontsize=7)
    fig.autofmt_xdate()
    fig.tight_layout()
    return to_data_uri(fig)
