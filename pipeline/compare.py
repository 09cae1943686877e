"""``python -m pipeline compare``: which feature sets are worth having?

Every feature set trains on identical folds, seeds and test days (the sets' samples are aligned on the
first date every set can fill). Per set and horizon: headline metrics with intervals across seeds x folds;
the feature-free baselines once. Paired comparisons between sets and against the best baseline: over
seeds x folds (Wilcoxon signed-rank and paired t) and over test days (Diebold-Mariano on per-day losses),
Holm-corrected within each horizon and test. A ranking, and one sentence per pair.
"""
from __future__ import annotations

import dataclasses
import json
import time
from datetime import datetime
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from explain.common import mean_interval
from pipeline import baselines
from pipeline.config import RunConfig
from pipeline.errors import InputError
from pipeline.evaluate import headline_metric
from pipeline.executor import run_jobs
from pipeline.experiment import Experiment, prepare
from pipeline.io import atomic_dir
from pipeline.jobs import UnitJob, register_prepared, train_unit
from pipeline.metrics import DIRECTION_METRICS, HIGHER_IS_BETTER, REGRESSION_METRICS, compute_metrics
from pipeline.stats import diebold_mariano, per_date_mean

ALPHA = 0.05


def holm(p: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (monotone, capped at 1)."""
    p = np.asarray(p, float)
    m = len(p)
    order = np.argsort(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p[i])
        adjusted[i] = min(1.0, running)
    return adjusted


def paired_tests(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    d = np.asarray(a, float) - np.asarray(b, float)
    if np.allclose(d, 0):
        return {"wilcoxon": 1.0, "paired_t": 1.0}
    w = stats.wilcoxon(a, b, zero_method="zsplit").pvalue if len(d) >= 2 else 1.0
    t = stats.ttest_rel(a, b).pvalue if len(d) >= 2 and d.std() > 0 else (0.0 if len(d) >= 2 else 1.0)
    return {"wilcoxon": float(w), "paired_t": float(t)}


@dataclasses.dataclass
class SetResult:
    name: str
    exp: Experiment
    pred: np.ndarray        # (S, n_test, H) model units, in exp.test_idx order
    seconds: float


def _align(base: RunConfig, sets: list[str]) -> dict[str, Experiment]:
    """Prepare every set on the same samples: start at the first date every set can fill."""
    first = {spec: prepare(dataclasses.replace(base, features=spec, sample_start=None)) for spec in sets}
    start = str(pd.Timestamp(max(exp.ws.dates.min() for exp in first.values())).date())
    # same data and features, only the samples before ``start`` dropped: reuse each set's dataset
    exps = {spec: prepare(dataclasses.replace(base, features=spec, sample_start=start), dataset=first[spec].dataset)
            for spec in sets}
    ref = next(iter(exps.values()))
    for spec, exp in exps.items():
        same = (len(exp.ws.dates) == len(ref.ws.dates) and (exp.ws.dates == ref.ws.dates).all()
                and (exp.ws.symbols == ref.ws.symbols).all())
        if not same:
            raise InputError(f"feature set {spec!r} yields other sample days than {ref.cfg.features!r} (gaps in a macro "
                             "series?); compare sets that cover the same days")
    return exps


def _baselines(exp: Experiment) -> dict[str, np.ndarray]:
    """Feature-free baselines, the same for every set: (n_test, H) in exp.test_idx order."""
    ws, idx = exp.ws, exp.test_idx
    if exp.classification:
        rates = [baselines.majority(ws.y[fold.train], len(fold.test)) for fold in exp.folds]
        return {"majority": np.concatenate(rates), "previous": ws.persist[idx]}
    out = {"persistence": ws.persist[idx]}
    if exp.cfg.target in ("return", "close"):
        out["momentum"] = np.column_stack([ws.extra[f"momentum_h{h}"][idx] for h in exp.cfg.horizons])
    return out


def run_compare(base: RunConfig, sets: list[str], executor: str = "local", n_jobs: int = 1, ray_address: str | None = None,
                out: str | None = None, log=print, gpus_per_job: float = 0.0) -> tuple[Path, dict]:
    from tqdm.auto import tqdm

    if gpus_per_job and executor != "ray":
        raise InputError("--gpus-per-job needs --executor ray (local workers are forked and train on CPU)")
    if len(sets) < 2:
        raise InputError("compare needs at least two feature sets, e.g. --features ohlcv,ohlcv+technical")
    if len(set(sets)) != len(sets):
        raise InputError("each feature set may appear once in --features")
    t0 = time.perf_counter()
    exps = _align(base, sets)
    ref = exps[sets[0]]
    seeds = ref.seeds
    log(f"{', '.join(ref.dataset.prices)}: {len(sets)} feature sets x {len(ref.folds)} folds x {len(seeds)} seeds; "
        f"{len(ref.test_idx)} test samples per set; executor {executor}" + (f" ({n_jobs} jobs)" if executor == "local" else ""))
    jobs = []
    for spec in sets:
        key = register_prepared(exps[spec])
        device = "cuda" if gpus_per_job > 0 else "cpu"
        jobs += [(spec, UnitJob(key, f.number, s, device=device)) for f in ref.folds for s in seeds]
    bar = tqdm(total=len(jobs), desc="compare jobs", unit="job", disable=None if base.progress else True)
    results = run_jobs(train_unit, [j for _, j in jobs], executor, n_jobs, ray_address, num_gpus=gpus_per_job,
                       progress=lambda: bar.update(1))
    bar.close()
    train_wall = time.perf_counter() - t0
    set_results = {}
    H = len(base.horizons)
    for spec in sets:
        exp = exps[spec]
        pos = {int(i): k for k, i in enumerate(exp.test_idx)}
        pred = np.zeros((len(seeds), len(exp.test_idx), H))
        secs = 0.0
        for (s2, job), res in zip(jobs, results):
            if s2 != spec:
                continue
            rows = [pos[int(i)] for i in res.test_idx]
            pred[seeds.index(job.seed), rows] = res.pred
            secs += res.seconds
        set_results[spec] = SetResult(spec, exp, pred, secs)
    summary = summarise(set_results, _baselines(ref), ref)
    summary.update({
        "kind": "compare", "created": datetime.now().isoformat(timespec="seconds"), "target": base.target,
        "horizons": base.horizons, "symbols": list(ref.dataset.prices), "feature_sets": sets, "seeds": seeds,
        "folds": [f.describe(ref.ws.dates) for f in ref.folds], "n_test": int(len(ref.test_idx)),
        "executor": executor, "jobs": n_jobs, "wall_seconds": time.perf_counter() - t0, "train_wall_seconds": train_wall,
        "job_seconds": sum(r.seconds for r in set_results.values()),
        "config": {k: v for k, v in base.to_dict().items() if k != "features"},
    })
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = Path(out) if out else Path("reports") / f"{stamp}-compare-{'+'.join(summary['symbols'])[:40]}-{base.target}"
    write_compare(out_dir, summary, set_results, ref)
    return out_dir, summary


def _unit_metrics(exp: Experiment, pred: np.ndarray, seeds: list[int], rows_mask: np.ndarray, j: int) -> dict[str, np.ndarray]:
    """metric -> values per (fold, seed) unit on the test rows in ``rows_mask``."""
    names = DIRECTION_METRICS if exp.classification else REGRESSION_METRICS
    out: dict[str, list[float]] = {m: [] for m in names}
    y, ref = exp.ws.y[exp.test_idx][:, j], exp.ws.persist[exp.test_idx][:, j]
    for fold in exp.folds:
        rows = (exp.test_fold == fold.number) & rows_mask
        if rows.sum() < 2:
            continue
        for k in range(len(seeds)):
            vals = compute_metrics(exp.classification, y[rows], pred[k, rows, j], ref[rows])
            for m in names:
                out[m].append(vals[m])
    return {m: np.array(v) for m, v in out.items()}


def summarise(set_results: dict[str, SetResult], baselines: dict[str, np.ndarray], ref: Experiment) -> dict:
    clf = ref.classification
    head = headline_metric(clf)
    sign = 1 if HIGHER_IS_BETTER[head] else -1
    seeds = ref.seeds
    symbols = list(ref.dataset.prices)
    scopes = [("all", np.ones(len(ref.test_idx), bool))]
    if len(symbols) > 1:
        scopes += [(s, ref.ws.symbols[ref.test_idx] == s) for s in symbols]
    rows, tests = [], []
    units: dict[tuple[str, str, int], np.ndarray] = {}
    for j, h in enumerate(ref.cfg.horizons):
        for scope, mask in scopes:
            for spec, r in set_results.items():
                for m, vals in _unit_metrics(r.exp, r.pred, seeds, mask, j).items():
                    mean, lo, hi = mean_interval(vals)
                    rows.append({"feature_set": spec, "symbol": scope, "horizon": h, "metric": m, "mean": mean,
                                 "ci_low": lo, "ci_high": hi, "n_units": len(vals)})
                    if m == head:
                        units[(scope, spec, h)] = vals
            for name, bpred in baselines.items():
                for m, vals in _unit_metrics(ref, bpred[None], [0], mask, j).items():
                    mean, lo, hi = mean_interval(vals)
                    rows.append({"feature_set": f"baseline:{name}", "symbol": scope, "horizon": h, "metric": m,
                                 "mean": mean, "ci_low": lo, "ci_high": hi, "n_units": len(vals)})
                    if m == head:
                        units[(scope, f"baseline:{name}", h)] = np.repeat(vals, len(seeds))  # paired with each seed
        # tests, on the pooled scope
        y = ref.ws.y[ref.test_idx][:, j]
        dates = ref.ws.dates[ref.test_idx]
        if clf:  # 0/1 loss: the DM test then speaks about accuracy, the headline metric
            loss = lambda p: per_date_mean(((p > 0.5) != (y > 0.5)).astype(float), dates)  # noqa: E731
        else:
            loss = lambda p: per_date_mean((p - y) ** 2, dates)  # noqa: E731
        best_base = max(baselines, key=lambda n: sign * units[("all", f"baseline:{n}", h)].mean())
        pairs = [(a, b) for a, b in combinations(set_results, 2)] + [(a, f"baseline:{best_base}") for a in set_results]
        for a, b in pairs:
            ua, ub = units[("all", a, h)], units[("all", b, h)]
            pa = set_results[a].pred.mean(axis=0)[:, j]
            pb = set_results[b].pred.mean(axis=0)[:, j] if b in set_results else baselines[best_base][:, j]
            diff = float(ua.mean() - ub.mean())
            p_unit = paired_tests(ua, ub)
            dm = diebold_mariano(loss(pa), loss(pb), h)
            for test, p in (("wilcoxon", p_unit["wilcoxon"]), ("paired_t", p_unit["paired_t"]), ("diebold_mariano", dm["p_value"])):
                tests.append({"horizon": h, "set_a": a, "set_b": b, "metric": head if test != "diebold_mariano" else
                              ("misclassification" if clf else "squared_error"), "diff": diff if test != "diebold_mariano" else
                              float(np.mean(loss(pa) - loss(pb))), "p_value": p, "test": test})
    tdf = pd.DataFrame(tests)
    tdf["p_holm"] = np.nan
    for (_, _), idx in tdf.groupby(["horizon", "test"]).groups.items():
        tdf.loc[idx, "p_holm"] = holm(tdf.loc[idx, "p_value"].to_numpy())
    cdf = pd.DataFrame(rows)
    verdicts, ranking = [], {}
    for h in ref.cfg.horizons:
        part = cdf[(cdf.horizon == h) & (cdf.metric == head) & (cdf.symbol == "all") & ~cdf.feature_set.str.startswith("baseline:")]
        order = part.sort_values("mean", ascending=not HIGHER_IS_BETTER[head])["feature_set"].tolist()
        ranking[str(h)] = order
        for (a, b), grp in tdf[tdf.horizon == h].groupby(["set_a", "set_b"], sort=False):
            verdicts.append(pair_sentence(h, a, b, grp, head))
    return {"headline_metric": head, "ranking": ranking, "verdicts": verdicts, "table": cdf, "tests": tdf,
            "units": {f"{s}|{k}|{h}": v.tolist() for (s, k, h), v in units.items()}}


def pair_sentence(h: int, a: str, b: str, grp: pd.DataFrame, head: str) -> str:
    row = {r.test: r for r in grp.itertuples()}
    diff = row["wilcoxon"].diff
    better = diff > 0 if HIGHER_IS_BETTER[head] else diff < 0
    dm, wil = row["diebold_mariano"], row["wilcoxon"]
    sig = dm.p_holm < ALPHA
    lead, other = (a, b) if better else (b, a)
    text = (f"h={h}: {lead} scores better than {other} ({head} {a} − {b} = {diff:+.4g}; Diebold–Mariano over test days "
            f"p_holm={dm.p_holm:.3g}, Wilcoxon over seeds×folds p_holm={wil.p_holm:.3g})")
    if abs(diff) < 1e-12:
        return f"h={h}: {a} and {b} score the same ({head}); no difference."
    return text + (": significant." if sig else ": not significant.")


def write_compare(out_dir: Path, summary: dict, set_results: dict[str, SetResult], ref: Experiment) -> None:
    from pipeline.compare_report import render_compare_report
    from pipeline.reports_index import update_index

    table, tests = summary["table"], summary["tests"]
    with atomic_dir(out_dir) as tmp:
        table.to_csv(tmp / "compare.csv", index=False)
        tests[["horizon", "set_a", "set_b", "metric", "diff", "p_value", "p_holm", "test"]].to_csv(tmp / "compare_tests.csv", index=False)
        meta = {k: v for k, v in summary.items() if k not in ("table", "tests")}
        (tmp / "compare.json").write_text(json.dumps(meta, indent=2, default=float))
        (tmp / "index.html").write_text(render_compare_report(summary, out_dir.name))
    update_index(out_dir.parent)
