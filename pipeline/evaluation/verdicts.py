"""The plain-words sentences of a verdict: does the model beat its comparator, and how large an edge could
the test have found (power)."""

from __future__ import annotations

import numpy as np

from pipeline.evaluation.inference import ALPHA
from pipeline.labels import label


def comparator_name(entry: dict) -> str:
    """The comparator in words: its label, or per fold which baseline served (``majority class (folds 1, 2); ...``)."""
    return entry.get("comparator_described") or label(entry["comparator"])


def family_p(entry: dict) -> str:
    """``p = 0.012`` for a one-horizon run; ``p = 0.012, 0.036 after Holm over the 3 horizons`` otherwise."""
    e, n = entry["edge"], len(entry.get("family", {}).get("horizons", [entry["horizon"]]))
    p = f"p = {e['p_value']:.2g}"
    return p if n == 1 or "p_holm" not in e else f"{p}, {e['p_holm']:.2g} after Holm over the {n} horizons"


def significant(entry: dict) -> bool:
    """The headline test is significant at the run's family level (Holm over its horizons)."""
    e = entry["edge"]
    return bool(e.get("p_holm", e["p_value"]) < ALPHA)


def ci_label(entry: dict) -> str:
    """The interval's label: it is the dual of the unadjusted test, so beside a Holm-adjusted decision (several
    horizons) it says so: an interval that excludes 0 with p = 0.03 and Holm p = 0.09 is not "significant"."""
    adjusted = len((entry.get("family") or {}).get("horizons") or []) > 1
    return "unadjusted 95% CI" if adjusted else "95% CI"


def signed_points(x: float, clf: bool) -> str:
    return f"{100 * x:+.2f}" if clf else f"{x:+.3g}"


def verdict(entry: dict, clf: bool) -> str:
    """One honest sentence: does the seed ensemble beat the comparator (chosen on validation days)?"""
    head, key = entry["headline_metric"], entry["comparator"]
    m, b = entry["model"][head], entry["baselines"][key][head]
    comp = comparator_name(entry)  # the human name ("majority class"); metrics.json keeps the key in "comparator"
    e = entry["edge"]
    what = "accuracy edge" if clf else "reduction of the mean squared error"
    unit = " points" if clf else ""
    who = entry.get("model_name", "LSTM")
    text = (
        f"h={entry['horizon']}: {who} {label(head)} {m:.4g} vs {comp} {b:.4g} (the baseline best on validation days before each fold's test block); "
        f"{what} {signed_points(e['mean'], clf)}{unit}, {ci_label(entry)} [{signed_points(e['ci_low'], clf)}, "
        f"{signed_points(e['ci_high'], clf)}], {family_p(entry)}."
    )
    if significant(entry) and e["mean"] > 0:
        return text + f" The {who} beats {comp}, and the difference is significant." + window_sentence(entry)
    if significant(entry):
        return text + f" The {who} is significantly worse than {comp}." + window_sentence(entry)
    if e["mean"] > 0:
        return (
            text
            + f" The {who} is ahead of {comp}, but not significantly: no evidence of skill."
            + window_sentence(entry)
        )
    return text + f" The {who} does not beat {comp} (not significant): no evidence of skill." + window_sentence(entry)


def short_verdict(entry: dict) -> str:
    """The verdict in a few words, as the table of the one-screen output gives it: ``skill``, ``significantly
    worse``, ``no skill after the ledger's count`` (the run's own test passed, the count of configurations judged
    on these days withdrew it) or ``no evidence of skill``."""
    if entry.get("skill"):
        return "skill (beats the comparator)"
    if entry.get("skill_failed") == "ledger":
        return f"no skill after counting {entry.get('ledger', {}).get('count', 'all')} configurations"
    if significant(entry) and entry["edge"]["mean"] < 0:
        return "significantly worse"
    return "no evidence of skill"


def window_sentence(entry: dict) -> str:
    """What it means when the baseline that reads the whole window (ridge) is significantly better than the network
    (Holm over baselines x horizons) *and* than the baseline that reads nothing (``window_information``): the window
    holds information the network did not learn. When the network beats the blind baseline too but not the ridge,
    it says that the window holds information the network reads no better than a linear model. Ridge beating a
    network that overfits noise says nothing of the kind, so without ``window_information`` nothing is written."""
    against = entry.get("against_baselines") or {}
    ridge, info = against.get("window_ridge"), entry.get("window_information") or {}
    if not ridge or not info.get("significant"):  # no ridge, or it does not beat chance: nothing to say of the window
        return ""
    who = entry.get("model_name", "LSTM")
    if ridge.get("p_holm", 1.0) >= ALPHA or ridge["edge"] >= 0:
        blind = against.get(info["against"]) or {}
        if blind.get("p_holm", 1.0) < ALPHA and blind.get("edge", 0) > 0 and not significant(entry):
            return (
                f" Both the {who} and ridge regression on the same window beat the {label(info['against'])}: the "
                f"window holds information, and the {who} reads it no better than a linear model does."
            )
        return ""
    meaning = (
        f'the window holds information the {who} did not learn, so "no skill" here means this network '
        "missed it, not that there is nothing to learn."
    )
    if entry.get("comparator") == "window_ridge" and significant(entry):
        return " That baseline reads the same window: " + meaning
    return (
        f" Ridge regression on the same window is significantly better than the {who} (p = {ridge['p_holm']:.2g} "
        f"after Holm over baselines and horizons): {meaning}"
    )


def power_sentence(entry: dict, clf: bool) -> str:
    """How large an edge the headline test finds 80% of the time, at the level the run's family gives it
    (Holm over H horizons: at worst α/H, its first step)."""
    e = entry["edge"]
    who = entry.get("model_name", "LSTM")
    n = len(entry.get("family", {}).get("horizons", [entry["horizon"]]))
    mde = e.get("mde_family", e["mde"])
    level = "" if n == 1 else f" (at level {ALPHA:g}/{n}, the Holm correction over the run's {n} horizons)"
    days = f"{e['n_days']:,} test days" + (
        f" ({entry['n_symbols']} symbols per day, averaged)" if entry["n_symbols"] > 1 else ""
    )
    if not np.isfinite(mde):
        return f"With {days}, the test has no power to speak of."
    if clf:
        return (
            f"With {days}, this test detects an accuracy edge of ≥ {100 * mde:.1f} points at 80% power{level} "
            f"(the {who} and {comparator_name(entry)} make different calls on {100 * e['disagreement']:.0f}% of test samples); "
            f"the {who}'s edge was {100 * e['mean']:+.1f} (95% CI [{100 * e['ci_low']:+.1f}, {100 * e['ci_high']:+.1f}])."
        )
    base_mse = entry["baselines"][entry["comparator"]]["rmse"] ** 2
    share = mde / base_mse if base_mse > 0 else float("nan")
    return (
        f"With {days}, this test detects an MSE reduction of ≥ {mde:.3g} ({100 * share:.1f}% of {comparator_name(entry)}'s "
        f"MSE) at 80% power{level}; the {who}'s was {e['mean']:+.3g} (95% CI [{e['ci_low']:+.3g}, {e['ci_high']:+.3g}])."
    )
