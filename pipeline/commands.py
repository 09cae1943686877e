"""Sub-commands beyond ``features``: ``run`` (and later stages), registered onto the CLI parser."""
from __future__ import annotations

import argparse
from typing import Callable


def _int_list(text: str) -> list[int]:
    from pipeline.cli import _int_list as parse

    return parse(text)


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Target, split, model, training and evaluation flags shared by run / compare."""
    g = p.add_argument_group("target and splits")
    g.add_argument("--target", default="direction",
                   help="direction (up/down), return (log return), close (price, trained as a return), mean_close, "
                        "drawdown, volatility (default: direction)")
    g.add_argument("--horizons", type=_int_list, default=[1, 5, 10], help="horizons in trading days (default 1,5,10)")
    g.add_argument("--window", type=int, default=60, help="days of history per sample (default 60)")
    g.add_argument("--folds", type=int, default=3, help="walk-forward test folds, expanding window (default 3)")
    g.add_argument("--test-fraction", type=float, default=0.3, help="share of dates in the test folds (default 0.3)")
    g.add_argument("--val-fraction", type=float, default=0.15, help="share of pre-test dates used for validation (default 0.15)")
    g.add_argument("--scaler", default="standard", choices=["standard", "robust", "minmax"],
                   help="feature scaler, fit on each fold's training rows only")
    g.add_argument("--no-log-transform", dest="log_transform", action="store_false",
                   help="do not log-transform price-level features (MA, Bollinger bands)")
    g.add_argument("--clip-quantile", type=float, default=0.0, help="clip features at training quantiles q and 1-q (e.g. 0.01)")
    g = p.add_argument_group("model")
    g.add_argument("--hidden", type=int, default=32, help="LSTM hidden size (default 32)")
    g.add_argument("--layers", type=int, default=1, help="LSTM layers (default 1)")
    g.add_argument("--dropout", type=float, default=0.1, help="dropout between layers and before the heads (default 0.1)")
    g.add_argument("--norm", default="none", choices=["none", "layer", "batch"], help="normalisation of the pooled state")
    g.add_argument("--bidirectional", action="store_true", help="bidirectional LSTM")
    g.add_argument("--pool", default="last", choices=["last", "mean"], help="last hidden state or mean over time")
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=30, help="maximum epochs (early stopping usually ends sooner)")
    g.add_argument("--batch-size", type=int, default=128)
    g.add_argument("--lr", type=float, default=2e-3, help="AdamW learning rate (default 2e-3)")
    g.add_argument("--lr-scaling", default="none", choices=["none", "linear"],
                   help="linear: --lr is stated for batch 256 and scaled by batch-size/256")
    g.add_argument("--weight-decay", type=float, default=1e-4)
    g.add_argument("--warmup-epochs", type=float, default=1.0, help="linear LR warm-up length in epochs")
    g.add_argument("--patience", type=int, default=5, help="early-stopping patience in epochs (best weights restored)")
    g.add_argument("--clip-grad", type=float, default=1.0, help="gradient-norm clipping (0: off)")
    g.add_argument("--seeds", type=int, default=1, help="train this many seeds; metrics are mean ± spread")
    g.add_argument("--seed", type=int, default=0, help="first seed")
    g.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    g = p.add_argument_group("evaluation")
    g.add_argument("--lgbm-lags", type=int, default=5, help="lags flattened for the LightGBM baseline")
    g.add_argument("--bootstrap", type=int, default=500, help="block-bootstrap resamples for intervals")
    g.add_argument("--block", type=int, default=20, help="bootstrap block length in test days")
    g.add_argument("--cost-bps", type=float, default=5.0, help="strategy view: cost per unit of turnover, in bps")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")
    p.add_argument("--config", metavar="TOML", help="read any of these flags from a TOML file; flags override it")


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.config import RunConfig
    from pipeline.run import run

    cfg = RunConfig.from_args(args)
    out_dir, exp, metrics = run(cfg)
    print(f"\nreport: {out_dir / 'index.html'}")
    for entry in metrics["horizon_results"]:
        print("  " + entry["verdict"])
    s = metrics.get("strategy")
    if s:
        print(f"  strategy (h={s['horizon']}, long/flat): Sharpe {s['strategy']['sharpe']:.2f} vs buy-and-hold "
              f"{s['buy_and_hold']['sharpe']:.2f}")
    print(f"  wall time {metrics['wall_seconds']:.0f} s (training {exp.train_seconds:.0f} s)")
    return 0


def register(sub: argparse._SubParsersAction, add_data_options: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("run", help="train the LSTM and baselines on walk-forward folds and write a report",
                       description="Train the LSTM and simple baselines on purged walk-forward folds, test them "
                                   "on the same days, and write reports/<run>/index.html with metrics, intervals and tests.")
    add_data_options(p)
    add_run_options(p)
    p.add_argument("--out", metavar="DIR", help="run folder (default reports/<YYYYmmdd-HHMMSS>-<symbol>-<target>/)")
    p.set_defaults(func=cmd_run)
