"""The ledger of a reports folder: every configuration judged on the same test days, counted.

Each run records, per horizon, what its headline test judged: the market (:meth:`Dataset.market_key`: its
symbols), target, horizon, comparator, test days, the judged days' prices (:meth:`Dataset.day_hashes`: each day's
OHLCV, not the user's other columns nor the loaded range) and the per-day loss differential behind the test
(:func:`pipeline.stages.evaluate.headline_differentials`), in ``<reports folder>/ledger.sqlite``. Two entries of
one market, horizon and pooled target (``close`` and ``return`` are one label and loss:
:func:`pipeline.targets.core.judged_as`) are judged on the same days when they share, on equal prices, at least
``MIN_OVERLAP`` of *either* one's days (a run on the last 300 days holds all of an earlier run's 200; a moved
``--test-start``, a later ``--start``, an added column or a re-download with equal prices change nothing). A new
report then says how many configurations have been judged on its days, and how many touched any of them, and gives
the family-wise answer over all of them on the days they share: Hansen's SPA and Romano-Wolf's StepM
(:func:`~pipeline.evaluation.selection.reality_check`) on the stored differentials, each configuration against
its own comparator. Entries from before judged-day prices were kept have none and are not counted.

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
from pipeline.targets.core import judged_as

LEDGER = "ledger.sqlite"
MIN_OVERLAP = 0.9  # share of either entry's test days (with equal prices) two entries must share to be judged together
SCHEMA = """CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT, kind TEXT, folder TEXT, name TEXT, fingerprint TEXT,
    target TEXT, horizon INTEGER, comparator TEXT, days TEXT, diff TEXT, state TEXT, token TEXT, prices TEXT)"""


@dataclass(frozen=True)
class Entry:
    """One configuration's headline test at one horizon: ``diff`` is the per-day differential (comparator's
    loss minus the model's, indexed by date)."""

    kind: str
    folder: str  # absolute path of the report folder (its existence makes a pending entry count)
    name: str  # the configuration's name in its folder (a run: "model"; a comparison: the set)
    fingerprint: str  # the market: Dataset.market_key (its symbols)
    target: str
    horizon: int
    comparator: str
    diff: pd.Series
    prices: pd.Series | None = None  # date -> Dataset.day_hashes on diff's days (None: an entry from before them)

    @property
    def edge(self) -> float:
        return float(self.diff.mean())


def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=60)
    con.execute(SCHEMA)
    columns = {row[1] for row in con.execute("PRAGMA table_info(entries)")}
    for column in ("token", "prices"):  # a ledger from before publication tokens or judged-day prices
        if column not in columns:
            con.execute(f"ALTER TABLE entries ADD COLUMN {column} TEXT")
    return con


def new_token() -> str:
    """A publication token: the entries of one report and its folder's manifest share it."""
    return uuid.uuid4().hex


def entry_record(entry: Entry, token: str) -> dict:
    """An entry as plain data: what the ledger file stores of it and what MLflow keeps when tracking is on."""
    return {
        "kind": entry.kind,
        "folder": entry.folder,
        "name": entry.name,
        "fingerprint": entry.fingerprint,
        "target": entry.target,
        "horizon": int(entry.horizon),
        "comparator": entry.comparator,
        "token": token,
        "days": [str(d.date()) for d in entry.diff.index],
        "diff": [round(float(v), 9) for v in entry.diff.to_numpy()],
        "prices": None if entry.prices is None else [int(v) for v in entry.prices.reindex(entry.diff.index).fillna(0)],
    }


def _entry(d: dict) -> Entry:
    days = pd.DatetimeIndex(d["days"])
    prices = d.get("prices")
    return Entry(
        d["kind"],
        d["folder"],
        d["name"],
        d["fingerprint"],
        d["target"],
        int(d["horizon"]),
        d["comparator"],
        pd.Series(d["diff"], index=days),
        None if prices is None else pd.Series(prices, index=days, dtype=np.int64),
    )


def make_entry(
    kind: str, folder: str, name: str, dataset, target: str, horizon: int, comparator: str, diff: pd.Series
) -> Entry:
    """An entry of ``dataset``'s market: keyed by its symbols, with the prices of the judged days."""
    return Entry(
        kind,
        folder,
        name,
        dataset.market_key(),
        target,
        horizon,
        comparator,
        diff,
        dataset.day_hashes().reindex(diff.index),
    )


def shared_days(a: Entry, b: Entry) -> pd.DatetimeIndex:
    """The days both entries judged on equal prices (an entry without prices, from before they were kept: none)."""
    if a.prices is None or b.prices is None:
        return pd.DatetimeIndex([])
    days = a.diff.index.intersection(b.diff.index)
    return days[a.prices.reindex(days).to_numpy() == b.prices.reindex(days).to_numpy()]


def judged_together(a: Entry, b: Entry, min_overlap: float = MIN_OVERLAP) -> bool:
    """Judged on the same days: they share (on equal prices) at least ``min_overlap`` of *either* one's days (a run
    on the last 300 days shares all of an earlier run's 200)."""
    return len(shared_days(a, b)) >= min_overlap * min(len(a.diff), len(b.diff))


def record(path: Path, entries: list[Entry], token: str, state: str = "pending") -> None:
    """Append ``entries`` (one report's, publication ``token``) to the ledger at ``path`` (created on first
    use) in one transaction."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [entry_record(e, token) for e in entries]
    with _connect(path) as con:
        con.executemany(
            "INSERT INTO entries (created, kind, folder, name, fingerprint, target, horizon, comparator, days, diff, state, "
            "token, prices) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    datetime.now().isoformat(timespec="seconds"),
                    r["kind"],
                    r["folder"],
                    r["name"],
                    r["fingerprint"],
                    r["target"],
                    r["horizon"],
                    r["comparator"],
                    json.dumps(r["days"]),
                    json.dumps(r["diff"]),
                    state,
                    token,
                    json.dumps(r["prices"]),
                )
                for r in rows
            ],
        )
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
    """The entries kept in ``tracker``'s MLflow experiment for the market of ``entries`` (read once per report,
    whatever its horizons and targets; :func:`candidates` keeps the pooled target's), or None without tracking."""
    if tracker is None or not entries:
        return None
    from pipeline.tracking import ledger_entries

    return ledger_entries(tracker, entries[0].fingerprint)


def candidates(path: Path, entry: Entry, remote: list[dict] | None = None, same_as: str | None = None) -> list[Entry]:
    """Every entry of ``entry``'s market, pooled target (:func:`pipeline.targets.core.judged_as`) and horizon: from
    the ledger at ``path`` (done, or pending with their folder published) and from ``remote``, the entries of an
    MLflow experiment (:func:`shared`: other folders and machines sharing the tracking server), each report once
    (by its publication token). ``same_as``: a report folder whose entries are this very configuration
    (``reproduce``), left out."""
    rows = []
    if path.is_file():
        with _connect(path) as con:
            rows = con.execute(
                "SELECT kind, folder, name, fingerprint, target, horizon, comparator, days, diff, state, "
                "token, prices FROM entries WHERE fingerprint = ? AND horizon = ? ORDER BY id",
                (entry.fingerprint, entry.horizon),
            ).fetchall()
        con.close()
    found = [
        {
            "kind": r[0],
            "folder": r[1],
            "name": r[2],
            "fingerprint": r[3],
            "target": r[4],
            "horizon": r[5],
            "comparator": r[6],
            "days": json.loads(r[7]),
            "diff": json.loads(r[8]),
            "token": r[10],
            "prices": json.loads(r[11]) if r[11] else None,
        }
        for r in rows
        if _counts(r[9], r[1], r[10])
    ]  # not still running, nor killed before publishing
    seen = {d["token"] for d in found if d["token"]}
    found += [
        d
        for d in remote or []
        if d["fingerprint"] == entry.fingerprint and d["horizon"] == entry.horizon and d["token"] not in seen
    ]
    pool = judged_as(entry.target)
    return [_entry(d) for d in found if judged_as(d["target"]) == pool and (same_as is None or d["folder"] != same_as)]


def earlier(
    path: Path,
    entry: Entry,
    min_overlap: float = MIN_OVERLAP,
    remote: list[dict] | None = None,
    same_as: str | None = None,
) -> list[Entry]:
    """The :func:`candidates` judged on ``entry``'s days (:func:`judged_together`)."""
    return [e for e in candidates(path, entry, remote, same_as) if judged_together(entry, e, min_overlap)]


def _family(
    entry: Entry, others: list[Entry], min_overlap: float = MIN_OVERLAP
) -> tuple[list[Entry], pd.DatetimeIndex]:
    """The configurations answered for together and the days they share on ``entry``'s prices: the others, most
    shared days first, each kept while it shares ``min_overlap`` of the smaller of its days and the days kept so far
    (two earlier runs on either end of a new run's days cannot leave a handful of common days)."""
    days = entry.diff.index
    kept = []
    for e in sorted(others, key=lambda o: -len(shared_days(entry, o))):
        common = days.intersection(shared_days(entry, e))
        if len(common) >= min_overlap * min(len(days), len(e.diff)):
            kept.append(e)
            days = common
    return [*kept, entry], days


def family_answer(entry: Entry, others: list[Entry], h: int, reps: int = 1000, seed: int = 0, touched: int = 0) -> dict:
    """The family-wise answer over ``others`` and ``entry`` on the days they share with equal prices
    (:func:`_family`): how many configurations, the best edge, each one's naive p-value (its own HAR test, as if it
    were alone), SPA's p-value and StepM's configurations better than their comparators; and the sentence for the
    report. ``touched``: how many earlier configurations judged any of these days (stated beside the count)."""
    from pipeline.evaluation.selection import reality_check

    family, days = _family(entry, others)
    n = len(family)
    beside = (
        f" In all, {touched} earlier configuration{'s' if touched > 1 else ''} judged some of these days."
        if touched > n - 1
        else ""
    )
    if n == 1:
        return {
            "count": 1,
            "n_days": int(len(entry.diff)),
            "touched": touched,
            "sentence": f"h={h}: this is the first configuration judged on these {len(entry.diff):,} test days in this "
            "reports folder's ledger." + beside,
        }
    D = np.column_stack([e.diff.reindex(days).to_numpy() for e in family])  # (days, configurations)
    naive = [float(inference.mean_test(D[:, k], h).p_value) for k in range(n)]
    best = int(np.argmax(D.mean(axis=0)))
    rc = reality_check(np.zeros(len(D)), -D, h=h, reps=reps, seed=seed)  # losses relative to each comparator
    order = {1: "st", 2: "nd", 3: "rd"}
    nth = f"{n}{'th' if 10 <= n % 100 <= 20 else order.get(n % 10, 'th')}"
    where = "this one" if best == n - 1 else f"{Path(family[best].folder).name}, {family[best].name}"
    significant = rc["spa_p"] < ALPHA
    sentence = (
        f"h={h}: this is the {nth} configuration judged on these {len(D):,} test days (same data, target and "
        f"horizon); counting all {n}, the best edge ({where}) is {'' if significant else 'not '}significant "
        f"(SPA p = {rc['spa_p']:.2g}"
        + (f"; StepM: {len(rc['stepm_superior'])} better than their comparator" if rc["stepm_superior"] else "")
        + f"). Read alone, the best one's own test gives p = {naive[best]:.2g}."
        + beside
    )
    return {
        "count": n,
        "n_days": int(len(D)),
        "touched": touched,
        "best": int(best),
        "best_is_this": best == n - 1,
        "best_edge": float(D[:, best].mean()),
        "naive_p_best": naive[best],
        "spa_p": rc["spa_p"],
        "stepm_superior": rc["stepm_superior"],
        "significant": bool(significant),
        "sentence": sentence,
        "folders": [Path(e.folder).name for e in family],
        "names": [e.name for e in family],
    }


def _answer(
    path: Path, entry: Entry, remote: list[dict] | None, same_as: str | None = None, beside: list[Entry] = ()
) -> dict:
    """:func:`family_answer` for ``entry`` with the earlier entries judged on its days and ``beside`` (a
    comparison's other cells); every earlier entry that judged any of its days is counted as having touched them."""
    found = [c for c in candidates(path, entry, remote, same_as) if len(shared_days(entry, c))]
    return family_answer(
        entry,
        [c for c in found if judged_together(entry, c)] + list(beside),
        entry.horizon,
        touched=len(found) + len(beside),
    )


def judge(
    path: Path, entries: list[Entry], fresh: bool = False, tracker=None, same_as: str | None = None
) -> list[dict]:
    """Per entry (horizon), the family-wise answer over the earlier entries judged on the same days (the
    ledger's, and with a ``tracker`` its MLflow experiment's; none with ``fresh``: the report then says the
    ledger was not counted)."""
    out = []
    remote = None if fresh else shared(tracker, entries)
    for e in entries:
        answer = _answer(path, e, remote, same_as) if not fresh else family_answer(e, [], e.horizon)
        if fresh:
            answer["sentence"] = (
                f"h={e.horizon}: --fresh-ledger: earlier configurations judged on these test days were not counted."
            )
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
    family_p = [
        float(a["spa_p"]) if a.get("count", 1) > 1 and not a.get("fresh") else p for a, p in zip(answers, own_p)
    ]
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
            e["verdict"] = (
                f"{e['verdict']} But {a['count']} configurations have been judged on these test days: "
                f"counting all of them, the best edge is not significant (SPA p = {p_fam:.2g}, "
                f"{p_holm:.2g} after Holm over the run's horizons), so this run claims no skill."
            )
        out.append(frozen_map(e))
    return dataclasses.replace(evaluation, horizon_results=tuple(out))


def judge_together(path: Path, cells: list[list[Entry]], fresh: bool = False, tracker=None) -> list[dict]:
    """A comparison's answers: per horizon, ``cells`` (every configuration the comparison judged at that
    horizon) counted together with the earlier entries on the same days; the last cell is the one the
    sentence speaks for."""
    remote = None if fresh else shared(tracker, [e for c in cells for e in c])
    return [
        family_answer(c[-1], c[:-1], c[-1].horizon) if fresh else _answer(path, c[-1], remote, beside=c[:-1])
        for c in cells
    ]


def counts(path: Path) -> list[dict]:
    """Per market and pooled target: the configurations the ledger holds (done, or published), for the index."""
    if not path.is_file():
        return []
    with _connect(path) as con:
        rows = con.execute("SELECT fingerprint, target, horizon, folder, name, state, token FROM entries").fetchall()
    con.close()
    seen: dict[tuple[str, str], set] = {}
    for fp, target, h, folder, name, state, token in rows:
        if _counts(state, folder, token):
            seen.setdefault((fp, judged_as(target)), set()).add((folder, name, token))
    return [
        {"fingerprint": fp, "target": t, "configurations": len(v), "folders": sorted({Path(f).name for f, _, _ in v})}
        for (fp, t), v in sorted(seen.items())
    ]


def run_entries(folder: Path, prepared, fitted, evaluation, kind: str = "run", name: str | None = None) -> list[Entry]:
    """A run's entries, one per horizon: its headline differentials against its comparator."""
    from pipeline.stages.evaluate import headline_differentials

    cfg = prepared.cfg
    return [
        make_entry(
            kind, str(Path(folder).resolve()), name or cfg.model, prepared.dataset, cfg.target, h, e["comparator"], d
        )
        for h, d, e in zip(cfg.horizons, headline_differentials(prepared, fitted), evaluation.horizon_results)
    ]
