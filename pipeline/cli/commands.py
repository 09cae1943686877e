"""Sub-commands beyond ``features``: ``run`` (and later stages), registered onto the CLI parser."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from pipeline.config.schema import int_list
from pipeline.progress import result, say


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Target, split, model, training and evaluation flags shared by run / compare."""
    g = p.add_argument_group("target and splits")
    g.add_argument("--target", default="direction",
                   help="direction (up/down), return (log return), close (price, trained as a return), mean_close, "
                        "drawdown, volatility; with several symbols: xs_direction (beat the cross-sectional median "
                        "return), xs_rank (cross-sectional percentile rank of the return) (default: direction)")
    g.add_argument("--horizons", type=int_list, default=[1, 5, 10], help="horizons in trading days (default 1,5,10)")
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
    g.add_argument("--batch-size", type=int, default=128, help="training batch size; the last partial batch is kept (default 128)")
    g.add_argument("--lr", type=float, default=2e-3, help="AdamW learning rate (default 2e-3)")
    g.add_argument("--lr-scaling", default="none", choices=["none", "linear"],
                   help="linear: --lr is stated for batch 256 and scaled by batch-size/256")
    g.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay (default 1e-4)")
    g.add_argument("--warmup-epochs", type=float, default=1.0, help="linear LR warm-up length in epochs")
    g.add_argument("--patience", type=int, default=5, help="early-stopping patience in epochs (best weights restored)")
    g.add_argument("--clip-grad", type=float, default=1.0, help="gradient-norm clipping (0: off)")
    g.add_argument("--seeds", type=int, default=1, help="train this many seeds; metrics are mean ± spread")
    g.add_argument("--seed", type=int, default=0, help="first seed")
    g.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    g.add_argument("--threads", type=int, default=0, metavar="N",
                   help="torch threads (default 0: one per training model, every available core for evaluation and "
                        "the explain stage; idle threads sleep, so a busy machine does not slow the run down many times)")
    g = p.add_argument_group("evaluation")
    g.add_argument("--lgbm-lags", type=int, default=5, help="lags flattened for the LightGBM baseline")
    g.add_argument("--bootstrap", type=int, default=500,
                   help="block-bootstrap resamples for the intervals of AUC, MCC, balanced accuracy, R², IC (default 500; "
                        "0: none). Means over days (accuracy, Brier, log loss, RMSE, ...) and every test use the HAR "
                        "interval instead")
    g.add_argument("--block", type=int, default=0,
                   help="bootstrap block length in test days (default 0: automatic, at least 6h and about 1.5 T^(1/3))")
    g.add_argument("--cost-bps", type=float, default=5.0, help="strategy view and long-short book: cost per unit of turnover, in bps")
    g.add_argument("--quantiles", type=int, default=5, help="cross-section (several symbols): score quantiles per date (default 5)")
    g.add_argument("--top-k", type=int, default=0,
                   help="cross-section: the long-short book holds the top and bottom k symbols (default 0: one quantile's worth)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")
    p.add_argument("--config", metavar="TOML", help="read any of these flags from a TOML file; flags override it")


def add_executor_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("execution")
    g.add_argument("--jobs", type=int, default=2, help="local worker processes for independent jobs (default 2)")
    g.add_argument("--executor", default="local", choices=["local", "ray"],
                   help="run independent jobs in a local process pool (default) or as Ray tasks")
    g.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="Ray cluster to join (e.g. 10.0.0.5:6379, from 'ray start --head'); default: a local Ray instance")
    g.add_argument("--gpus-per-job", type=float, default=0.0, metavar="G",
                   help="with --executor ray: GPUs each job requests (e.g. 0.25); jobs then train on CUDA")


def add_explain_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("explain")
    g.add_argument("--ablation", default="permute", choices=["retrain", "permute", "both", "none"],
                   help="group ablation: permute (default) shuffles a group's windows on the test set; retrain "
                        "retrains without each group (a training run per group, in parallel)")
    g.add_argument("--no-explain", dest="explain", action="store_false",
                   help="skip LightGBM importance/TreeSHAP and the gradient attributions on the LSTM")
    g.add_argument("--permutation-repeats", type=int, default=5,
                   help="repeats per group for permutation (default 5, as in the calibration study; fewer is noisier, never biased)")
    g.add_argument("--lag-repeats", type=int, default=2,
                   help="repeats per group x lag block and per correlation cluster for permutation (default 2)")
    g.add_argument("--shap-windows", type=int, default=500, help="test windows explained by expected gradients (default 500)")
    g.add_argument("--ig-windows", type=int, default=100, help="test windows explained by integrated gradients (default 100)")
    g.add_argument("--shap-floor", action="store_true",
                   help="also train a twin LSTM per fold beside shadow features for an expected-gradients noise floor (slow)")
    g.add_argument("--no-clusters", dest="clusters", action="store_false",
                   help="skip the correlation clusters and their importance")
    add_executor_options(p)


def explain_config(args: argparse.Namespace):
    """The explain stage's settings from the flags, checked before any work."""
    from pipeline.errors import InputError
    from pipeline.stages.explain import ExplainConfig

    check_executor_options(args)
    if args.permutation_repeats < 1:
        raise InputError("--permutation-repeats must be at least 1 (5 or more recommended)")
    if args.shap_windows < 1:
        raise InputError("--shap-windows must be at least 1")
    if args.ig_windows < 1:
        raise InputError("--ig-windows must be at least 1")
    if args.lag_repeats < 1:
        raise InputError("--lag-repeats must be at least 1")
    if args.lgbm_lags is not None and args.lgbm_lags < 1:
        raise InputError("--lgbm-lags must be at least 1")
    return ExplainConfig(ablation=args.ablation, explain=args.explain, n_repeats=args.permutation_repeats,
                         lag_repeats=args.lag_repeats, shap_windows=args.shap_windows, ig_windows=args.ig_windows,
                         shap_floor=args.shap_floor, clusters=args.clusters, jobs=args.jobs,
                         lgbm_lags=args.lgbm_lags if args.lgbm_lags is not None else 0,
                         executor=args.executor, ray_address=args.ray_address, gpus_per_job=args.gpus_per_job)


def check_executor_options(args: argparse.Namespace) -> None:
    from pipeline.errors import InputError

    if args.jobs < 1:
        raise InputError("--jobs must be at least 1")
    if not (0 <= args.gpus_per_job <= 64):  # also rejects nan
        raise InputError("--gpus-per-job must be between 0 and 64")
    if args.gpus_per_job and args.executor != "ray":
        raise InputError("--gpus-per-job needs --executor ray (local workers are forked and train on CPU)")


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.config.schema import RunConfig
    from pipeline.stages.explain import explain_writer
    from pipeline.reporting.run_folder import run

    cfg = RunConfig.from_args(args)
    out_dir, exp, metrics = run(cfg, extra_stages=[explain_writer(explain_config(args))])
    result("report", out_dir / "index.html")
    for entry in metrics["horizon_results"]:
        say("  " + entry["verdict"])
        say("    " + entry["power"])
    for xs in metrics.get("cross_section") or []:
        say("  cross-section " + xs["sentence"])
    for warning in metrics.get("covariate_shift", {}).get("warnings", []):
        say("  warning: " + warning)
    s = metrics.get("strategy")
    if s:
        say(f"  strategy (h={s['horizon']}, long/flat): Sharpe {s['strategy']['sharpe']:.2f} vs buy-and-hold "
              f"{s['buy_and_hold']['sharpe']:.2f}")
    if metrics.get("importance_findings"):
        for line in metrics["importance_findings"] + metrics.get("importance_conclusions", {}).get("lags", []):
            say("  " + line)
        say(f"  importance: {out_dir / 'importance.html'}")
    extra = f", explain {metrics['explain_seconds']:.0f} s" if "explain_seconds" in metrics else ""
    say(f"  wall time {metrics['wall_seconds']:.0f} s (training {exp.train_seconds:.0f} s{extra})")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:

    from pipeline.stages.compare import run_compare
    from pipeline.config.schema import RunConfig

    sets = [s.strip() for s in args.features.split(",") if s.strip()]
    base = RunConfig.from_args(args)
    check_executor_options(args)
    out_dir, summary = run_compare(base, sets, args.executor, args.jobs, args.ray_address, args.out,
                                   gpus_per_job=args.gpus_per_job)
    result("comparison", out_dir / "index.html")
    for h, order in summary["ranking"].items():
        say(f"  h={h} ranking by {summary['headline_metric']}: {' > '.join(order)}")
    for line in summary["verdicts"]:
        say("  " + line)
    say(f"  wall time {summary['wall_seconds']:.0f} s")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from pipeline.cli.rerun import explain_run_dir

    path, lines = explain_run_dir(args.run_dir, explain_config(args), progress=args.progress)
    result("importance", path)
    for line in lines:
        say("  " + line)
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from pipeline.calibration.study import StudyConfig, calibrate
    from pipeline.errors import InputError

    from pipeline.io import claim_dir, fresh_dir

    if args.sims < 10 or args.days < 100 or args.bootstrap < 50:
        raise InputError("calibrate needs --sims >= 10, --days >= 100 and --bootstrap >= 50")
    if not 0 <= args.seed < 2**31 - 1:
        raise InputError("--seed must be between 0 and 2147483646")
    cfg = StudyConfig(sims=args.sims, n_days=args.days, n_boot=args.bootstrap, seed=args.seed)
    if args.out:
        claim_dir(args.out, args.overwrite)
    out = args.out or fresh_dir(Path("reports"), "calibration")
    path, table = calibrate(cfg, out, progress=args.progress, overwrite=args.overwrite)
    result("calibration", path / "calibration.html")
    return 0 if table.ok.all() else 1


def cmd_selftest(args: argparse.Namespace) -> int:
    from pipeline.cli.selftest import selftest

    return selftest(size=args.size, progress=args.progress, keep=args.keep)


def register(sub: argparse._SubParsersAction, add_data_options: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("run", help="train the LSTM and baselines on walk-forward folds and write a report",
                       description="Train the LSTM and simple baselines on purged walk-forward folds, test them "
                                   "on the same days, and write reports/<run>/index.html with metrics, intervals and tests.",
                       epilog="examples:\n"
                              "  python -m pipeline run --target direction\n"
                              "  python -m pipeline run --data prices.csv --symbol IBM --target return --horizons 1,5\n"
                              "  python -m pipeline run --source sample --symbols SP20 --target xs_direction\n"
                              "  python -m pipeline run --config run.toml   # keys: flag names (no-explain = true) or fields")
    add_data_options(p)
    add_run_options(p)
    add_explain_options(p)
    p.add_argument("--out", metavar="DIR", help="run folder (default reports/<YYYYmmdd-HHMMSS>-<symbol>-<target>/); an "
                   "existing folder must be empty, or a featureproof folder with --overwrite")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it holds an earlier featureproof run")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("compare", help="compare feature sets on identical folds, seeds and test days",
                       description="Train every feature set on the same folds, seeds and test days and compare their "
                                   "seed ensembles with Diebold-Mariano tests on per-day losses (HAR variance), "
                                   "Holm-corrected over every pair and horizon. Separate sets with commas and combine "
                                   "sets with +, e.g. --features ohlcv,ohlcv+technical,all.",
                       epilog="examples:\n"
                              "  python -m pipeline compare --features ohlcv,ohlcv+technical,all --target direction --seeds 5\n"
                              "  python -m pipeline compare --features ohlcv,ohlcv+macro --executor ray --jobs 8")
    add_data_options(p)
    add_run_options(p)
    add_executor_options(p)
    p.add_argument("--out", metavar="DIR", help="output folder (default reports/<stamp>-compare-<symbol>-<target>/); an "
                   "existing folder must be empty, or a featureproof folder with --overwrite")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it holds an earlier featureproof folder")
    p.set_defaults(func=cmd_compare, features="ohlcv,ohlcv+technical,all", seeds=3)
    for action in p._actions:
        if action.dest == "features":
            action.help = ("feature sets to compare, separated by commas; combine sets with + "
                           "(sets: ohlcv, technical, macro, extra, all)")

    p = sub.add_parser("explain", help="run the explain stage again on a finished run folder",
                       description="Recompute importances for RUN_DIR with its saved model (last fold) and data.",
                       epilog="example:\n  python -m pipeline explain reports/20261128-120000-SP500-direction --ablation both")
    p.add_argument("run_dir", metavar="RUN_DIR")
    add_explain_options(p)
    p.add_argument("--lgbm-lags", type=int, default=None, help="lags for LightGBM (default: the run's)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("calibrate", help="measure the size, coverage and power of every test and interval on simulated data",
                       description="Monte-Carlo study of the inference code paths run, compare and the explain stage use: "
                                   "empirical size on fat-tailed random walks with no-skill predictors (one symbol and "
                                   "pooled symbols, h = 1, 5, 10), coverage of every interval, and power on planted "
                                   "signals. Writes calibration.csv and calibration.html; exit 1 if a cell misses.",
                       epilog="examples:\n  python -m pipeline calibrate\n  python -m pipeline calibrate --sims 200 --days 800")
    p.add_argument("--sims", type=int, default=1000, help="simulations per cell (default 1000)")
    p.add_argument("--days", type=int, default=1500, help="test days per simulation (default 1500)")
    p.add_argument("--bootstrap", type=int, default=300, help="bootstrap resamples per interval (default 300)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", metavar="DIR", help="output folder (default reports/<stamp>-calibration)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it holds an earlier featureproof folder")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("selftest", help="check that every method finds a planted signal and no skill on a random walk",
                       description="The pipeline's own controls, end to end: a planted signal every method must find "
                                   "(and a lagged one, with a correlated copy, for the temporal, sanity and cluster checks), "
                                   "and a random walk on which the LSTM must show no skill. Prints PASS/FAIL per check; "
                                   "exit 1 on any failure.",
                       epilog="examples:\n  python -m pipeline selftest --size small\n"
                              "  python -m pipeline selftest --keep selftest-reports")
    p.add_argument("--keep", metavar="DIR", help="keep the selftest's runs and reports in DIR (default: a temporary "
                   "folder, deleted at the end)")
    p.add_argument("--size", choices=["small", "full"], default="full", help="data size (small is what pytest runs)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")
    p.set_defaults(func=cmd_selftest)
