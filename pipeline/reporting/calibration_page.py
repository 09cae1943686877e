"""The calibration study's page and files: ``calibration.csv``, ``calibration.html`` and ``calibration.md``
(the per-claim summary the README quotes)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.calibration.study import StudyConfig
from pipeline.io import atomic_dir
from pipeline.reporting.run_page import render_template


def render_html(table: pd.DataFrame, cfg: StudyConfig, seconds: float) -> str:
    rows = [{"claim": r.claim, "kind": r.kind, "horizon": r.horizon, "symbols": r.symbols, "rate": f"{100 * r.rate:.1f}%",
             "ci": f"[{100 * r.low:.1f}, {100 * r.high:.1f}]", "nominal": "" if not np.isfinite(r.nominal) else f"{100 * r.nominal:.0f}%",
             "sims": r.sims, "css": "" if r.ok or r.kind == "uncalibrated" else "bad", "path": getattr(r, "path", ""),
             "ok": "" if r.kind == "power" else ("not calibrated" if r.kind == "uncalibrated" else ("ok" if r.ok else "FAIL"))}
            for r in table.itertuples()]
    return render_template("calibration.html", rows=rows, cfg=cfg, seconds=f"{seconds:.0f}")


def summary_markdown(table: pd.DataFrame) -> str:
    """One row per claim: its cells (h x symbols), the worst rate (largest size, smallest coverage, smallest
    power) with its Wilson interval, and whether every cell is within its nominal rate."""
    lines = ["| claim | kind | cells | worst cell | 95% interval | all cells ok | what the cells run |",
             "|---|---|---|---|---|---|---|"]
    for (kind, claim), part in table.groupby(["kind", "claim"], sort=False):
        path = part["path"].iloc[0] if "path" in part else ""
        if kind == "uncalibrated":
            lines.append(f"| {claim} | — | 0 | — | — | **not calibrated** | {path} |")
            continue
        worst = part.loc[part.rate.idxmax()] if kind == "size" else part.loc[part.rate.idxmin()]
        where = f"h={worst.horizon}, {worst.symbols} symbol{'s' if worst.symbols > 1 else ''}"
        ok = "—" if kind == "power" or claim.startswith("legacy") else ("yes" if part.ok.all() else "**no**")
        lines.append(f"| {claim} | {kind} | {len(part)} | {100 * worst.rate:.1f}% ({where}) | "
                     f"[{100 * worst.low:.1f}, {100 * worst.high:.1f}] | {ok} | {path} |")
    return "\n".join(lines) + "\n"


def write_calibration(out: str | Path, table: pd.DataFrame, cfg, seconds: float, overwrite: bool = False) -> Path:
    path = Path(out)
    with atomic_dir(path, "calibration", overwrite=overwrite) as tmp:
        table.to_csv(tmp / "calibration.csv", index=False)
        (tmp / "calibration.html").write_text(render_html(table, cfg, seconds))
        (tmp / "calibration.md").write_text(summary_markdown(table))
    return path
