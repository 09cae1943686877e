"""The calibration study's page and files: ``calibration.csv``, ``calibration.html`` and ``calibration.md``
(the per-claim summary docs/calibration-study.md quotes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.calibration.study import MC_Z, StudyConfig
from pipeline.io import atomic_dir
from pipeline.reporting.run_page import render_template


KINDS = (
    ("size", "Size: how often a claim is made on data with nothing to learn (nominal 5%)"),
    ("coverage", "Coverage: how often a 95% interval covers the truth (nominal 95%)"),
    ("power", "Power: how often a planted signal is found (no nominal rate; stated)"),
    ("descriptive", "Descriptive: legacy rules and what is not a claim, shown for contrast (never counted)"),
    ("uncalibrated", "Claims with no cell yet"),
)


def _pct(x: float, digits: int = 1) -> str:
    return "" if not np.isfinite(x) else f"{100 * x:.{digits}f}%"


def _verdict(r) -> str:
    if r.kind in ("power", "descriptive"):
        return ""
    if r.kind == "uncalibrated":
        return "not calibrated"
    return "ok" if r.ok else "FAIL"


def render_html(table: pd.DataFrame, cfg: StudyConfig, seconds: float) -> str:
    """One table per kind (size, coverage, power, descriptive): each cell's rate with its Monte-Carlo error,
    its Wilson interval, the pass line (nominal within ``MC_Z`` Monte-Carlo errors) and what it runs."""
    sections = []
    for kind, title in KINDS:
        part = table[table.kind == kind]
        if part.empty:
            continue
        rows = [
            {
                "claim": r.claim,
                "horizon": r.horizon,
                "symbols": r.symbols,
                "rate": _pct(r.rate),
                "mc": _pct(r.mc_error),
                "ci": f"[{100 * r.low:.1f}, {100 * r.high:.1f}]" if np.isfinite(r.low) else "",
                "bound": _pct(r.bound),
                "sims": r.sims,
                "css": "bad" if _verdict(r) == "FAIL" else "",
                "path": r.path,
                "ok": _verdict(r),
            }
            for r in part.itertuples()
        ]
        sections.append({"title": title, "kind": kind, "rows": rows})
    return render_template("calibration.html", sections=sections, cfg=cfg, seconds=f"{seconds:.0f}", mc_z=f"{MC_Z:g}")


def summary_markdown(table: pd.DataFrame) -> str:
    """One table per kind, one row per claim: its cells (h x symbols), the worst cell (largest size, smallest
    coverage, smallest power) with its Monte-Carlo standard error and Wilson interval, the pass line and
    whether every cell is within it."""
    out = []
    for kind, title in KINDS:
        part_kind = table[table.kind == kind]
        if part_kind.empty:
            continue
        out += [f"**{title}**", ""]
        if kind == "uncalibrated":
            out += [f"- {c}" for c in part_kind.claim] + [""]
            continue
        line = (
            "| claim | cells | sims | worst cell ± MC error | 95% interval |"
            + (" pass line | all cells ok |" if kind in ("size", "coverage") else "")
            + " what the cells run |"
        )
        out += [line, "|" + "---|" * (line.count("|") - 1)]
        for claim, part in part_kind.groupby("claim", sort=False):
            worst = part.loc[part.rate.idxmax()] if kind in ("size", "descriptive") else part.loc[part.rate.idxmin()]
            where = f"h={worst.horizon}, {worst.symbols} symbol{'s' if worst.symbols > 1 else ''}"
            row = (
                f"| {claim} | {len(part)} | {int(part.sims.min())} | {100 * worst.rate:.1f}% ± {100 * worst.mc_error:.1f} ({where}) | "
                f"[{100 * worst.low:.1f}, {100 * worst.high:.1f}] |"
            )
            if kind in ("size", "coverage"):
                row += f" {_pct(worst.bound)} | {'yes' if part.ok.all() else '**no**'} |"
            out.append(row + f" {part['path'].iloc[0]} |")
        out.append("")
    return "\n".join(out)


def write_calibration(out: str | Path, table: pd.DataFrame, cfg, seconds: float, overwrite: bool = False) -> Path:
    path = Path(out)
    with atomic_dir(path, "calibration", overwrite=overwrite) as tmp:
        table.to_csv(tmp / "calibration.csv", index=False)
        (tmp / "calibration.html").write_text(render_html(table, cfg, seconds))
        (tmp / "calibration.md").write_text(summary_markdown(table))
    return path
