"""``reports/index.html``: one sortable table of every run, comparison and search in a reports folder, with
headline numbers; rewritten (atomically) after each run, compare and search."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.io import atomic_path
from pipeline.labels import label
from pipeline.labels import fmt as _fmt
from pipeline.reporting.run_page import render_template


MARKER = "<!-- featureproof reports index -->"


def _number(value) -> str:
    """A sort key for a numeric cell ("" when there is no number)."""
    return "" if value is None or not isinstance(value, (int, float)) else repr(float(value))


def _run_rows(folder: Path) -> list[dict]:
    """One row per horizon of a run folder."""
    try:
        m = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        return []
    rows = []
    for h in m.get("horizon_results") or []:
        head = h.get("headline_metric", "")
        best = h.get("comparator", h.get("best_baseline", ""))
        value = h.get("model", {}).get(head)
        rows.append(
            {
                "href": f"{folder.name}/index.html",
                "name": folder.name,
                "kind": "run",
                "date": m.get("created", ""),
                "symbols": ", ".join(m.get("symbols", [])),
                "target": m.get("target", ""),
                "features": m.get("feature_spec", ""),
                "horizon": h.get("horizon", ""),
                "metric": label(head),
                "value": f"{h.get('model_name', 'LSTM')} {_fmt(value)}",
                "sort": _number(value),
                "baseline": f"{label(best)} {_fmt(h.get('baselines', {}).get(best, {}).get(head))}" if best else "",
                "verdict": h.get("verdict", ""),
            }
        )
    return rows


def _compare_rows(folder: Path) -> list[dict]:
    """One row per horizon of a comparison folder."""
    try:
        m = json.loads((folder / "compare.json").read_text())
    except (OSError, ValueError):
        return []
    rows = []
    for h in map(str, m.get("horizons", [])):
        rows.append(
            {
                "href": f"{folder.name}/index.html",
                "name": folder.name,
                "kind": "compare",
                "date": m.get("created", ""),
                "symbols": ", ".join(m.get("symbols", [])),
                "target": m.get("target", ""),
                "features": " vs ".join(m.get("feature_sets", [])),
                "horizon": h,
                "metric": label(m.get("headline_metric", "")),
                "value": "best: " + label((m.get("ranking", {}).get(h) or ["?"])[0]),
                "sort": "",
                "baseline": "",
                "verdict": m.get("headline") or next((v for v in m.get("verdicts", []) if v.startswith(f"h={h}:")), ""),
            }
        )
    return rows


def _search_rows(folder: Path) -> list[dict]:
    """One row per horizon of a search folder: the chosen configuration's verdict on the held-back days."""
    try:
        m = json.loads((folder / "search.json").read_text())
    except (OSError, ValueError):
        return []
    model = (m.get("best_params") or {}).get("model") or (m.get("final_config") or {}).get("model", "")
    return [
        {
            "href": f"{folder.name}/search.html",
            "name": folder.name,
            "kind": "search",
            "date": m.get("created", ""),
            "symbols": ", ".join(m.get("symbols", [])),
            "target": m.get("target", ""),
            "features": f"search: {m.get('trials', '?')} trials",
            "horizon": h,
            "metric": "held-back edge",
            "value": f"trial {m.get('best_trial', '?')} ({label(model)})",
            "sort": _number(m.get("holdout_edge")),
            "baseline": "",
            "verdict": verdict,
        }
        for h, verdict in zip(m.get("horizons", []), m.get("holdout_verdicts", []))
    ]


def _only_featureproof(root: Path, being_written: str = "") -> bool:
    """True when every visible entry of ``root`` (but ``being_written``) is a featureproof output folder."""
    from pipeline.io import read_manifest

    from pipeline.stages.ledger import LEDGER
    from pipeline.tracking import ARTIFACTS, DB_NAME

    return all(
        p.is_dir() and read_manifest(p) is not None
        for p in root.iterdir()
        if not p.name.startswith(".") and p.name not in (being_written, LEDGER, DB_NAME, ARTIFACTS)
    )


def index_href(folder: Path) -> str | None:
    """``"../index.html"`` for the pages of ``folder`` (being written) when :func:`update_index` will keep a
    featureproof index beside it, else None (no link to a page that is not ours, or will not exist)."""
    folder = Path(folder)
    root, path = folder.parent, folder.parent / "index.html"
    if path.exists():
        return "../index.html" if MARKER in path.read_text(errors="replace")[:400] else None
    return "../index.html" if not root.exists() or _only_featureproof(root, folder.name) else None


def update_index(root: Path) -> Path | None:
    """Rewrite ``root/index.html`` from every run / comparison folder under ``root``. A new index is only
    created in a folder of featureproof outputs; an ``index.html`` featureproof did not write is never
    touched."""
    root = Path(root)
    if not root.is_dir():
        return None
    rows = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if (folder / "search.json").exists():
            rows += _search_rows(folder)
        else:
            rows += _compare_rows(folder) if (folder / "compare.json").exists() else _run_rows(folder)
    path = root / "index.html"
    if path.exists() and MARKER not in path.read_text(errors="replace")[:400]:
        return None  # someone else's index.html: never overwrite it
    if not path.exists() and not _only_featureproof(root):
        return None  # a folder that also holds the user's own things: do not add files to it
    from pipeline.stages.ledger import LEDGER, counts
    from pipeline.tracking import DB_NAME

    symbols_of = {r["name"]: r["symbols"] for r in rows}
    judged = [
        {**c, "symbols": next((symbols_of[f] for f in c["folders"] if f in symbols_of), c["fingerprint"])}
        for c in counts(root / LEDGER)
    ]
    with atomic_path(path) as tmp:
        runs = len({r["name"] for r in rows if r["kind"] == "run"})
        compares = len({r["name"] for r in rows if r["kind"] == "compare"})
        searches = len({r["name"] for r in rows if r["kind"] == "search"})
        tmp.write_text(
            render_template(
                "index.html",
                rows=sorted(rows, key=lambda r: (r["date"], -int(r["horizon"] or 0)), reverse=True),
                runs=runs,
                compares=compares,
                searches=searches,
                judged=judged,
                mlflow=f"sqlite:///{(root / DB_NAME).resolve()}" if (root / DB_NAME).is_file() else None,
            )
        )
    return path
