"""Matplotlib figures for the reports, returned as base64 PNG data URIs (reports stay self-contained)."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from cycler import cycler  # noqa: E402

from pipeline.evaluation.inference import outcome  # noqa: E402
from pipeline.labels import BLUE, GREEN, GREY, OKABE_ITO, ORANGE, TEXT, VERMILLION, label  # noqa: E402

# Reports are 1200 px wide: figures are drawn at that width (WIDE inches at DPI), with type a reader can read.
DPI = 100
WIDE = 11.6
STYLE = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "figure.titlesize": 12,
    "axes.prop_cycle": cycler(color=OKABE_ITO[:-1]),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
}
plt.rcParams.update(STYLE)


def text_colour(rgba) -> str:
    """Black or white, whichever reads better on a cell of colour ``rgba`` (WCAG relative luminance)."""
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3])
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.179 else "white"


def to_data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def learning_curves(histories: dict) -> str:
    fig, ax = plt.subplots(figsize=(WIDE, 3.8))
    for (fold, seed), h in sorted(histories.items()):
        (line,) = ax.plot(
            range(1, len(h.train_loss) + 1), h.train_loss, lw=1.2, alpha=0.7, label=f"fold {fold} seed {seed} train"
        )
        ax.plot(
            range(1, len(h.val_loss) + 1),
            h.val_loss,
            lw=1.8,
            ls="--",
            color=line.get_color(),
            label=f"fold {fold} seed {seed} validation",
        )
        ax.axvline(h.best_epoch, color=line.get_color(), lw=0.8, alpha=0.5)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("Learning curves (dashed: validation; vertical: best epoch)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), ncol=1 if len(histories) <= 6 else 2)
    return to_data_uri(fig)


def predicted_vs_true(
    dates: np.ndarray, truth: np.ndarray, pred: np.ndarray, classification: bool, title: str, ylabel: str
) -> str:
    fig, ax = plt.subplots(figsize=(WIDE, 3.6))
    order = np.argsort(dates, kind="stable")
    d, y, p = pd.DatetimeIndex(dates[order]), truth[order], pred[order]
    if classification:
        ax.plot(d, p, lw=1.0, color=BLUE, label="predicted P(up)")
        up = y > 0.5
        ax.scatter(d[up], y[up], s=6, color=GREEN, alpha=0.5, label="realised up (1)")
        ax.scatter(d[~up], y[~up], s=6, color=VERMILLION, alpha=0.5, marker="s", label="realised down (0)")
        ax.axhline(0.5, color=GREY, lw=0.8)
    else:
        ax.plot(d, y, lw=1.0, color=GREY, label="true")
        ax.plot(d, p, lw=1.2, color=BLUE, label="predicted", alpha=0.9)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), markerscale=2.5)
    fig.autofmt_xdate()
    return to_data_uri(fig)


def confusion_and_roc(y: np.ndarray, p: np.ndarray, title: str, model: str = "LSTM") -> str:
    fig, (a, b) = plt.subplots(1, 2, figsize=(WIDE * 0.75, 3.8), gridspec_kw={"width_ratios": [1, 1.2]})
    hat = p > 0.5
    cm = np.array(
        [[np.sum(~hat & (y < 0.5)), np.sum(hat & (y < 0.5))], [np.sum(~hat & (y > 0.5)), np.sum(hat & (y > 0.5))]]
    )
    im = a.imshow(cm, cmap="Blues", vmin=0)
    for i in range(2):
        for j in range(2):  # the number in black or white, whichever contrasts with its cell
            a.text(
                j,
                i,
                str(cm[i, j]),
                ha="center",
                va="center",
                fontsize=13,
                color=text_colour(im.cmap(im.norm(cm[i, j]))),
            )
    a.set_xticks([0, 1], ["predicted down", "predicted up"])
    a.set_yticks([0, 1], ["down", "up"])
    a.set_ylabel("realised")
    a.set_title("confusion matrix (threshold 0.5)")
    order = np.argsort(-p, kind="stable")
    ys = (y[order] > 0.5).astype(float)
    tpr = np.r_[0, np.cumsum(ys) / max(ys.sum(), 1)]
    fpr = np.r_[0, np.cumsum(1 - ys) / max((1 - ys).sum(), 1)]
    b.plot(fpr, tpr, color=BLUE, lw=1.8, label=model)
    b.plot([0, 1], [0, 1], color=GREY, lw=1, ls="--", label="no skill")
    b.set_xlabel("false positive rate")
    b.set_ylabel("true positive rate")
    b.set_title("ROC curve")
    b.legend(loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    return to_data_uri(fig)


def equity_curves(curves: pd.DataFrame, title: str) -> str:
    fig, ax = plt.subplots(figsize=(WIDE, 3.6))
    for column in curves.columns:
        ax.plot(pd.DatetimeIndex(curves.index), curves[column], lw=1.4, label=column.replace("_", " "))
    ax.set_ylabel("growth of 1")
    ax.set_title(title)
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    return to_data_uri(fig)


_VERDICT = {"better": GREEN, "worse": VERMILLION, "none": ORANGE}


def forest_plot(horizon_results: list[dict], classification: bool, kind: str = "", model: str = "LSTM") -> str:
    """The run's answer in one picture: per horizon, the LSTM's edge over every baseline with its 95%
    interval over test days (comparator first and in colour: green better, vermillion worse, orange not
    significant; filled marker = significant after Holm over the baselines), and the grey band of edges
    the comparator test would miss more than 20% of the time (its power). Right of 0: the LSTM is better."""
    scale = 100 if classification else 1
    n = [len(e["against_baselines"]) for e in horizon_results]
    fig, axes = plt.subplots(
        len(horizon_results),
        1,
        figsize=(WIDE, 0.3 * sum(n) + 0.5 * len(n) + 0.8),
        sharex=True,
        gridspec_kw={"height_ratios": n},
        squeeze=False,
    )
    for ax, e in zip(axes[:, 0], horizon_results):
        names = [e["comparator"]] + [b for b in e["against_baselines"] if b != e["comparator"]]
        mde = scale * e["edge"].get("mde_family", e["edge"].get("mde", np.nan))
        if np.isfinite(mde):
            ax.axvspan(-mde, mde, color="#e6e6e6", lw=0, label="undetectable at 80% power")
        ax.axvline(0, color="black", lw=0.9)
        for k, b in enumerate(names):
            v = e["against_baselines"][b]
            comp = b == e["comparator"]
            verdict = outcome(v["edge"], e["edge"].get("p_holm", v["p_value"]) if comp else v["p_holm"])
            colour = _VERDICT[verdict] if comp else "#555555"
            yk = len(names) - 1 - k
            ax.plot(
                [scale * v["ci"][0], scale * v["ci"][1]],
                [yk, yk],
                color=colour,
                lw=3 if comp else 1.8,
                solid_capstyle="butt",
            )
            ax.plot(
                scale * v["edge"],
                yk,
                "o",
                ms=8 if comp else 6,
                color=colour,
                markerfacecolor="white" if verdict == "none" else colour,
                markeredgewidth=2,
            )
        ax.set_yticks(
            range(len(names))[::-1], [label(b) + (" (comparator)" if b == e["comparator"] else "") for b in names]
        )
        ax.get_yticklabels()[0].set_fontweight("bold")
        head = label(f"{kind}_h{e['horizon']}") if kind else f"h={e['horizon']}"
        verdict = outcome(e["edge"]["mean"], e["edge"].get("p_holm", e["edge"]["p_value"]))
        comp = label(e["comparator"])
        short = {
            "none": f"no evidence of skill over {comp}",
            "better": f"better than {comp}",
            "worse": f"worse than {comp}",
        }
        ax.set_title(f"{head}: {short[verdict]}", loc="left", fontweight="bold", color=TEXT[verdict])
        ax.set_ylim(-0.6, len(names) - 0.4)
    axes[-1, 0].set_xlabel(
        f"{model} accuracy minus baseline accuracy (points); right of 0: the {model} is better"
        if classification
        else f"baseline MSE minus {model} MSE; right of 0: the {model} is better"
    )
    if axes[0, 0].get_legend_handles_labels()[0]:  # the power band has no width when the test has no variance
        axes[0, 0].legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=9, handlelength=1.2)
    fig.tight_layout(h_pad=0.3)
    return to_data_uri(fig)


def cross_section_chart(xs: dict) -> str:
    """Alphalens-style: the LSTM's mean forward return per score quantile (95% intervals), and the
    cumulative net return of every score's long-short book."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(WIDE, 4.0))
    model = xs["scores"][xs["model"]]
    q = model["quantiles"]
    means = np.array([c["mean"] for c in q]) * 1e4
    lo = means - np.array([c["ci_low"] for c in q]) * 1e4
    hi = np.array([c["ci_high"] for c in q]) * 1e4 - means
    ax1.bar(range(1, len(q) + 1), means, yerr=[np.nan_to_num(lo), np.nan_to_num(hi)], capsize=3, color=BLUE, alpha=0.85)
    ax1.axhline(0, color="black", lw=0.6)
    ax1.set_xlabel(f"quantile of the {xs['model']}'s score (1 = lowest)")
    ax1.set_ylabel(f"mean {xs['horizon']}-day return (bps)")
    ax1.set_title(f"h={xs['horizon']}: forward return by quantile")
    for name, res in xs["scores"].items():
        book = res["book"]
        if book["curve"]:
            ax2.plot(
                pd.DatetimeIndex(book["curve_dates"]),
                book["curve"],
                lw=1.4 if name == xs["model"] else 0.9,
                label=f"{label(name)} (Sharpe {book['sharpe']:.2f})",
            )
    ax2.axhline(0, color="black", lw=0.6)
    ax2.set_title(f"long-short top/bottom {model['book']['k']}, net of {model['book']['cost_bps']:g} bps")
    ax2.set_ylabel("cumulative return (sum)")
    ax2.legend(loc="upper left", fontsize=9)
    fig.autofmt_xdate()
    fig.tight_layout()
    return to_data_uri(fig)
