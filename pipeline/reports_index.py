"""``reports/index.html``: one sortable table of every run and comparison in a reports folder, with
headline numbers; rewritten (atomically) after each run and compare."""
from __future__ import annotations

import json
from pathlib import Path

from pipeline.io import atomic_path
from pipeline.report import _fmt, render_template


MARKER = "<!-- featureproof reports index -->"


def _run_row(folder: Path) -> dict | None:
    try:
        m = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    h = (m.get("horizon_results") or [{}])[0]
    head = h.get("headline_metric", "")
    best = h.get("comparator", h.get("best_baseline", ""))
    return {
        "href": f"{folder.name}/index.html", "name": folder.name, "kind": "run", "date": m.get("created", ""),
        "symbols": ", ".join(m.get("symbols", [])), "target": m.get("target", ""), "features": m.get("feature_spec", ""),
        "horizon": h.get("horizon", ""), "metric": head, "value": _fmt(h.get("model", {}).get(head)),
        "baseline": f"{best} {_fmt(h.get('baselines', {}).get(best, {}).get(head))}" if best else "",
        "verdict": h.get("verdict", ""),
    }


def _compare_row(folder: Path) -> dict | None:
    try:
        m = json.loads((folder / "compare.json").read_text())
    except (OSError, ValueError):
        return None
    h = str(m["horizons"][0])
    return {
        "href": f"{folder.name}/index.html", "name": folder.name, "kind": "compare", "date": m.get("created", ""),
        "symbols": ", ".join(m.get("symbols", [])), "target": m.get("target", ""),
        "features": " vs ".join(m.get("feature_sets", [])), "horizon": h, "metric": m.get("headline_metric", ""),
        "value": "best: " + (m.get("ranking", {}).get(h) or ["?"])[0], "baseline": "",
        "verdict": next((v for v in m.get("verdicts", []) if v.startswith(f"h={h}:")), ""),
    }


def _only_featureproof(root: Path) -> bool:
    """True when every visible entry of ``root`` is a featureproof output folder."""
    from pipeline.io import read_manifest

    return all(p.is_dir() and read_manifest(p) is not None for p in root.iterdir() if not p.name.startswith("."))


def update_index(root: Path) -> Path | None:
    """Rewrite ``root/index.html`` from every run / comparison folder under ``root``. A new index is only
    created in a folder of featureproof outputs; an ``index.html`` featureproof did not write is never
    touched."""
    root = Path(root)
    if not root.is_dir():
        return None
    rows = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        row = _compare_row(folder) if (folder / "compare.json").exists() else _run_row(folder)
        if row:
            rows.append(row)
    path = root / "index.html"
    if path.exists() and MARKER not in path.read_text(errors="replace")[:400]:
        return None  # someone else's index.html: never overwrite it
    if not path.exists() and not _only_featureproof(root):
        return None  # a folder that also holds the user's own things: do not add files to it
    with atomic_path(path) as tmp:
        tmp.write_text(render_template("index.html", rows=sorted(rows, key=lambda r: r["date"], reverse=True)))
    return path
