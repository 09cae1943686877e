"""The resolved configuration of a run: one flat dataclass, built from CLI flags (and ``--config`` TOML)."""

from __future__ import annotations

import argparse
import math
from dataclasses import MISSING, asdict, dataclass, field, fields

import pandas as pd

from pipeline.errors import InputError
from pipeline.targets.core import KINDS

MAX_WINDOW = 1000  # days of history per sample
MAX_HORIZON = 250  # trading days ahead


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


def opt(
    default,
    help: str = "",
    group: str | None = None,
    flag: str | None = None,
    choices=None,
    type=None,
    metavar: str | None = None,
    const: str | None = None,
):
    """A setting of the schema: its one default, and (when ``group`` is set) the flag argparse, ``--help``
    and TOML keys are made from. ``flag``: the spelling when it is not ``--field-name`` (``--no-explain``);
    ``const``: the value of the flag given without one (``--track`` alone)."""
    meta = {
        "help": help,
        "group": group,
        "flag": flag,
        "choices": choices,
        "type": type,
        "metavar": metavar,
        "const": const,
    }
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


DATA, SPLITS, MODEL, TRAINING, EVALUATION = "data", "target and splits", "model", "training", "evaluation"
TRACKING = "tracking"

# The network families (pipeline.models.families builds them) and the model settings each one uses; a setting
# a family does not use is refused when it is changed. "window_linear" is the calibration study's cheap model
# (a linear map of the whole flattened window), not a user choice.
MODEL_SETTINGS = (
    "hidden",
    "layers",
    "dropout",
    "norm",
    "bidirectional",
    "pool",
    "heads",
    "attention",
    "kernel_size",
    "trend_kernel",
    "partial_receptive_field",
    "skip",
    "skip_fit",
)
MODEL_FAMILIES = {
    "lstm": {"hidden", "layers", "dropout", "norm", "bidirectional", "pool", "skip", "skip_fit", "trend_kernel"},
    "gru": {"hidden", "layers", "dropout", "norm", "bidirectional", "pool", "skip", "skip_fit", "trend_kernel"},
    "alstm": {"hidden", "layers", "dropout", "norm", "skip", "skip_fit", "trend_kernel"},
    "transformer": {
        "hidden",
        "layers",
        "dropout",
        "norm",
        "pool",
        "heads",
        "attention",
        "skip",
        "skip_fit",
        "trend_kernel",
    },
    "tcn": {
        "hidden",
        "layers",
        "dropout",
        "norm",
        "pool",
        "kernel_size",
        "partial_receptive_field",
        "skip",
        "skip_fit",
        "trend_kernel",
    },
    "mlp": {"hidden", "layers", "dropout", "norm", "skip", "skip_fit", "trend_kernel"},
    "linear": {"dropout", "trend_kernel"},
    "window_linear": {"dropout"},
}
FAMILY_NAMES = tuple(f for f in MODEL_FAMILIES if f != "window_linear")  # what --model offers
EXPLAIN, EXECUTION = "explain", "execution"


@dataclass
class RunConfig:
    """Every setting of a run, resolved once (flags over TOML over these defaults) and written to
    ``config.json``. The only place a default is written: argparse flags, ``--help``, TOML keys and the
    trainer's and model's configurations all read it from here."""

    # data (the flags of the data group are shared by every command that reads data)
    source: str = opt(
        "sample",
        "where prices come from: the embedded S&P 500/NASDAQ sample (offline), a CSV file "
        "(--data), or yfinance (--symbols, cached on disk)",
        DATA,
        choices=["sample", "csv", "yfinance"],
    )
    data: str | None = opt(
        None, "CSV file: NYSE long layout with a symbol column, or a Yahoo export", DATA, metavar="PATH"
    )
    symbols: list[str] | None = opt(
        None, "several symbols, comma-separated; they pool into one training set", DATA, type="csv"
    )
    features: str = opt("all", "feature sets: ohlcv, technical, macro, extra, all; combine with +", DATA)
    exclude_groups: list[str] | None = opt(
        None,
        "feature groups left out, comma-separated (e.g. rsi,macro:wti; 'python -m pipeline features' lists them)",
        DATA,
        type="csv",
    )
    macro: list[str] | None = opt(
        None,
        "macro series: sample names (wti,aaa,baa,core_cpi,vix) or yfinance tickers "
        "(^VIX,^TNX,DX-Y.NYB,GC=F,CL=F); empty string for none",
        DATA,
        type="csv",
    )
    start: str | None = opt(None, "first date (YYYY-MM-DD)", DATA)
    end: str | None = opt(None, "last date, exclusive for yfinance (YYYY-MM-DD)", DATA)
    cache_dir: str | None = opt(None, "yfinance cache folder (default ~/.cache/featureproof/yfinance)", DATA)
    offline: bool = opt(False, "yfinance: use the cache only, never the network", DATA)
    # target and splits
    target: str = opt(
        "direction",
        "direction (up/down), return (log return), close (price, trained as a return), "
        "mean_close, drawdown, volatility; with several symbols: xs_direction (beat the cross-sectional "
        "median return), xs_rank (cross-sectional percentile rank of the return)",
        SPLITS,
    )
    horizons: list[int] = opt([1, 5, 10], "horizons in trading days", SPLITS, type="ints")
    window: int = opt(60, "days of history per sample", SPLITS)
    folds: int = opt(3, "walk-forward test folds, expanding window", SPLITS)
    test_fraction: float = opt(0.3, "share of dates in the test folds", SPLITS)
    test_start: str | None = opt(
        None,
        "first test date (YYYY-MM-DD): the test folds cover the sample dates from it "
        "on (instead of --test-fraction); search sets it to its held-back days",
        SPLITS,
    )
    val_fraction: float = opt(0.15, "share of pre-test dates used for validation", SPLITS)
    scaler: str = opt(
        "standard",
        "feature scaler, fit on each fold's training rows only",
        SPLITS,
        choices=["standard", "robust", "minmax"],
    )
    log_transform: bool = opt(
        True, "do not log-transform price-level features (MA, Bollinger bands)", SPLITS, flag="--no-log-transform"
    )
    clip_quantile: float = opt(0.0, "clip features at training quantiles q and 1-q (e.g. 0.01; 0: off)", SPLITS)
    # model
    model: str = opt(
        "lstm",
        "network family (see docs/models.md for the model table); every stage works for each",
        MODEL,
        choices=list(FAMILY_NAMES),
    )
    hidden: int = opt(32, "hidden size (recurrent state, attention width, TCN channels, MLP width)", MODEL)
    layers: int = opt(
        0,
        "recurrent, encoder, TCN or MLP layers (0: automatic, 1 layer, or for the TCN the dilation "
        "levels whose receptive field covers --window, as in Bai et al. 2018)",
        MODEL,
    )
    dropout: float = opt(0.1, "dropout between layers and before the heads", MODEL)
    norm: str = opt("none", "normalisation of the pooled state", MODEL, choices=["none", "layer", "batch"])
    bidirectional: bool = opt(False, "bidirectional recurrent layers (lstm, gru)", MODEL)
    pool: str = opt(
        "last", "last step or mean over time (lstm, gru, transformer, tcn)", MODEL, choices=["last", "mean"]
    )
    heads: int = opt(4, "attention heads (transformer; --hidden must be a multiple)", MODEL)
    attention: str = opt(
        "causal", "transformer mask: causal (no step sees a later one) or full", MODEL, choices=["causal", "full"]
    )
    skip: str = opt(
        "linear",
        "linear (default): a DLinear path over the whole window beside the network, summed into "
        "its output (LSTNet's linear 'highway', Lai et al. 2018), so a lagged linear signal is learnt from as "
        "few days as a linear model needs (docs/learnability.md); none: the network alone (every family but "
        "linear)",
        MODEL,
        choices=["none", "linear"],
    )
    skip_fit: str = opt(
        "staged",
        "how a network with the linear skip path is trained: staged (default): the linear path alone first, from "
        "equal weights over the window, then the network joins, and the weights kept are the best validation "
        "epoch of either stage (docs/learnability.md); joint: both from the start (before 2026-12-03)",
        TRAINING,
        choices=["joint", "staged"],
    )
    kernel_size: int = opt(3, "TCN convolution kernel (dilations 1, 2, 4, ... per layer)", MODEL)
    partial_receptive_field: bool = opt(
        False,
        "let the TCN's --layers and --kernel-size see fewer steps than --window "
        "(refused otherwise: the steps it cannot see would never matter)",
        MODEL,
    )
    trend_kernel: int = opt(25, "linear (DLinear): moving-average kernel of the trend part (capped at --window)", MODEL)
    # training
    epochs: int = opt(30, "maximum epochs (early stopping usually ends sooner)", TRAINING)
    batch_size: int = opt(128, "training batch size; the last partial batch is kept", TRAINING)
    lr: float = opt(2e-3, "AdamW learning rate", TRAINING)
    lr_scaling: str = opt(
        "none",
        "linear: --lr is stated for batch 256 and scaled by batch-size/256",
        TRAINING,
        choices=["none", "linear"],
    )
    weight_decay: float = opt(1e-4, "AdamW weight decay", TRAINING)
    warmup_epochs: float = opt(1.0, "linear LR warm-up length in epochs", TRAINING)
    patience: int = opt(5, "early-stopping patience in epochs (best weights restored)", TRAINING)
    clip_grad: float = opt(1.0, "gradient-norm clipping (0: off)", TRAINING)
    seeds: int = opt(1, "train this many seeds; their predictions are averaged into one ensemble", TRAINING)
    seed: int = opt(0, "first seed", TRAINING)
    device: str = opt(
        "auto", "auto: CUDA when torch sees a GPU, else the CPU", TRAINING, choices=["auto", "cpu", "cuda"]
    )
    threads: int = opt(
        0,
        "torch threads (0: one per training model, every available core for evaluation and the explain "
        "stage; idle threads sleep, so a busy machine does not slow the run down many times)",
        TRAINING,
        metavar="N",
    )
    # evaluation
    lgbm_lags: int = opt(5, "lags flattened for the LightGBM baseline", EVALUATION)
    bootstrap: int = opt(
        500,
        "block-bootstrap resamples for the intervals of AUC, MCC, balanced accuracy, R², IC (0: none). "
        "Means over days (accuracy, Brier, log loss, RMSE, ...) and every test use the HAR interval "
        "instead",
        EVALUATION,
    )
    block: int = opt(
        0, "bootstrap block length in test days (0: automatic, at least 6h and about 1.5 T^(1/3))", EVALUATION
    )
    cost_bps: float = opt(5.0, "strategy view and long-short book: cost per unit of turnover, in bps", EVALUATION)
    quantiles: int = opt(5, "cross-section (several symbols): score quantiles per date", EVALUATION)
    top_k: int = opt(
        0, "cross-section: the long-short book holds the top and bottom k symbols (0: one quantile's worth)", EVALUATION
    )
    fresh_ledger: bool = opt(
        False,
        "do not count the configurations judged earlier on the same test days (the reports "
        "folder's ledger); the report says so",
        EVALUATION,
    )
    # tracking
    track: str | None = opt(
        None,
        "log to MLflow (needs the [tracking] extra): --track alone logs to "
        "sqlite:///<reports folder>/mlflow.db with artifacts in <reports folder>/mlartifacts; or give "
        "a URI (sqlite:///PATH/mlflow.db, http://HOST:5000)",
        TRACKING,
        metavar="URI",
        const="default",
    )
    experiment: str = opt(
        "featureproof", "MLflow experiment the runs are logged to (with --track)", TRACKING, metavar="NAME"
    )
    out: str | None = opt(None)
    overwrite: bool = opt(False)  # replace an existing featureproof folder at --out
    progress: bool = opt(True)
    # first sample date; set by compare so that every feature set has the same samples, folds and test days
    sample_start: str | None = opt(None)

    def validate(self) -> "RunConfig":
        """Check every setting, alone and in combination, before any work; raise InputError naming the flag."""
        if not str(self.experiment).strip():
            raise InputError("--experiment must name an MLflow experiment (default featureproof)")
        if self.target not in KINDS:
            raise InputError(f"unknown --target {self.target!r}; choose from {', '.join(KINDS)}")
        if not self.horizons or any(not isinstance(h, int) or h < 1 for h in self.horizons):
            raise InputError("--horizons must be positive integers, e.g. 1,5,10")
        repeated = sorted({h for h in self.horizons if self.horizons.count(h) > 1})
        if repeated:
            raise InputError(f"--horizons lists {', '.join(map(str, repeated))} more than once; give each horizon once")
        self.horizons = sorted(self.horizons)
        floats = {
            "--test-fraction": self.test_fraction,
            "--val-fraction": self.val_fraction,
            "--dropout": self.dropout,
            "--lr": self.lr,
            "--weight-decay": self.weight_decay,
            "--warmup-epochs": self.warmup_epochs,
            "--clip-grad": self.clip_grad,
            "--clip-quantile": self.clip_quantile,
            "--cost-bps": self.cost_bps,
        }
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
            (0 <= self.layers <= 16, "--layers must be between 1 and 16 (or 0: automatic)"),
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
            (
                self.bootstrap == 0 or self.bootstrap >= 100,
                "--bootstrap must be 0 (no bootstrap intervals) or at least 100",
            ),
            (self.block >= 0, "--block must be 0 (automatic) or a positive number of test days"),
            (0 <= self.clip_quantile < 0.5, "--clip-quantile must be in [0, 0.5)"),
            (self.cost_bps >= 0, "--cost-bps must be 0 or positive"),
            (2 <= self.quantiles <= 100, "--quantiles must be between 2 and 100"),
            (self.top_k >= 0, "--top-k must be 0 (one quantile's worth) or a positive number of symbols"),
            (self.norm in ("none", "layer", "batch"), "--norm must be none, layer or batch"),
            (self.norm != "batch" or self.batch_size >= 2, "--norm batch needs --batch-size of at least 2"),
            (self.pool in ("last", "mean"), "--pool must be last or mean"),
            (self.model in MODEL_FAMILIES, f"--model must be one of {', '.join(FAMILY_NAMES)}"),
            (1 <= self.heads <= 64, "--heads must be between 1 and 64"),
            (self.attention in ("causal", "full"), "--attention must be causal or full"),
            (2 <= self.kernel_size <= 16, "--kernel-size must be between 2 and 16"),
            (1 <= self.trend_kernel <= MAX_WINDOW, "--trend-kernel must be at least 1"),
            (self.scaler in ("standard", "robust", "minmax"), "--scaler must be standard, robust or minmax"),
            (self.lr_scaling in ("none", "linear"), "--lr-scaling must be none or linear"),
            (self.device in ("auto", "cpu", "cuda"), "--device must be auto, cpu or cuda"),
            (self.source in ("sample", "csv", "yfinance"), "--source must be sample, csv or yfinance"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)
        self._check_model_flags()
        dates = {}
        for flag, value in (
            ("--start", self.start),
            ("--end", self.end),
            ("sample_start", self.sample_start),
            ("--test-start", self.test_start),
        ):
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

    def _check_model_flags(self) -> None:
        check_model_flags(self, list(getattr(self, "_families", None) or [self.model]))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_args(cls, args: argparse.Namespace, families: list[str] | None = None) -> "RunConfig":
        """The configuration of ``args``, validated; ``families``: the model families it will train (compare
        ``--models``), whose settings are checked together (a flag must apply to at least one)."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in vars(args).items() if k in names}
        values["symbols"] = resolve_symbols(args)
        cfg = cls(**values)
        if families:
            object.__setattr__(cfg, "_families", tuple(families))
        return cfg.validate()

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        """A saved configuration (``config.json``); one saved before a setting existed gets the value that setting's
        behaviour had then (``skip``: none; ``skip_fit``: joint), so its saved model loads and reproduces."""
        names = {f.name for f in fields(cls)}
        values = {"skip": "none", "skip_fit": "joint", **values} if "model" in values else values
        return cls(**{k: v for k, v in values.items() if k in names})


@dataclass
class ExplainConfig:
    """The explain stage's settings (and the executor of its retrain jobs); the fields without a group are
    internal constants of the methods, not flags."""

    ablation: str = opt(
        "permute",
        "group ablation: permute shuffles a group's windows on the test set; retrain retrains "
        "without each group (a training run per group, in parallel); both; none",
        EXPLAIN,
        choices=["retrain", "permute", "both", "none"],
    )
    explain: bool = opt(
        True,
        "skip LightGBM importance/TreeSHAP and the gradient attributions on the LSTM",
        EXPLAIN,
        flag="--no-explain",
    )
    n_repeats: int = opt(
        5,
        "repeats per group for permutation (5 is the calibration study's setting; fewer is noisier, never biased)",
        EXPLAIN,
        flag="--permutation-repeats",
        metavar="N",
    )
    lag_repeats: int = opt(2, "repeats per group x lag block and per correlation cluster for permutation", EXPLAIN)
    perm_windows: int = opt(
        20000,
        "a fold with more test windows (a panel) runs each permutation with proportionally fewer repeats (at "
        "least 1; every window kept), and TreeSHAP explains this many of its windows (every test day, a seeded "
        "share of its symbols); 0: no limit",
        EXPLAIN,
        metavar="N",
    )
    lgbm_lags: int = opt(0)  # LightGBM's lags in the explain stage (0: the run's --lgbm-lags)
    shap_windows: int = opt(500, "test windows explained by expected gradients", EXPLAIN)
    shap_background: int = opt(100)  # training windows in the background
    shap_nsamples: int = opt(8)  # interpolation points per explained window
    ig_windows: int = opt(100, "test windows explained by integrated gradients", EXPLAIN)
    ig_steps: int = opt(16)  # Gauss-Legendre steps of integrated gradients
    sanity_windows: int = opt(32)  # windows of the randomisation and infidelity checks
    shap_floor: bool = opt(
        False,
        "also train a twin LSTM per fold beside shadow features for an expected-gradients noise floor (slow)",
        EXPLAIN,
    )
    clusters: bool = opt(True, "skip the correlation clusters and their importance", EXPLAIN, flag="--no-clusters")
    jobs: int = opt(2, "local worker processes for independent jobs", EXECUTION)
    executor: str = opt(
        "local", "run independent jobs in a local process pool or as Ray tasks", EXECUTION, choices=["local", "ray"]
    )
    ray_address: str | None = opt(
        None,
        "Ray cluster to join (e.g. 10.0.0.5:6379, from 'ray start --head'); default: a local Ray instance",
        EXECUTION,
        metavar="ADDR",
    )
    gpus_per_job: float = opt(
        0.0, "with --executor ray: GPUs each job requests (e.g. 0.25); jobs then train on CUDA", EXECUTION, metavar="G"
    )

    def validate(self) -> "ExplainConfig":
        checks = [
            (self.n_repeats >= 1, "--permutation-repeats must be at least 1 (5 or more recommended)"),
            (self.shap_windows >= 1, "--shap-windows must be at least 1"),
            (self.ig_windows >= 1, "--ig-windows must be at least 1"),
            (self.lag_repeats >= 1, "--lag-repeats must be at least 1"),
            (self.perm_windows >= 0, "--perm-windows must be 0 (every test window) or more"),
            (self.lgbm_lags >= 0, "--lgbm-lags must be at least 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)
        return self

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "ExplainConfig":
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in vars(args).items() if k in names and k != "lgbm_lags"}
        lags = getattr(args, "lgbm_lags", None)
        if lags is not None and lags < 1:
            raise InputError("--lgbm-lags must be at least 1")
        return cls(**values, lgbm_lags=lags or 0).validate()


def check_model_flags(cfg: "RunConfig", families: list[str]) -> None:
    """Refuse, in one line, a model setting (changed from its default) that none of ``families`` uses."""
    used = set().union(*(MODEL_FAMILIES[f] for f in families))
    names = " and ".join(families)
    for name in MODEL_SETTINGS:
        if name not in used and getattr(cfg, name) != getattr(_MODEL_DEFAULTS, name):
            flag = "--" + name.replace("_", "-")
            raise InputError(
                f"{flag} does not apply to --model {names} (it uses "
                f"{', '.join('--' + u.replace('_', '-') for u in sorted(used)) or 'none of the model flags'}); "
                f"drop {flag} or choose a family that uses it"
            )
    if "tcn" in families and cfg.layers and not cfg.partial_receptive_field:
        seen = tcn_receptive_field(cfg.layers, cfg.kernel_size)
        if seen < cfg.window:
            raise InputError(
                f"--layers {cfg.layers} --kernel-size {cfg.kernel_size}: the TCN sees {seen} of the {cfg.window} "
                f"window days; use --layers {tcn_levels(cfg.window, cfg.kernel_size)} or leave --layers unset "
                "(automatic), or pass --partial-receptive-field to accept it"
            )
    if "transformer" in families and cfg.hidden % cfg.heads:
        raise InputError(f"--hidden {cfg.hidden} must be a multiple of --heads {cfg.heads} for the transformer")


def tcn_receptive_field(layers: int, kernel_size: int) -> int:
    """Steps a TCN's last output sees: two dilated convolutions per level, dilations 1, 2, 4, ...:
    ``1 + 2 (k - 1)(2^L - 1)``."""
    return 1 + 2 * (kernel_size - 1) * (2**layers - 1)


def tcn_levels(window: int, kernel_size: int) -> int:
    """The fewest TCN levels whose receptive field covers ``window`` steps (Bai, Kolter & Koltun 2018)."""
    levels = 1
    while tcn_receptive_field(levels, kernel_size) < window:
        levels += 1
    return levels


def model_layers(cfg: "RunConfig") -> int:
    """The layers the network is built with: ``--layers`` when given; automatic (0): 1, or for the TCN the levels
    that cover the window."""
    if cfg.layers:
        return cfg.layers
    return tcn_levels(cfg.window, cfg.kernel_size) if cfg.model == "tcn" else 1


# compare's own defaults where they differ from run's: three feature sets and three seeds per set
COMPARE_DEFAULTS = {"features": "ohlcv,ohlcv+technical,all", "seeds": 3}

DEFAULTS = RunConfig()  # the schema's defaults as values (the trainer's and model's configurations read them)
_MODEL_DEFAULTS = DEFAULTS


def field_default(cls, f):
    return f.default_factory() if f.default is MISSING else f.default


def add_options(parser: argparse.ArgumentParser, groups: list[str], cls=None) -> None:
    """Add the flags of the schema's ``groups`` (of ``cls``, default :class:`RunConfig`) to ``parser``, in
    argparse groups of those names; defaults, choices and help come from the schema."""
    cls = cls or RunConfig
    made = {}
    for f in fields(cls):
        meta = f.metadata
        if meta.get("group") not in groups:
            continue
        g = made.get(meta["group"]) or made.setdefault(meta["group"], parser.add_argument_group(meta["group"]))
        default = field_default(cls, f)
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        kwargs = {"dest": f.name, "help": meta.get("help") or None}
        if isinstance(default, bool):
            kwargs["action"] = "store_false" if default else "store_true"
        else:
            kwargs["default"] = default
            kind = meta.get("type")
            if kind == "ints":
                kwargs["type"] = int_list
            elif kind == "csv":
                kwargs["type"] = csv_list
            elif isinstance(default, bool):
                pass
            elif isinstance(default, int):
                kwargs["type"] = int
            elif isinstance(default, float):
                kwargs["type"] = float
            if meta.get("choices"):
                kwargs["choices"] = meta["choices"]
            if meta.get("metavar"):
                kwargs["metavar"] = meta["metavar"]
            if meta.get("const") is not None:
                kwargs.update(nargs="?", const=meta["const"])
        g.add_argument(flag, **kwargs)
