"""The resolved configuration of a run: one flat dataclass, built from CLI flags (and ``--config`` TOML)."""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field, fields

from pipeline.errors import InputError
from pipeline.targets import KINDS


def resolve_symbols(args: argparse.Namespace) -> list[str] | None:
    """``--symbol S`` or ``--symbols A,B`` (not both) -> a list, or None for the source's default."""
    if args.symbol and args.symbols:
        raise InputError("give either --symbol or --symbols, not both")
    if args.symbol:
        return [args.symbol]
    return args.symbols


@dataclass
class RunConfig:
    # data
    source: str = "sample"
    data: str | None = None
    symbols: list[str] | None = None
    features: str = "all"
    macro: list[str] | None = None
    start: str | None = None
    end: str | None = None
    cache_dir: str | None = None
    offline: bool = False
    # target and splits
    target: str = "direction"
    horizons: list[int] = field(default_factory=lambda: [1, 5, 10])
    window: int = 60
    folds: int = 3
    test_fraction: float = 0.3
    val_fraction: float = 0.15
    scaler: str = "standard"
    log_transform: bool = True
    clip_quantile: float = 0.0
    # model
    hidden: int = 32
    layers: int = 1
    dropout: float = 0.1
    norm: str = "none"
    bidirectional: bool = False
    pool: str = "last"
    # training
    epochs: int = 30
    batch_size: int = 128
    lr: float = 2e-3
    lr_scaling: str = "none"
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    patience: int = 5
    clip_grad: float = 1.0
    seeds: int = 1
    seed: int = 0
    device: str = "auto"
    # evaluation
    lgbm_lags: int = 5
    bootstrap: int = 500
    block: int = 0               # bootstrap block length in test days; 0: automatic (>= 6h, ~1.5 T^(1/3))
    cost_bps: float = 5.0
    out: str | None = None
    progress: bool = True
    # first sample date; set by compare so that every feature set has the same samples, folds and test days
    sample_start: str | None = None

    def validate(self) -> "RunConfig":
        if self.target not in KINDS:
            raise InputError(f"unknown --target {self.target!r}; choose from {', '.join(KINDS)}")
        if not self.horizons or any(h < 1 for h in self.horizons):
            raise InputError("--horizons must be positive integers, e.g. 1,5,10")
        self.horizons = sorted(set(self.horizons))
        checks = [
            (self.window >= 2, "--window must be at least 2"),
            (self.folds >= 1, "--folds must be at least 1"),
            (0 < self.test_fraction < 0.9, "--test-fraction must be in (0, 0.9)"),
            (0 < self.val_fraction < 0.5, "--val-fraction must be in (0, 0.5)"),
            (self.hidden >= 1 and self.layers >= 1, "--hidden and --layers must be at least 1"),
            (0 <= self.dropout < 1, "--dropout must be in [0, 1)"),
            (self.epochs >= 1 and self.batch_size >= 1, "--epochs and --batch-size must be at least 1"),
            (self.lr > 0, "--lr must be positive"),
            (self.seeds >= 1, "--seeds must be at least 1"),
            (self.bootstrap == 0 or self.bootstrap >= 100, "--bootstrap must be 0 (no bootstrap intervals) or at least 100"),
            (self.block >= 0, "--block must be 0 (automatic) or a positive number of test days"),
            (0 <= self.clip_quantile < 0.5, "--clip-quantile must be in [0, 0.5)"),
            (self.norm in ("none", "layer", "batch"), "--norm must be none, layer or batch"),
            (self.pool in ("last", "mean"), "--pool must be last or mean"),
            (self.scaler in ("standard", "robust", "minmax"), "--scaler must be standard, robust or minmax"),
            (self.device in ("auto", "cpu", "cuda"), "--device must be auto, cpu or cuda"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "RunConfig":
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in vars(args).items() if k in names}
        values["symbols"] = resolve_symbols(args)
        return cls(**values).validate()

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})
