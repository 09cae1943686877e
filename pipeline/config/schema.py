"""The resolved configuration of a run: one flat dataclass, built from CLI flags (and ``--config`` TOML)."""
from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass, field, fields

import pandas as pd

from pipeline.errors import InputError
from pipeline.targets.core import KINDS

MAX_WINDOW = 1000    # days of history per sample
MAX_HORIZON = 250    # trading days ahead


def csv_list(text: str) -> list[str]:
    """Flag type: ``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [p.strip() for p in text.split(",") if p.strip()]


def int_list(text: str) -> list[int]:
    """Flag type: ``"1,5,10"`` -> ``[1, 5, 10]`` (positive integers)."""
    try:
        values = [int(p) for p in csv_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


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
    threads: int = 0             # torch threads: 0 = 1 per training model, every core for inference (pipeline.models.device)
    # evaluation
    lgbm_lags: int = 5
    bootstrap: int = 500
    block: int = 0               # bootstrap block length in test days; 0: automatic (>= 6h, ~1.5 T^(1/3))
    cost_bps: float = 5.0
    quantiles: int = 5           # cross-section: score quantiles per date
    top_k: int = 0               # cross-section: long the top k, short the bottom k (0: one quantile's worth)
    out: str | None = None
    overwrite: bool = False      # replace an existing featureproof folder at --out
    progress: bool = True
    # first sample date; set by compare so that every feature set has the same samples, folds and test days
    sample_start: str | None = None

    def validate(self) -> "RunConfig":
        """Check every setting, alone and in combination, before any work; raise InputError naming the flag."""
        if self.target not in KINDS:
            raise InputError(f"unknown --target {self.target!r}; choose from {', '.join(KINDS)}")
        if not self.horizons or any(not isinstance(h, int) or h < 1 for h in self.horizons):
            raise InputError("--horizons must be positive integers, e.g. 1,5,10")
        repeated = sorted({h for h in self.horizons if self.horizons.count(h) > 1})
        if repeated:
            raise InputError(f"--horizons lists {', '.join(map(str, repeated))} more than once; give each horizon once")
        self.horizons = sorted(self.horizons)
        floats = {"--test-fraction": self.test_fraction, "--val-fraction": self.val_fraction, "--dropout": self.dropout,
                  "--lr": self.lr, "--weight-decay": self.weight_decay, "--warmup-epochs": self.warmup_epochs,
                  "--clip-grad": self.clip_grad, "--clip-quantile": self.clip_quantile, "--cost-bps": self.cost_bps}
        for flag, value in floats.items():
            if not math.isfinite(value):
                raise InputError(f"{flag} must be a finite number, got {value}")
        checks = [
            (2 <= self.window <= MAX_WINDOW, f"--window must be between 2 and {MAX_WINDOW} days"),
            (max(self.horizons) <= MAX_HORIZON, f"--horizons must be at most {MAX_HORIZON} days"),
            (self.folds >= 1, "--folds must be at least 1"),
            (0 < self.test_fraction < 0.9, "--test-fraction must be in (0, 0.9)"),
            (0 < self.val_fraction < 0.5, "--val-fraction must be in (0, 0.5)"),
            (1 <= self.hidden <= 4096, "--hidden must be between 1 and 4096"),
            (1 <= self.layers <= 16, "--layers must be between 1 and 16"),
            (0 <= self.dropout < 1, "--dropout must be in [0, 1)"),
            (self.epochs >= 1, "--epochs must be at least 1"),
            (self.batch_size >= 1, "--batch-size must be at least 1"),
            (self.lr > 0, "--lr must be positive"),
            (self.weight_decay >= 0, "--weight-decay must be 0 or positive"),
            (self.warmup_epochs >= 0, "--warmup-epochs must be 0 or positive"),
            (self.patience >= 1, "--patience must be at least 1"),
            (self.clip_grad >= 0, "--clip-grad must be 0 (off) or positive"),
            (self.seeds >= 1, "--seeds must be at least 1"),
            (0 <= self.threads <= 1024, "--threads must be 0 (automatic) or a positive number of threads"),
            (0 <= self.seed < 2**31 - 1, "--seed must be between 0 and 2147483646"),
            (self.lgbm_lags >= 1, "--lgbm-lags must be at least 1"),
            (self.lgbm_lags <= self.window, "--lgbm-lags must be at most --window"),
            (self.bootstrap == 0 or self.bootstrap >= 100, "--bootstrap must be 0 (no bootstrap intervals) or at least 100"),
            (self.block >= 0, "--block must be 0 (automatic) or a positive number of test days"),
            (0 <= self.clip_quantile < 0.5, "--clip-quantile must be in [0, 0.5)"),
            (self.cost_bps >= 0, "--cost-bps must be 0 or positive"),
            (2 <= self.quantiles <= 100, "--quantiles must be between 2 and 100"),
            (self.top_k >= 0, "--top-k must be 0 (one quantile's worth) or a positive number of symbols"),
            (self.norm in ("none", "layer", "batch"), "--norm must be none, layer or batch"),
            (self.norm != "batch" or self.batch_size >= 2, "--norm batch needs --batch-size of at least 2"),
            (self.pool in ("last", "mean"), "--pool must be last or mean"),
            (self.scaler in ("standard", "robust", "minmax"), "--scaler must be standard, robust or minmax"),
            (self.lr_scaling in ("none", "linear"), "--lr-scaling must be none or linear"),
            (self.device in ("auto", "cpu", "cuda"), "--device must be auto, cpu or cuda"),
            (self.source in ("sample", "csv", "yfinance"), "--source must be sample, csv or yfinance"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)
        dates = {}
        for flag, value in (("--start", self.start), ("--end", self.end), ("sample_start", self.sample_start)):
            if value:
                try:
                    dates[flag] = pd.Timestamp(value)
                except (ValueError, TypeError):
                    raise InputError(f"{flag} {value!r} is not a date; use YYYY-MM-DD") from None
        if "--start" in dates and "--end" in dates and dates["--start"] >= dates["--end"]:
            raise InputError(f"--start {self.start} must be before --end {self.end}")
        if self.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise InputError("--device cuda, but torch sees no CUDA GPU here; use --device auto or cpu")
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
