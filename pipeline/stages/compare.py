"""``python -m pipeline compare``: which feature sets are worth having?

Every feature set trains on identical folds, seeds and test days (the sets' samples are aligned on the
first date every set can fill). Each set's seeds are averaged into one ensemble prediction. Per set and
horizon: metrics of the ensemble with intervals over test days (:mod:`pipeline.evaluation.inference`), and the
spread over seeds x folds as stability. The feature-free baselines once; the comparator among them is the
one best on the validation days. Paired comparisons of every pair of sets and of every set against the
comparator: Diebold-Mariano on per-day loss differentials (HAR variance), Holm-corrected over all pairs x
horizons. A ranking, and one sentence per pair, always in the order "A − B".
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

from pipeline.progress import say
from pipeline.models import baselines
from pipeline.evaluation import inference
from pipeline.config.schema import RunConfig
from pipeline.errors import InputError
from pipeline.stages.evaluate import choose_comparator, headline_loss, headline_metric, metric_table
from pipeline.stages.executor import run_jobs
from pipeline.stages.prepare import Experiment, prepare, xs_reference
from pipeline.io import atomic_dir, claim_dir, fresh_dir
from pipeline.stages.jobs import UnitJob, job_device, register_prepared, train_unit
from pipeline.evaluation.metrics import HIGHER_IS_BETTER, compute_metrics
from pipeline.targets.core import CROSS_SECTIONAL
from pipeline.evaluation.inference import ALPHA, holm


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


def _baselines(exp: Experiment) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Feature-free baselines, the same for every set: (n, H) on the test samples (exp.test_idx order) and on
    the validation samples (exp.val_idx order, to choose the comparator)."""
    ws = exp.ws
    folds = exp.folds
    if exp.classification:
        test = {"majority": np.concatenate([baselines.majority(ws.y[f.train], len(f.test)) for f in folds]),
                "previous": ws.persist[exp.test_idx]}
        val = {"majority": np.concatenate([baselines.majority(ws.y[f.train], len(f.val)) for f in folds]),
               "previous": ws.persist[exp.val_idx]}
    else:
        test, val = {"persistence": ws.persist[exp.test_idx]}, {"persistence": ws.persist[exp.val_idx]}
        if exp.cfg.target in ("return", "close"):
            for part, idx in ((test, exp.test_idx), (val, exp.val_idx)):
                part["momentum"] = np.column_stack([ws.extra[f"momentum_h{h}"][idx] for h in exp.cfg.horizons])
    if exp.cfg.target in CROSS_SECTIONAL:  # reversal and momentum ranks, as in run
        test.update(xs_reference(exp, exp.test_idx))
        val.update(xs_reference(exp, exp.val_idx))
    return test, val


def run_compare(base: RunConfig, sets: list[str], executor: str = "local", n_jobs: int = 1, ray_address: str | None = None,
                out: str | None = None, log=say, gpus_per_job: float = 0.0) -> tuple[Path, dict]:
    from tqdm.auto import tqdm

    if gpus_per_job and executor != "ray":
        raise InputError("--gpus-per-job needs --executor ray (local workers are forked and train on CPU)")
    if len(sets) < 2:
        raise InputError("compare needs at least two feature sets, e.g. --features ohlcv,ohlcv+technical")
    if len(set(sets)) != len(sets):
        raise InputError("each feature set may appear once in --features")
    if out:
        claim_dir(out, base.overwrite)
    t0 = time.perf_counter()
    exps = _align(base, sets)
    ref = exps[sets[0]]
    seeds = ref.seeds
    log(f"{', '.join(ref.dataset.prices)}: {len(sets)} feature sets x {len(ref.folds)} folds x {len(seeds)} seeds; "
        f"{len(ref.test_idx)} test samples per set; executor {executor}" + (f" ({n_jobs} jobs)" if executor == "local" else ""))
    jobs = []
    device = job_device(base.device, executor, gpus_per_job)
    for spec in sets:
        key = register_prepared(exps[spec])
        jobs += [(spec, UnitJob(key, f.number, s, device=device, data_hash=exps[spec].dataset.fingerprint())) for f in ref.folds for s in seeds]
    bar = tqdm(total=len(jobs), desc="compare jobs", unit="job", disable=None if base.progress else True)
    workers = 1 if device == "cuda" and executor == "local" else n_jobs  # CUDA jobs run in this process
    results = run_jobs(train_unit, [j for _, j in jobs], executor, workers, ray_address, num_gpus=gpus_per_job,
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
    summary = summarise(set_results, *_baselines(ref), ref)
    summary.update({
        "kind": "compare", "created": datetime.now().isoformat(timespec="seconds"), "target": base.target,
        "horizons": base.horizons, "symbols": list(ref.dataset.prices), "feature_sets": sets, "seeds": seeds,
        "folds": [f.describe(ref.ws.dates) for f in ref.folds], "n_test": int(len(ref.test_idx)),
        "executor": executor, "jobs": n_jobs, "wall_seconds": time.perf_counter() - t0, "train_wall_seconds": train_wall,
        "job_seconds": sum(r.seconds for r in set_results.values()),
        "config": {k: v for k, v in base.to_dict().items() if k != "features"},
    })
    out_dir = Path(out) if out else fresh_dir(Path("reports"), f"compare-{'+'.join(summary['symbols'])[:40]}-{base.target}")
    write_compare(out_dir, summary, set_results, ref, overwrite=base.overwrite)
    return out_dir, summary


def _unit_values(exp: Experiment, pred: np.ndarray, j: int) -> np.ndarray:
    """Headline metric per (fold, seed) unit: stability across training runs, never a test."""
    y, ref = exp.ws.y[exp.test_idx][:, j], exp.ws.persist[exp.test_idx][:, j]
    head = headline_metric(exp.classification)
    return np.array([compute_metrics(exp.classification, y[rows], pred[k, rows, j], ref[rows])[head]
                     for fold in exp.folds for rows in [exp.test_fold == fold.number] for k in range(len(pred))])


def summarise(set_results: dict[str, SetResult], base_test: dict[str, np.ndarray], base_val: dict[str, np.ndarray],
              ref: Experiment) -> dict:
    clf = ref.classification
    head = headline_metric(clf)
    loss = headline_loss(clf)
    cfg = ref.cfg
    symbols = list(ref.dataset.prices)
    ws, idx = ref.ws, ref.test_idx
    dates_all, syms = ws.dates[idx], ws.symbols[idx]
    scopes = [("all", np.ones(len(idx), bool))]
    if len(symbols) > 1:
        scopes += [(s, syms == s) for s in symbols]
    preds = {spec: r.pred.mean(axis=0) for spec, r in set_results.items()}  # seed ensembles (n, H)
    rows, tests = [], []
    units: dict[tuple[str, str, int], np.ndarray] = {}
    comparators = {}
    for j, h in enumerate(cfg.horizons):
        y_all, r_all = ws.y[idx][:, j], ws.persist[idx][:, j]
        comparator, _ = choose_comparator(ref, base_val, j)
        comparators[str(h)] = comparator
        for spec, r in set_results.items():
            units[("all", spec, h)] = _unit_values(ref, r.pred, j)
        for scope, mask in scopes:
            y, r, d = y_all[mask], r_all[mask], dates_all[mask]
            entries = [(spec, p[mask, j]) for spec, p in preds.items()] + [(f"baseline:{n}", p[mask, j]) for n, p in base_test.items()]
            for name, pred in entries:
                values, ci = metric_table(clf, y, pred, r, d, h, cfg.bootstrap, cfg.seed, cfg.block)
                unit_sd = float(np.std(units[("all", name, h)])) if name in set_results and scope == "all" else float("nan")
                for m, v in values.items():
                    rows.append({"feature_set": name, "symbol": scope, "horizon": h, "metric": m, "mean": v,
                                 "ci_low": ci[m][0], "ci_high": ci[m][1], "stability_sd": unit_sd if m == head else float("nan")})
        # paired tests on the pooled scope, always "A − B" with B the earlier set (the first set is the reference):
        # every pair of sets, and every set against the comparator baseline
        pairs = [(b, a) for a, b in combinations(set_results, 2)] + [(a, f"baseline:{comparator}") for a in set_results]
        for a, b in pairs:
            pa = preds[a][:, j]
            pb = preds[b][:, j] if b in preds else base_test[comparator][:, j]
            t = inference.paired_loss_test(loss(y_all, pa), loss(y_all, pb), dates_all, h)
            sign = -1 if clf else 1  # report accuracy differences for direction, MSE differences otherwise
            tests.append({"horizon": h, "set_a": a, "set_b": b, "metric": head if clf else "mse",
                          "diff": sign * t.mean, "ci_low": sign * (t.ci_high if clf else t.ci_low),
                          "ci_high": sign * (t.ci_low if clf else t.ci_high), "p_value": t.p_value,
                          "test": "diebold_mariano", "mde": t.mde, "n_days": t.n_days})
    tdf = pd.DataFrame(tests)
    tdf["p_holm"] = holm(tdf["p_value"].to_numpy())  # one family: every pair x every horizon
    cdf = pd.DataFrame(rows)
    verdicts, ranking = [], {}
    for h in cfg.horizons:
        part = cdf[(cdf.horizon == h) & (cdf.metric == head) & (cdf.symbol == "all")]  # baselines included
        ranking[str(h)] = part.sort_values("mean", ascending=not HIGHER_IS_BETTER[head], kind="stable")["feature_set"].tolist()
        for row in tdf[tdf.horizon == h].itertuples():
            verdicts.append(pair_sentence(row, clf))
    return {"headline_metric": head, "ranking": ranking, "verdicts": verdicts, "table": cdf, "tests": tdf,
            "comparators": comparators, "units": {f"{s}|{k}|{h}": v.tolist() for (s, k, h), v in units.items()}}


def pair_sentence(row, clf: bool) -> str:
    """One sentence per pair, always ``A − B`` with A the subject: "A better by …" or "A worse by …"."""
    scale, what = (100, "accuracy points") if clf else (1, "in MSE")
    better = row.diff > 0 if clf else row.diff < 0
    if row.diff == 0 and row.ci_low == row.ci_high:
        return f"h={row.horizon}: {row.set_a} − {row.set_b} = 0: they make the same calls on every test day; no difference."
    digits = ".2f" if clf else ".3g"  # accuracy points to 1/100; MSE to 3 significant digits
    v = lambda x: f"{float(f'{scale * x:{digits}}') + 0.0:+{digits}}"  # noqa: E731  (+0.0: no '-0.00')
    size = f"{abs(scale * row.diff):{digits}}" + (" points" if clf else "")
    text = (f"h={row.horizon}: {row.set_a} − {row.set_b} = {v(row.diff)} {what} "
            f"(95% CI [{v(row.ci_low)}, {v(row.ci_high)}] unadjusted, p_holm = {row.p_holm:.3g}): "
            f"{row.set_a} {'better' if better else 'worse'} by {size}")
    return text + (", significant after Holm." if row.p_holm < ALPHA else ", not significant after Holm.")


def write_compare(out_dir: Path, summary: dict, set_results: dict[str, SetResult], ref: Experiment,
                  overwrite: bool = False) -> None:
    from pipeline.reporting.compare_page import difference_matrix, render_compare_report
    from pipeline.reporting.index import index_href, update_index

    table, tests = summary["table"], summary["tests"]
    with atomic_dir(out_dir, "compare", overwrite=overwrite) as tmp:
        table.to_csv(tmp / "compare.csv", index=False)
        tests[["horizon", "set_a", "set_b", "metric", "diff", "p_value", "p_holm", "test", "ci_low", "ci_high", "mde",
               "n_days"]].to_csv(tmp / "compare_tests.csv", index=False)
        meta = {k: v for k, v in summary.items() if k not in ("table", "tests")}
        matrix = difference_matrix(summary)
        meta["headline"] = matrix["headline"]  # the page's one-sentence answer, for the index
        (tmp / "compare.json").write_text(json.dumps(meta, indent=2, default=float))
        (tmp / "index.html").write_text(render_compare_report(summary, out_dir.name, index_href(out_dir), matrix))
    update_index(out_dir.parent)
