"""The ledger of a reports folder: every configuration judged on the same test days, counted.

Each run records, per horizon, what its headline test judged: the prices' fingerprint (the features may
differ: a run with another feature set on the same prices is judged on the same data), target, horizon, comparator, test days and the per-day loss differential behind the test
(:func:`pipeline.stages.evaluate.headline_differentials`), in ``<reports folder>/ledger.sqlite``. When a new
report judges test days that earlier entries already used (same fingerprint, target and horizon, at least
``MIN_OVERLAP`` of its days), it says how many configurations have now been judged on them and gives the
family-wise answer over all of them: Hansen's SPA and Romano-Wolf's StepM (:func:`~pipeline.evaluation.
selection.reality_check`) on the stored differentials, each configuration against its own comparator.

Publication: an entry is written as *pending* before its folder is published and marked *done* after. The
entries of one report share a publication token, which the report folder's manifest carries once it is
published (:func:`pipeline.io.atomic_dir`). A pending entry counts only when a folder carrying its token
exists, so a run killed before publishing leaves no entry that counts (even when it was replacing an earlier
folder of the same name), and a published one always counts (even if it was killed before the mark).

With ``--track``, each report also keeps its entries on its MLflow run (:func:`pipeline.tracking.log_ledger`)
and a new report counts the experiment's entries too, each report once by its token: reports folders on other
machines that share a tracking server count each other. ``reproduce`` records nothing (the same
configuration again is not a new one) and leaves the original out of its answer.
"""
from __future__ import annotations

import dataclasses
import json
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.evaluation import inference
from pipeline.io import read_manifest
from pipeline.evaluation.inference import ALPHA
from pipeline.stages.results import frozen_map

LEDGER = "ledger.sqlite"
MIN_OVERLAP = 0.9   # share of a report's test days an earlier entry must cover to count as judged on the same days
SCHEMA = """CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT, kind TEXT, folder TEXT, name TEXT, fingerprint TEXT,
    target TEXT, horizon INTEGER, comparator TEXT, days TEXT, diff TEXT, state TEXT, token TEXT)"""


@dataclass(frozen=True)
class Entry:
    """One configuration's headline test at one horizon: ``diff`` is the per-day differential (comparator's
    loss minus the model's, indexed by date)."""

    kind: str
    folder: str          # absolute path of the report folder (its existence makes a pending entry count)
    name: str            # the configuration's name in its folder (a run: "model"; a comparison: the set)
    fingerprint: str
    target: str
    horizon: int
    comparator: str
    diff: pd.Series

    @property
    def edge(self) -> float:
        return float(self.diff.mean())


def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=60)
    con.execute(SCHEMA)
    if "token" not in {row[1] for row in con.execute("PRAGMA table_info(entries)")}:  # a ledger from before tokens
        con.execute("ALTER TABLE entries ADD COLUMN token TEXT")
    return con


def new_token() -> str:
    """A publication token: the entries of one report and its folder's manifest share it."""
    return uuid.uuid4().hex


def entry_record(entry: Entry, token: str) -> dict:
    """An entry as plain data: what the ledger file stores of it and what MLflow keeps when tracking is on."""
    return {"kind": entry.kind, "folder": entry.folder, "name": entry.name, "fingerprint": entry.fingerprint,
            "target": entry.target, "horizon": int(entry.horizon), "comparator": entry.comparator, "token": token,
            "days": [str(d.date()) for d in entry.diff.index], "diff": [round(float(v), 9) for v in entry.diff.to_numpy()]}


def _entry(d: dict) -> Entry:
    return Entry(d["kind"], d["folder"], d["name"], d["fingerprint"], d["target"], int(d["horizon"]), d["comparator"],
                 pd.Series(d["diff"], index=pd.DatetimeIndex(d["days"])))


def record(path: Path, entries: list[Entry], token: str, state: str = "pending") -> None:
    """Append ``entries`` (one report's, publication ``token``) to the ledger at ``path`` (created on first
    use) in one transaction."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [entry_record(e, token) for e in entries]
    with _connect(path) as con:
        con.executemany(
            "INSERT INTO entries (created, kind, folder, name, fingerprint, target, horizon, comparator, days, diff, state, "
            "token) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(datetime.now().isoformat(timespec="seconds"), r["kind"], r["folder"], r["name"], r["fingerprint"],
              r["target"], r["horizon"], r["comparator"], json.dumps(r["days"]), json.dumps(r["diff"]), state, token)
             for r in rows])
    # the connection's context manager commits; close explicitly (sqlite3 keeps it open otherwise)
    con.close()


def mark_done(path: Path, token: str) -> None:
    """The report of ``token`` is published: its entries count from now on, whatever happens to its folder."""
    with _connect(path) as con:
        con.execute("UPDATE entries SET state = 'done' WHERE token = ? AND state = 'pending'", (token,))
    con.close()


def _counts(state: str, folder: str, token: str | None) -> bool:
    """Done, or pending with its report published (a folder carrying its token; a ledger from before tokens:
    the folder exists)."""
    if state == "done":
        return True
    if not token:
        return Path(folder).is_dir()
    manifest = read_manifest(folder)
    return manifest is not None and manifest.get("publication") == token


def shared(tracker, entries: list[Entry]) -> list[dict] | None:
    """The entries kept in ``tracker``'s MLflow experiment for the prices and target of ``entries`` (read once
    per report, whatever its horizons), or None without tracking."""
    if tracker is None or not entries:
        return None
    from pipeline.tracking import ledger_entries

    return ledger_entries(tracker, entries[0].fingerprint, entries[0].target)


def earlier(path: Path, entry: Entry, min_overlap: float = MIN_OVERLAP, remote: list[dict] | None = None,
            same_as: str | None = None) -> list[Entry]:
    """The entries judged on ``entry``'s days: same fingerprint, target and horizon, covering at least
    ``min_overlap`` of its days; from the ledger at ``path`` (done, or pending with their folder published) and
    from ``remote``, the entries of an MLflow experiment (:func:`shared`: other folders and machines sharing
    the tracking server), each report once (by its publication token). ``same_as``: a report folder whose
    entries are this very configuration (``reproduce``), left out."""
    rows = []
    if path.is_file():
        with _connect(path) as con:
            rows = con.execute("SELECT kind, folder, name, fingerprint, target, horizon, comparator, days, diff, state, "
                               "token FROM entries WHERE fingerprint = ? AND target = ? AND horizon = ? ORDER BY id",
                               (entry.fingerprint, entry.target, entry.horizon)).fetchall()
        con.close()
    found = [{"kind": r[0], "folder": r[1], "name": r[2], "fingerprint": r[3], "target": r[4], "horizon": r[5],
              "comparator": r[6], "days": json.loads(r[7]), "diff": json.loads(r[8]), "token": r[10]}
             for r in rows if _counts(r[9], r[1], r[10])]  # not still running, nor killed before publishing
    seen = {d["token"] for d in found if d["token"]}
    found += [d for d in remote or [] if d["fingerprint"] == entry.fingerprint and d["target"] == entry.target
              and d["horizon"] == entry.horizon and d["token"] not in seen]
    days = set(entry.diff.index)
    out = []
    for d in found:
        if same_as is not None and d["folder"] == same_as:
            continue
        e = _entry(d)
        if len(days & set(e.diff.index)) >= min_overlap * len(days):
            out.append(e)
    return out


def family_answer(entry: Entry, others: list[Entry], h: int, reps: int = 1000, seed: int = 0) -> dict:
    """The family-wise answer over ``others`` and ``entry`` on the days they share: how many configurations,
    the best edge, each one's naive p-value (its own HAR test, as if it were alone), SPA's p-value and StepM's
    configurations better than their comparators; and the sentence for the report."""
    from pipeline.evaluation.selection import reality_check

    family = [*others, entry]
    n = len(family)
    if n == 1:
        return {"count": 1, "n_days": int(len(entry.diff)),
                "sentence": f"h={h}: this is the first configuration judged on these {len(entry.diff):,} test days in this "
                            "reports folder's ledger."}
    frame = pd.concat([e.diff for e in family], axis=1, join="inner")
    D = frame.to_numpy()                                                        # (days, configurations)
    naive = [float(inference.mean_test(D[:, k], h).p_value) for k in range(n)]
    best = int(np.argmax(D.mean(axis=0)))
    rc = reality_check(np.zeros(len(D)), -D, h=h, reps=reps, seed=seed)        # losses relative to each comparator
    order = {1: "st", 2: "nd", 3: "rd"}
    nth = f"{n}{'th' if 10 <= n % 100 <= 20 else order.get(n % 10, 'th')}"
    where = "this one" if best == n - 1 else f"{Path(family[best].folder).name}, {family[best].name}"
    significant = rc["spa_p"] < ALPHA
    sentence = (f"h={h}: this is the {nth} configuration judged on these {len(D):,} test days (same data, target and "
                f"horizon); counting all {n}, the best edge ({where}) is {'' if significant else 'not '}significant "
                f"(SPA p = {rc['spa_p']:.2g}"
                + (f"; StepM: {len(rc['stepm_superior'])} better than their comparator" if rc["stepm_superior"] else "")
                + f"). Read alone, the best one's own test gives p = {naive[best]:.2g}.")
    return {"count": n, "n_days": int(len(D)), "best": int(best), "best_is_this": best == n - 1,
            "best_edge": float(D[:, best].mean()), "naive_p_best": naive[best], "spa_p": rc["spa_p"],
            "stepm_superior": rc["stepm_superior"], "significant": bool(significant), "sentence": sentence,
            "folders": [Path(e.folder).name for e in family], "names": [e.name for e in family]}


def judge(path: Path, entries: list[Entry], fresh: bool = False, tracker=None, same_as: str | None = None) -> list[dict]:
    """Per entry (horizon), the family-wise answer over the earlier entries judged on the same days (the
    ledger's, and with a ``tracker`` its MLflow experiment's; none with ``fresh``: the report then says the
    ledger was not counted)."""
    out = []
    remote = None if fresh else shared(tracker, entries)
    for e in entries:
        answer = family_answer(e, [] if fresh else earlier(path, e, remote=remote, same_as=same_as), e.horizon)
        if fresh:
            answer["sentence"] = (f"h={e.horizon}: --fresh-ledger: earlier configurations judged on these test days were "
                                  "not counted.")
        answer["fresh"] = fresh
        out.append(answer)
    return out


def record_pending(path: Path, entries: list[Entry]) -> str:
    """Record ``entries`` as pending under a new publication token and return it. The caller publishes its folder
    with that token (:func:`pipeline.io.atomic_dir`) and then calls :func:`mark_done`."""
    token = new_token()
    record(path, entries, token)
    return token


def count_and_record(path: Path, entries: list[Entry], fresh: bool = False, tracker=None) -> tuple[list[dict], str]:
    """What a report does before it is written: judge ``entries`` against the earlier ones (:func:`judge`), then
    :func:`record_pending`. ``run`` does the same in two steps, so that :func:`gate` sits between them and the
    explain stage reads the gated skill flag."""
    return judge(path, entries, fresh=fresh, tracker=tracker), record_pending(path, entries)


def gate(evaluation, answers: list[dict]):
    """The evaluation with its skill flags gated by the ledger: when more than one configuration was judged on a
    horizon's test days, the model has skill there only if its own test says so (Holm over the run's horizons)
    *and* the ledger's family-wise answer does (SPA's p-value, Holm-corrected over the run's horizons like the
    headline; a horizon with no earlier entry takes the run's own p-value). Adds per horizon ``skill_own`` (the
    run's own test), ``ledger`` (count, SPA p, its Holm p) and ``skill_failed`` (``None``, ``"own test"`` or
    ``"ledger"``), and a sentence to the verdict when the ledger withdraws the claim. The skill flag drives the
    explain stage's gate, ``metrics.json``, MLflow's tags and the search's held-back verdict, so all of them
    read this one answer. Answers made with ``--fresh-ledger`` gate nothing."""
    if not answers or all(a.get("fresh") for a in answers):
        return evaluation
    own_p = [float(e["edge"]["p_value"]) for e in evaluation.horizon_results]
    family_p = [float(a["spa_p"]) if a.get("count", 1) > 1 and not a.get("fresh") else p for a, p in zip(answers, own_p)]
    holm = inference.holm(np.array(family_p))
    out = []
    for e, a, p_fam, p_holm in zip(evaluation.horizon_results, answers, family_p, holm):
        e = dict(e)
        own = bool(e["skill"])
        ledger_ok = bool(p_holm < ALPHA)
        e["skill_own"] = own
        e["ledger"] = {"count": int(a.get("count", 1)), "spa_p": p_fam, "p_holm": float(p_holm)}
        e["skill"] = own and ledger_ok
        e["skill_failed"] = None if e["skill"] else ("own test" if not own else "ledger")
        if own and not ledger_ok:
            e["verdict"] = (f"{e['verdict']} But {a['count']} configurations have been judged on these test days: "
                            f"counting all of them, the best edge is not significant (SPA p = {p_fam:.2g}, "
                            f"{p_holm:.2g} after Holm over the run's horizons), so this run claims no skill.")
        out.append(frozen_map(e))
    return dataclasses.replace(evaluation, horizon_results=tuple(out))


def judge_together(path: Path, cells: list[list[Entry]], fresh: bool = False, tracker=None) -> list[dict]:
    """A comparison's answers: per horizon, ``cells`` (every configuration the comparison judged at that
    horizon) counted together with the earlier entries on the same days; the last cell is the one the
    sentence speaks for."""
    remote = None if fresh else shared(tracker, [e for c in cells for e in c])
    return [family_answer(c[-1], ([] if fresh else earlier(path, c[-1], remote=remote)) + c[:-1], c[-1].horizon)
            for c in cells]


def counts(path: Path) -> list[dict]:
    """Per data fingerprint and target: the configurations the ledger holds (done, or published), for the index."""
    if not path.is_file():
        return []
    with _connect(path) as con:
        rows = con.execute("SELECT fingerprint, target, horizon, folder, name, state, token FROM entries").fetchall()
    con.close()
    seen: dict[tuple[str, str], set] = {}
    for fp, target, h, folder, name, state, token in rows:
        if _counts(state, folder, token):
            seen.setdefault((fp, target), set()).add((folder, name, token))
    return [{"fingerprint": fp, "target": t, "configurations": len(v), "folders": sorted({Path(f).name for f, _, _ in v})}
            for (fp, t), v in sorted(seen.items())]


def run_entries(folder: Path, prepared, fitted, evaluation, kind: str = "run", name: str | None = None) -> list[Entry]:
    """A run's entries, one per horizon: its headline differentials against its comparator."""
    from pipeline.stages.evaluate import headline_differentials

    cfg = prepared.cfg
    return [Entry(kind, str(Path(folder).resolve()), name or cfg.model, prepared.dataset.price_fingerprint(), cfg.target, h,
                  e["comparator"], d)
            for h, d, e in zip(cfg.horizons, headline_differentials(prepared, fitted), evaluation.horizon_results)]
