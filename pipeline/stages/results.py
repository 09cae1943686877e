"""The results the stages hand to each other, frozen: a stage reads the earlier ones and returns its own.

``RunConfig`` -> :class:`Prepared` (data, features, targets, windows, folds with their scaled windows)
-> :class:`Fitted` (per fold x seed: the model, its history and its test predictions; every baseline's
predictions on validation and test days) -> :class:`Evaluation` (metrics, intervals, tests, verdicts)
-> ``Explanation`` (:mod:`pipeline.stages.explain`) -> the run folder (:mod:`pipeline.reporting`).

Shapes: test predictions are ``(n_test, H)`` in *model units* (probability of up for classification
targets, target units for regression), in the run's test order (:attr:`Prepared.test_idx`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
import pandas as pd
from torch import nn

from explain import agreement, clusters as clustering, shap_lstm, temporal
from explain import lgbm as lgbm_explain
from explain.common import Importance

from pipeline.config.schema import RunConfig, model_layers
from pipeline.data.dataset import Dataset
from pipeline.models.lstm import ModelConfig
from pipeline.models.trainer import TrainConfig, TrainResult
from pipeline.splits.windows import Fold, Preprocessor, Windows, WindowSet
from pipeline.targets.core import CLASSIFICATION


def frozen_map(values: Mapping) -> Mapping:
    """A read-only view of ``values`` (results never change after their stage returns them)."""
    return MappingProxyType(dict(values))


def read_only(a: np.ndarray) -> np.ndarray:
    """``a``, no longer writable: a result's derived arrays are computed once and shared."""
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class FoldData:
    """One fold's scaled windows (what every model of the fold trains and is tested on): lazy
    :class:`Windows` over one float32 copy of the rows ``(R, F)`` scaled by a preprocessor fitted on the
    fold's training rows only. ``y_*`` are in training units (scaled for regression)."""

    fold: Fold
    pre: Preprocessor
    X_train: Windows
    y_train: np.ndarray  # (n_train, H) float32
    X_val: Windows
    y_val: np.ndarray  # (n_val, H) float32
    X_test: Windows
    y_mean: np.ndarray  # (H,) target scaling (regression); zeros for classification
    y_std: np.ndarray  # (H,) ones for classification
    shift: Mapping[str, float]  # group -> share of test days with a value outside the training range


@dataclass(frozen=True)
class Prepared:
    """Everything a model needs before training: the resolved configuration, the data and features, the
    targets and windows of every sample, and the purged folds with their scaled windows."""

    cfg: RunConfig
    dataset: Dataset
    ws: WindowSet
    fold_data: tuple[FoldData, ...]

    @cached_property
    def folds(self) -> tuple[Fold, ...]:
        return tuple(fd.fold for fd in self.fold_data)

    @property
    def classification(self) -> bool:
        return self.cfg.target in CLASSIFICATION

    @property
    def horizons(self) -> list[int]:
        return list(self.cfg.horizons)

    @property
    def seeds(self) -> list[int]:
        return [self.cfg.seed + k for k in range(self.cfg.seeds)]

    @property
    def target_names(self) -> list[str]:
        return [f"{self.cfg.target}_h{h}" for h in self.cfg.horizons]

    @cached_property
    def test_idx(self) -> np.ndarray:
        """(n_test,) sample indices of every fold's test days, fold after fold: the run's test order."""
        return read_only(np.concatenate([f.test for f in self.folds]))

    @cached_property
    def test_fold(self) -> np.ndarray:
        """(n_test,) the fold of each test sample."""
        return read_only(np.concatenate([np.full(len(f.test), f.number) for f in self.folds]))

    def fold(self, number: int) -> FoldData:
        return next(fd for fd in self.fold_data if fd.fold.number == number)

    def only_fold(self, number: int) -> "Prepared":
        """The same preparation restricted to one fold (``explain RUN_DIR`` on the saved model's fold)."""
        return Prepared(self.cfg, self.dataset, self.ws, (self.fold(number),))

    def model_config(self, n_features: int | None = None) -> ModelConfig:
        c = self.cfg
        return ModelConfig(
            n_features=len(self.ws.columns) if n_features is None else n_features,
            n_outputs=len(c.horizons),
            hidden=c.hidden,
            layers=model_layers(c),
            dropout=c.dropout,
            norm=c.norm,
            bidirectional=c.bidirectional,
            pool=c.pool,
            heads=c.heads,
            attention=c.attention,
            kernel_size=c.kernel_size,
            trend_kernel=c.trend_kernel,
            skip=c.skip,
        )

    def train_config(self, seed: int, progress: bool | None = None) -> TrainConfig:
        c = self.cfg
        return TrainConfig(
            epochs=c.epochs,
            batch_size=c.batch_size,
            lr=c.lr,
            lr_scaling=c.lr_scaling,
            weight_decay=c.weight_decay,
            warmup_epochs=c.warmup_epochs,
            patience=c.patience,
            clip_grad=c.clip_grad,
            staged=c.skip_fit == "staged",
            classification=self.classification,
            seed=seed,
            progress=c.progress if progress is None else progress,
        )

    def to_model_units(self, raw: np.ndarray, fd: FoldData) -> np.ndarray:
        """Network outputs -> probabilities (classification) or target units (regression)."""
        if self.classification:
            return 1.0 / (1.0 + np.exp(-raw.astype(np.float64)))
        return raw * fd.y_std + fd.y_mean


@dataclass(frozen=True)
class Unit:
    """One trained network: fold x seed (x a dropped group, for the retrain ablation)."""

    fold: int
    seed: int
    drop_group: str | None
    model: nn.Module  # on the CPU, in eval mode; trained on the fold's training windows
    history: TrainResult
    test_pred: np.ndarray  # (n_fold_test, H) model units, in the fold's test order
    seconds: float


@dataclass(frozen=True)
class FoldBaselines:
    """Every baseline's predictions on one fold's test and validation samples, name -> (n, H) model units,
    and the validation positions on which the fold's comparator is chosen (``choice``: days no baseline
    was fitted or early-stopped on, all before the fold's test block)."""

    fold: int
    test: Mapping[str, np.ndarray]
    val: Mapping[str, np.ndarray]
    choice: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # positions in the fold's val order


@dataclass(frozen=True)
class Fitted:
    """The fit stage's result: every (fold, seed) network and every baseline of every fold."""

    units: tuple[Unit, ...]
    baselines: tuple[FoldBaselines, ...]
    seeds: tuple[int, ...]
    device: str
    train_seconds: float
    folds: tuple[int, ...] = field(default=())

    def __post_init__(self):
        if not self.folds:
            object.__setattr__(self, "folds", tuple(dict.fromkeys(u.fold for u in self.units)))

    @cached_property
    def models(self) -> Mapping[tuple[int, int], nn.Module]:
        return frozen_map({(u.fold, u.seed): u.model for u in self.units if u.drop_group is None})

    @cached_property
    def histories(self) -> Mapping[tuple[int, int], TrainResult]:
        return frozen_map({(u.fold, u.seed): u.history for u in self.units if u.drop_group is None})

    @cached_property
    def model_pred(self) -> np.ndarray:
        """(seeds, n_test, H): each seed's predictions, folds concatenated in test order."""
        by = {(u.fold, u.seed): u.test_pred for u in self.units if u.drop_group is None}
        return read_only(np.stack([np.concatenate([by[(f, s)] for f in self.folds]) for s in self.seeds]))

    @property
    def ensemble_pred(self) -> np.ndarray:
        """(n_test, H): the seed ensemble (mean over seeds), the one prediction every test speaks about."""
        return self.model_pred.mean(axis=0)

    @cached_property
    def baseline_pred(self) -> Mapping[str, np.ndarray]:
        """name -> (n_test, H), test order."""
        return frozen_map(
            {k: read_only(np.concatenate([b.test[k] for b in self.baselines])) for k in self.baselines[0].test}
            if self.baselines
            else {}
        )


@dataclass(frozen=True)
class Evaluation:
    """The evaluate stage's result: per horizon the metrics, intervals, comparator, tests and verdicts
    (``horizon_results``), the strategy view, the cross-section view and the covariate-shift summary."""

    horizon_results: tuple[Mapping[str, Any], ...]
    strategy: Mapping[str, Any] | None
    covariate_shift: Mapping[str, Any]
    cross_section: tuple[Mapping[str, Any], ...] | None
    seconds: float = 0.0

    def skill(self) -> dict[int, bool]:
        """horizon -> whether the model beat its comparator (the skill gate of the explain stage)."""
        return {int(e["horizon"]): bool(e["skill"]) for e in self.horizon_results}

    def to_dict(self) -> dict:
        """The ``metrics.json`` view (plain dicts and lists)."""
        return {
            "horizon_results": [dict(e) for e in self.horizon_results],
            "strategy": None if self.strategy is None else dict(self.strategy),
            "covariate_shift": dict(self.covariate_shift),
            "cross_section": None if self.cross_section is None else [dict(x) for x in self.cross_section],
        }


@dataclass(frozen=True)
class Explanation:
    """The explain stage's result: every importance judged over test days (groups, lag blocks, clusters),
    the clusters and lag blocks themselves, the gradient attributions and their sanity checks, LightGBM's
    shadow-augmented fits, the seconds per method, and the conclusions in words."""

    items: tuple[Importance, ...] = ()
    lag_items: tuple[Importance, ...] = ()  # permutation per group x lag block
    cluster_items: tuple[Importance, ...] = ()  # permutation / lstm_shap per cluster
    clusters: clustering.Clusters | None = None
    blocks: tuple[temporal.LagBlock, ...] = ()
    shap_results: tuple[shap_lstm.LstmShapResult, ...] = ()  # expected gradients
    ig_results: tuple[shap_lstm.LstmShapResult, ...] = ()
    sanity: tuple[dict, ...] = ()
    lgbm_results: tuple[lgbm_explain.LgbmFoldResult, ...] = ()
    seconds: Mapping[str, float] = field(default_factory=lambda: frozen_map({}))
    n_repeats: int = 5
    lag_repeats: int = 2
    lgbm_lags: int = 0
    skill: Mapping[int, bool] = field(
        default_factory=lambda: frozen_map({})
    )  # horizon -> the model beat its comparator
    periods: tuple[str, ...] = ()  # test period labels, one per fold

    findings: tuple[str, ...] = ()  # the skill gate and the groups that clear (CLI, metrics.json)
    conclusions: Mapping[str, Any] = field(
        default_factory=lambda: frozen_map({})
    )  # the lead of importance.html, by topic
    total_seconds: float = 0.0

    def table(self) -> pd.DataFrame:
        return agreement.importance_table(list(self.items))

    def summary(self) -> dict:
        """What ``metrics.json`` keeps of the explanation."""
        return {
            "explain_seconds": self.total_seconds,
            "explain_timings": dict(self.seconds),
            "importance_findings": list(self.findings),
            "importance_conclusions": dict(self.conclusions),
        }
