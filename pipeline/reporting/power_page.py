"""The power command's page and files: ``power.html`` (the one-screen answer, the rates per effect with Wilson
intervals, a power curve when several effects were planted) and ``power.json`` (settings, rates, every run)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.io import atomic_dir
from pipeline.labels import GREY, OKABE_ITO, label
from pipeline.reporting.run_page import render_template
from pipeline.stages.power import MEASURES, SKILL, WINDOW, PowerResult

SCHEMA_VERSION = 1


def measure_label(measure: str) -> str:
    return MEASURES.get(measure, f"{label(measure)} names the planted column")


def _rate(r) -> str:
    return f"{int(r.hits)}/{int(r.runs)} ({100 * r.rate:.0f}%, 95% [{100 * r.low:.0f}, {100 * r.high:.0f}])"


def lead_sentences(result: PowerResult) -> list[dict]:
    """Per horizon: what the run found at the largest effect planted, beside what it claims at effect 0."""
    table = result.table
    s = result.setting
    top = max(s.effects)
    out = []
    for h in result.horizons:
        at = table[(table.horizon == h) & (table.effect == top)].set_index("measure")
        null = table[(table.horizon == h) & (table.effect == 0.0)].set_index("measure")
        methods = [m for m in at.index if m not in (SKILL, WINDOW)]
        best = max(methods, key=lambda m: at.loc[m, "rate"]) if methods else None
        text = (
            f"h={h}: with a column correlated {top:g} with the return {s.lag} day{'s' if s.lag > 1 else ''} "
            f"after it, the run claimed skill in {_rate(at.loc[SKILL])}; ridge on the whole window found it in "
            f"{_rate(at.loc[WINDOW])}"
        )
        if best:
            text += f"; {label(best)} named the planted column in {_rate(at.loc[best])}"
        text += (
            f". With the column as pure noise (effect 0): skill in {_rate(null.loc[SKILL])}"
            + (f", {label(best)} named it in {_rate(null.loc[best])}" if best else "")
            + f". Mean {label(result.metric_name)} {at.loc[SKILL, 'mean_metric']:.3f} with the column, "
            f"{null.loc[SKILL, 'mean_metric']:.3f} without."
        )
        power = at.loc[SKILL, "rate"]
        out.append({"text": text, "css": "good" if power >= 0.8 else ("bad" if power < 0.5 else "")})
    return out


def power_curve(result: PowerResult) -> str | None:
    """Detection rate against effect, one panel per horizon, one line per measure, with Wilson intervals."""
    if len(result.setting.effects) < 3:
        return None
    import matplotlib.pyplot as plt

    from pipeline.reporting.figures import DPI, WIDE, to_data_uri

    table = result.table
    measures = list(dict.fromkeys(table.measure))
    fig, axes = plt.subplots(1, len(result.horizons), figsize=(WIDE, 3.6), dpi=DPI, squeeze=False, sharey=True)
    for ax, h in zip(axes[0], result.horizons):
        for k, m in enumerate(measures):
            part = table[(table.horizon == h) & (table.measure == m)].sort_values("effect")
            colour = OKABE_ITO[k % (len(OKABE_ITO) - 1)]
            ax.plot(
                part.effect,
                part.rate,
                marker="o",
                color=colour,
                label=measure_label(m) if h == result.horizons[0] else None,
            )
            ax.fill_between(part.effect, part.low, part.high, color=colour, alpha=0.12, linewidth=0)
        ax.axhline(0.05, color=GREY, linestyle=":", linewidth=1)
        ax.set_title(f"h={h}")
        ax.set_xlabel("planted effect (correlation with the announced return)")
        ax.set_ylim(-0.02, 1.02)
    axes[0][0].set_ylabel("share of runs")
    fig.legend(loc="lower center", ncol=2, bbox_to_anchor=(0.5, -0.18 - 0.05 * len(measures) // 2), fontsize=9)
    return to_data_uri(fig)


def render_html(result: PowerResult, context: dict) -> str:
    table = result.table
    rows = [
        {
            "effect": f"{r.effect:g}",
            "horizon": r.horizon,
            "measure": measure_label(r.measure),
            "rate": f"{100 * r.rate:.0f}%",
            "hits": f"{r.hits}/{r.runs}",
            "ci": f"[{100 * r.low:.0f}, {100 * r.high:.0f}]",
            "metric": f"{r.mean_metric:.3f}",
            "null": r.effect == 0.0,
        }
        for r in table.itertuples()
    ]
    return render_template(
        "power.html",
        lead=lead_sentences(result),
        rows=rows,
        curve=power_curve(result),
        s=result.setting,
        group=result.group,
        metric=label(result.metric_name),
        seconds=f"{result.seconds:.0f}",
        context=context,
    )


def to_json(result: PowerResult, context: dict) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "setting": dataclasses.asdict(result.setting),
        "planted_group": result.group,
        "horizons": list(result.horizons),
        "headline_metric": result.metric_name,
        "seconds": result.seconds,
        **context,
        "rates": json.loads(result.table.to_json(orient="records")),
        "runs": [dataclasses.asdict(o) for o in result.outcomes],
    }


def write_power(out: str | Path, result: PowerResult, context: dict, overwrite: bool = False) -> Path:
    """``power.html`` and ``power.json`` into ``out``, written to a temporary folder and renamed into place."""
    path = Path(out)
    payload = to_json(result, context)
    with atomic_dir(path, "power", overwrite=overwrite) as tmp:
        (tmp / "power.json").write_text(json.dumps(payload, indent=1, default=_plain))
        (tmp / "power.html").write_text(render_html(result, context))
    return path


def _plain(x):
    if isinstance(x, (np.integer, np.floating, np.bool_)):
        return x.item()
    if isinstance(x, pd.Timestamp):
        return x.isoformat()
    raise TypeError(type(x).__name__)
