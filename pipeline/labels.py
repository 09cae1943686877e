"""Human labels for the raw keys that reports show (metrics, tests, targets, baselines, importance
methods), and the one colour-blind-safe palette every figure uses.

Reports print ``label(key)``; the templates' ``label`` filter wraps it in ``<span title="key">`` so the
raw key (what ``metrics.json`` and the CSVs call it) stays one hover away.
"""

from __future__ import annotations

import math

import re

import markupsafe

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, YELLOW, BLACK = OKABE_ITO
GREY = "#7f7f7f"
# darker shades of green, vermillion and orange for text on white (contrast above 4.5), by verdict
TEXT = {"better": "#00694d", "worse": "#a33f00", "none": "#7a5500"}

METRICS = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "auc": "ROC AUC",
    "mcc": "Matthews correlation",
    "log_loss": "log loss",
    "brier": "Brier score",
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R²",
    "sign_accuracy": "sign accuracy",
    "ic": "information coefficient",
    "mse": "MSE",
}
TESTS = {
    "pesaran_timmermann": "Pesaran–Timmermann (direction vs independence)",
    "mcnemar_vs_comparator": "McNemar vs comparator baseline",
    "mcnemar_vs_best": "McNemar vs best baseline",
    "diebold_mariano": "Diebold–Mariano (HAR variance)",
}
MODELS = {
    "lstm": "LSTM",
    "gru": "GRU",
    "alstm": "ALSTM",
    "transformer": "Transformer",
    "tcn": "TCN",
    "mlp": "MLP",
    "linear": "DLinear",
    "window_linear": "linear model",
}


def model_label(family: str, skip: str = "none") -> str:
    """The network family's name in words: ``lstm`` -> ``LSTM``, ``linear`` -> ``DLinear``; with the linear skip
    path beside it (``skip="linear"``), ``LSTM+linear``."""
    name = MODELS.get(str(family), str(family))
    return f"{name}+linear" if skip == "linear" and family not in ("linear", "window_linear") else name


BASELINES = {
    "per_fold": "comparator per fold",
    "majority": "majority class",
    "previous": "previous move",
    "persistence": "persistence",
    "momentum": "momentum",
    "logistic": "logistic regression",
    "lightgbm": "LightGBM",
    "ridge": "ridge regression",
    "window_ridge": "ridge on the whole window",
    "always_up": "always up",
    "reversal": "short-term reversal",
}
METHODS = {
    "ablation_retrain": "drop-and-retrain",
    "permutation": "permutation",
    "conditional_permutation": "conditional permutation",
    "lgbm_gain": "LightGBM gain",
    "lgbm_split": "LightGBM splits",
    "tree_shap": "TreeSHAP (LightGBM)",
    "lstm_shap": "expected gradients",
    "integrated_gradients": "integrated gradients",
}
TARGETS = {
    "direction": "direction",
    "return": "return",
    "close": "close",
    "mean_close": "mean close",
    "drawdown": "drawdown",
    "volatility": "volatility",
    "xs_direction": "cross-sectional direction",
    "xs_rank": "cross-sectional rank",
}
_ALL = {**METRICS, **TESTS, **BASELINES, **METHODS}
_TARGET = re.compile(r"^(?P<kind>[a-z_]+)_h(?P<h>\d+)$")


def target_label(kind: str, horizon: int | str) -> str:
    """``("direction", 5)`` -> ``"5-day direction"``."""
    return f"{horizon}-day {TARGETS.get(kind, kind.replace('_', ' '))}"


def label(key) -> str:
    """The human label of a raw key; ``direction_h5`` -> ``5-day direction``; ``baseline:majority`` ->
    ``majority class (baseline)``; unknown keys get their underscores replaced."""
    key = str(key)
    if key in _ALL:
        return _ALL[key]
    if key.startswith("baseline:"):
        return f"{label(key.split(':', 1)[1])} (baseline)"
    m = _TARGET.match(key)
    if m and m["kind"] in TARGETS:
        return target_label(m["kind"], m["h"])
    return key.replace("_", " ")


def label_html(key) -> markupsafe.Markup:
    """``<span title="raw_key">human label</span>`` (plain text when they are the same), escaped."""
    human = label(key)
    if human == str(key):
        return markupsafe.escape(human)
    return markupsafe.Markup('<span class="key" title="{}">{}</span>').format(str(key), human)


def fmt(x, digits: int = 4) -> str:
    """A number for a report cell: ``digits`` significant digits, an en dash for a missing or infinite value."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.{digits}g}"


def symbols_text(symbols, show: int = 4) -> str:
    """A heading's list of symbols: all of a few, else the first ``show`` and "and N more" (the full list
    stays in the set-up table and ``config.json``)."""
    symbols = list(symbols)
    if len(symbols) <= show + 1:
        return ", ".join(symbols)
    return f"{', '.join(symbols[:show])} and {len(symbols) - show} more"


def seeds_text(seeds) -> str:
    """``1 seed (0)``, ``3 seeds (0, 1, 2)``."""
    seeds = list(seeds)
    return f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({', '.join(map(str, seeds))})"
