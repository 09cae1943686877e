"""The explain stage of a run: wires the :class:`Experiment`'s models, trainer and fold data into the
``explain`` package (as callables), and writes ``importance.csv`` and ``importance.html``.

Methods: group permutation (default), drop-group-and-retrain (``--ablation retrain|both``), LightGBM
gain/split/TreeSHAP and SHAP on the LSTM (skipped with ``--no-explain``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from explain import ablation, agreement
from explain import lgbm as lgbm_explain
from explain import shap_lstm
from explain.common import Importance, group_indices
from pipeline.experiment import Experiment, lgbm_fit, to_model_units
from pipeline.metrics import auc
from pipeline.train import predict


@dataclass
class ExplainConfig:
    ablation: str = "permute"       # retrain | permute | both | none
    explain: bool = True            # LightGBM + LSTM SHAP
    n_repeats: int = 10
    lgbm_lags: int = 5
    shap_windows: int = 500
    shap_background: int = 100
    shap_nsamples: int = 64
    jobs: int = 2
    lgbm_lags: int = 5
    executor: str = "local"
    ray_address: str | None = None
    gpus_per_job: float = 0.0


@dataclass
class ExplainResult:
    items: list[Importance] = field(default_factory=list)
    shap_results: list[shap_lstm.LstmShapResult] = field(default_factory=list)
    lgbm_results: list[lgbm_explain.LgbmFoldResult] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    n_repeats: int = 10

    def table(self) -> pd.DataFrame:
        return agreement.importance_table(self.items)


def score_fn(classification: bool) -> Callable[[np.ndarray, np.ndarray], float]:
    """Higher-is-better headline score per horizon: AUC for direction, -RMSE for regression."""
    if classification:
        return lambda y, p: auc(y, p)
    return lambda y, p: -float(np.sqrt(np.mean((p - y) ** 2)))


def _units(exp: Experiment):
    for fd in exp.fold_data:
        for seed in exp.seeds:
            model = exp.models[(fd.fold.number, seed)]
            yield f"fold{fd.fold.number}-seed{seed}", model, fd


def run_explain(exp: Experiment, ecfg: ExplainConfig, log=print) -> ExplainResult:
    from tqdm.auto import tqdm

    res = ExplainResult(n_repeats=ecfg.n_repeats)
    horizons, groups = exp.cfg.horizons, exp.dataset.groups
    gidx = group_indices(exp.ws.columns, groups)
    score = score_fn(exp.classification)
    cpu = torch.device("cpu")
    show = None if exp.cfg.progress else True

    if ecfg.ablation in ("permute", "both"):
        t0 = time.perf_counter()
        units = [(label, (lambda X, m=model, f=fd: to_model_units(exp, predict(m, X, cpu), f)), fd.X_test, exp.ws.y[fd.fold.test])
                 for label, model, fd in _units(exp)]
        units = tqdm(units, desc="permutation", unit="model", leave=False, disable=show)
        res.items += ablation.group_permutation(units, gidx, horizons, score, ecfg.n_repeats, exp.cfg.seed)
        res.seconds["permutation"] = time.perf_counter() - t0

    if ecfg.ablation in ("retrain", "both"):
        from pipeline.executor import run_jobs
        from pipeline.jobs import UnitJob, register_prepared, train_unit

        t0 = time.perf_counter()
        key = register_prepared(exp)
        full = {}
        for label, model, fd in _units(exp):
            pred = to_model_units(exp, predict(model, fd.X_test, cpu), fd)
            y = exp.ws.y[fd.fold.test]
            full[label] = np.array([score(y[:, j], pred[:, j]) for j in range(len(horizons))])
        labels = list(full)
        bar = tqdm(total=len(labels) * len(groups), desc="ablation retrain", unit="job", leave=False, disable=show)

        def run_all(jobs: list[tuple[str, str]]) -> list[np.ndarray]:
            units = []
            for label, group in jobs:
                fold_no, seed = (int(x) for x in label.replace("fold", "").split("-seed"))
                units.append(UnitJob(key, fold_no, seed, group, "cuda" if ecfg.gpus_per_job > 0 else "cpu"))
            out = run_jobs(train_unit, units, ecfg.executor, ecfg.jobs, ecfg.ray_address, num_gpus=ecfg.gpus_per_job,
                           progress=lambda: bar.update(1))
            return [r.scores["headline"] for r in out]

        try:
            res.items += ablation.drop_group_retrain(run_all, labels, list(groups), full, horizons)
        finally:
            bar.close()
        res.seconds["ablation_retrain"] = time.perf_counter() - t0

    if ecfg.explain:
        t0 = time.perf_counter()
        for fd in exp.fold_data:
            outs = lgbm_fit(exp, fd, ecfg.lgbm_lags)  # the baseline's fits when the lags match
            for j, f in enumerate(outs):
                res.lgbm_results.append(lgbm_explain.LgbmFoldResult(fd.fold.number, horizons[j], f.gain, f.split, f.contrib, f.X_flat))
        lags = min(ecfg.lgbm_lags, exp.cfg.window)
        res.lgbm_lags = lags
        res.items += lgbm_explain.summarise(res.lgbm_results, exp.ws.columns, lags, gidx)
        res.seconds["lightgbm"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        n_units = len(exp.fold_data) * len(exp.seeds)
        per_unit = max(20, ecfg.shap_windows // n_units)
        rng = np.random.default_rng(exp.cfg.seed)
        bar = tqdm(total=n_units, desc="LSTM SHAP", unit="model", leave=False, disable=show)
        for label, model, fd in _units(exp):
            n = len(fd.X_test)
            take = np.linspace(0, n - 1, min(per_unit, n)).astype(int)
            bg = fd.X_train[rng.choice(len(fd.X_train), size=min(ecfg.shap_background, len(fd.X_train)), replace=False)]
            phi = shap_lstm.expected_gradients(model, bg, fd.X_test[take], exp.device, ecfg.shap_nsamples, exp.cfg.seed)
            seed = int(label.split("-seed")[1])
            res.shap_results.append(shap_lstm.LstmShapResult(fd.fold.number, seed, phi, fd.X_test[take]))
            bar.update(1)
        bar.close()
        res.items += shap_lstm.summarise(res.shap_results, horizons, gidx)
        res.seconds["lstm_shap"] = time.perf_counter() - t0
    return res


def write_importance(exp: Experiment, res: ExplainResult, folder: Path) -> None:
    """``importance.csv`` and the self-contained ``importance.html`` into ``folder``."""
    from pipeline.importance_report import render_importance_report

    table = res.table()
    table[["horizon", "group", "method", "value", "ci_low", "ci_high", "rank"]].to_csv(folder / "importance.csv", index=False)
    (folder / "importance.html").write_text(render_importance_report(exp, res, table))


def explain_writer(ecfg: ExplainConfig, log=print) -> Callable[[Experiment, dict], Callable[[Path], None] | None]:
    """A stage for :func:`pipeline.run.run`: compute importances now, write them into the run folder."""

    def stage(exp: Experiment, metrics: dict):
        if ecfg.ablation == "none" and not ecfg.explain:
            return None
        t0 = time.perf_counter()
        res = run_explain(exp, ecfg, log)
        metrics["explain_seconds"] = time.perf_counter() - t0
        metrics["explain_timings"] = res.seconds
        table = res.table()
        metrics["importance_top"] = {
            str(h): {m: table[(table.horizon == h) & (table.method == m)].sort_values("rank")["group"].iloc[0]
                     for m in table[table.horizon == h]["method"].unique()} for h in exp.cfg.horizons} if len(table) else {}
        return lambda folder: write_importance(exp, res, folder)

    return stage
