"""Sub-commands beyond ``features``: ``run`` (and later stages), registered onto the CLI parser."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from pipeline.config.schema import (
    COMPARE_DEFAULTS,
    DEFAULTS,
    EVALUATION,
    EXECUTION,
    EXPLAIN,
    FAMILY_NAMES,
    MODEL,
    SPLITS,
    TRACKING,
    TRAINING,
    ExplainConfig,
    add_options,
)
from pipeline.progress import result, say


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Target, split, model, training and evaluation flags shared by run / compare (from the schema)."""
    add_options(p, [SPLITS, MODEL, TRAINING, EVALUATION, TRACKING])
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")
    p.add_argument("--config", metavar="TOML", help="read any of these flags from a TOML file; flags override it")


def add_executor_options(p: argparse.ArgumentParser) -> None:
    add_options(p, [EXECUTION], ExplainConfig)


def add_explain_options(p: argparse.ArgumentParser) -> None:
    add_options(p, [EXPLAIN, EXECUTION], ExplainConfig)


def explain_config(args: argparse.Namespace) -> ExplainConfig:
    """The explain stage's settings from the flags, checked before any work."""
    check_executor_options(args)
    return ExplainConfig.from_args(args)


def check_executor_options(args: argparse.Namespace) -> None:
    from pipeline.errors import InputError

    if args.jobs < 1:
        raise InputError("--jobs must be at least 1")
    if not (0 <= args.gpus_per_job <= 64):  # also rejects nan
        raise InputError("--gpus-per-job must be between 0 and 64")
    if args.gpus_per_job and args.executor != "ray":
        raise InputError("--gpus-per-job needs --executor ray (local workers are forked and train on CPU)")


def tracked(summary: dict) -> None:
    """The line that says where MLflow has the run (with --track)."""
    t = summary.get("tracking")
    if t:
        ui = t["uri"] if t["uri"].startswith("sqlite:") else None
        say(
            f"  mlflow run {t['run_id']} in {t['uri']}"
            + (f" (see it: mlflow ui --backend-store-uri {ui})" if ui else "")
        )


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.config.schema import RunConfig

    from pipeline.cli.compose import run

    from pipeline.progress import VERBOSE, verbosity
    from pipeline.reporting.summary import screen

    cfg = RunConfig.from_args(args)
    out_dir, metrics = run(cfg, explain_config(args))
    result("report", out_dir / "index.html")
    full = verbosity() >= VERBOSE  # -v: every sentence; by default the one-screen table
    if full:
        for entry in metrics["horizon_results"]:
            say("  " + entry["verdict"])
            say("    " + entry["power"])
    else:
        for line in screen(metrics):
            say(line)
    for xs in metrics.get("cross_section") or []:
        say("  cross-section " + xs["sentence"])
    for answer in metrics.get("ledger") or []:
        if answer["count"] > 1 or answer.get("fresh"):
            say("  ledger " + answer["sentence"])
    shift = metrics.get("covariate_shift", {})
    shifts = shift.get("warnings", [])
    if full or len(shifts) <= 1:
        for warning in shifts:
            say("  warning: " + warning)
    else:
        from pipeline.stages.evaluate import SHIFT_WARN

        groups = [g for g, share in (shift.get("worst") or {}).items() if share >= SHIFT_WARN]
        say(
            f"  warning: covariate shift: {len(shifts)} (fold, group) pairs have test values outside the training "
            f"range ({', '.join(groups)}); everything extrapolates there (-v or the report lists them)"
        )
    s = metrics.get("strategy")
    if s:
        say(
            f"  strategy (h={s['horizon']}, long/flat): Sharpe {s['strategy']['sharpe']:.2f} vs buy-and-hold "
            f"{s['buy_and_hold']['sharpe']:.2f}"
        )
    if metrics.get("importance_findings"):
        skilled = {e["horizon"] for e in metrics["horizon_results"] if e["skill"]}
        lines = metrics["importance_findings"] + metrics.get("importance_conclusions", {}).get("lags", [])
        shown = (
            lines
            if full
            else [x for x in metrics["importance_findings"] if any(x.startswith(f"h={h}:") for h in skilled)]
        )
        for line in shown:
            say("  " + line)
        if not full and not skilled:
            say(
                "  importance: no skill at any horizon, so no feature group is a finding about the market; what the "
                "model uses is on the page"
            )
        say(f"  importance: {out_dir / 'importance.html'}")
    tracked(metrics)
    extra = f", explain {metrics['explain_seconds']:.0f} s" if "explain_seconds" in metrics else ""
    say(f"  wall time {metrics['wall_seconds']:.0f} s (training {metrics['train_seconds']:.0f} s{extra})")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from pipeline.config.schema import RunConfig

    from pipeline.cli.compose import run_compare

    from pipeline.errors import InputError

    models = [m.strip() for m in (args.models or "").split(",") if m.strip()]
    unknown = [m for m in models if m not in FAMILY_NAMES]
    if unknown:
        raise InputError(f"--models: unknown family {unknown[0]!r}; choose from {', '.join(FAMILY_NAMES)}")
    if args.features is None:  # models alone compare on run's default features; sets alone on compare's three
        args.features = DEFAULTS.features if models else COMPARE_DEFAULTS["features"]
    sets = [s.strip() for s in args.features.split(",") if s.strip()]
    if models:
        args.model = models[0]
    base = RunConfig.from_args(args, families=models or None)
    check_executor_options(args)
    out_dir, summary = run_compare(
        base,
        sets,
        args.executor,
        args.jobs,
        args.ray_address,
        args.out,
        gpus_per_job=args.gpus_per_job,
        models=models or None,
    )
    result("comparison", out_dir / "index.html")
    for h, order in summary["ranking"].items():
        say(f"  h={h} ranking by {summary['headline_metric']}: {' > '.join(order)}")
    for line in summary["verdicts"]:
        say("  " + line)
    for answer in summary.get("ledger") or []:
        say("  ledger " + answer["sentence"])
    tracked(summary)
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
    from pipeline.calibration.study import StudyConfig, calibrate, failed_cells
    from pipeline.reporting.calibration_page import write_calibration
    from pipeline.errors import InputError

    from pipeline.io import claim_dir, fresh_dir

    if args.sims < 10 or args.days < 100 or args.bootstrap < 50:
        raise InputError("calibrate needs --sims >= 10, --days >= 100 and --bootstrap >= 50")
    if not 0 <= args.seed < 2**31 - 1:
        raise InputError("--seed must be between 0 and 2147483646")
    if args.jobs < 1:
        raise InputError("--jobs must be at least 1")
    parts = tuple(x.strip() for x in args.parts.split(",") if x.strip())
    unknown = sorted(set(parts) - set(StudyConfig().parts))
    if unknown or not parts:
        raise InputError(
            f"--parts: unknown part {', '.join(unknown) or '(none given)'}; choose from {','.join(StudyConfig().parts)}"
        )
    cfg = StudyConfig(
        sims=args.sims, n_days=args.days, n_boot=args.bootstrap, seed=args.seed, jobs=args.jobs, parts=parts
    )
    if args.out:
        claim_dir(args.out, args.overwrite)
    out = args.out or fresh_dir(Path("reports"), "calibration")
    table, seconds = calibrate(cfg, progress=args.progress)
    path = write_calibration(out, table, cfg, seconds, overwrite=args.overwrite)
    result("calibration", path / "calibration.html")
    return 1 if len(failed_cells(table)) else 0


def cmd_search(args: argparse.Namespace) -> int:
    from pipeline.config.schema import RunConfig
    from pipeline.config.space import load_space
    from pipeline.errors import InputError

    from pipeline.cli.compose import run_search

    if args.trials < 1:
        raise InputError("--trials must be at least 1")
    if args.timeout is not None and not args.timeout > 0:
        raise InputError("--timeout must be a positive number of seconds")
    if args.workers < 1:
        raise InputError("--workers must be at least 1")
    if args.holdout_folds < 1:
        raise InputError("--holdout-folds must be at least 1")
    space = load_space(args.space)
    cfg = RunConfig.from_args(args)
    ecfg = explain_config(args)
    out_dir, summary = run_search(
        cfg,
        ecfg,
        space,
        args.trials,
        args.holdout,
        args.holdout_folds,
        args.timeout,
        args.storage,
        args.resume,
        args.workers,
        ecfg.executor,
        ecfg.ray_address,
        args.score_all_on_test,
        args.out,
        args.rejudge,
    )
    result("search", out_dir / "search.html")
    say("  " + summary["sentences"]["lead"].replace("<b>", "").replace("</b>", ""))
    for line in ("optimism", "pbo", "dsr"):
        say("  " + summary["sentences"][line])
    tracked(summary)
    return 0


def cmd_power(args: argparse.Namespace) -> int:
    from pipeline.config.schema import RunConfig
    from pipeline.errors import InputError
    from pipeline.reporting.power_page import lead_sentences

    from pipeline.cli.compose import run_power

    try:
        effects = [float(x) for x in args.effect.split(",") if x.strip()]
    except ValueError:
        raise InputError(
            f"--effect {args.effect!r}: give numbers separated by commas (e.g. --effect 0.05,0.1,0.2)"
        ) from None
    cfg = RunConfig.from_args(args)
    out_dir, res = run_power(cfg, explain_config(args), effects, args.lag, args.runs, args.out)
    result("power", out_dir / "power.html")
    for line in lead_sentences(res):
        say("  " + line["text"])
    say(f"  wall time {res.seconds:.0f} s")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    import math

    from pipeline.cli.compose import reproduce

    out_dir, diffs, metrics = reproduce(args.run_dir, args.out, progress=args.progress)
    result("reproduced", out_dir / "index.html")
    worst = max((abs(d["difference"]) for d in diffs if math.isfinite(d["difference"])), default=0.0)
    say(
        f"  {len(diffs)} figures compared; "
        + ("every one identical" if worst == 0 else f"largest difference {worst:.3g}")
    )
    for d in diffs:
        if d["difference"] != 0:
            say(f"  h={d['horizon']} {d['metric']}: {d['then']:.6g} then, {d['now']:.6g} now ({d['difference']:+.3g})")
    tracked(metrics)
    return 0


def cmd_selftest(args: argparse.Namespace) -> int:
    from pipeline.cli.selftest import selftest

    return selftest(size=args.size, progress=args.progress, keep=args.keep, model=args.model)


def register(sub: argparse._SubParsersAction, add_data_options: Callable[[argparse.ArgumentParser], None]) -> None:
    from pipeline.calibration.study import StudyConfig

    p = sub.add_parser(
        "run",
        help="train the LSTM (or --model) and baselines on walk-forward folds and write a report",
        description="Train the LSTM (or another --model family) and simple baselines on purged walk-forward folds, test them "
        "on the same days, and write reports/<run>/index.html with metrics, intervals and tests.",
        epilog="examples:\n"
        "  python -m pipeline run --target direction\n"
        "  python -m pipeline run --data prices.csv --symbol IBM --target return --horizons 1,5\n"
        "  python -m pipeline run --source sample --symbols SP20 --target xs_direction\n"
        "  python -m pipeline run --config run.toml   # keys: flag names (no-explain = true) or fields",
    )
    add_data_options(p)
    add_run_options(p)
    add_explain_options(p)
    p.add_argument(
        "--out",
        metavar="DIR",
        help="run folder (default reports/<YYYYmmdd-HHMMSS>-<symbol>-<target>/); an "
        "existing folder must be empty, or a featureproof folder with --overwrite",
    )
    p.add_argument("--overwrite", action="store_true", help="replace --out if it holds an earlier featureproof run")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "compare",
        help="compare feature sets or model families on identical folds, seeds and test days",
        description="Train every feature set on the same folds, seeds and test days and compare their "
        "seed ensembles with Diebold-Mariano tests on per-day losses (HAR variance), "
        "Holm-corrected over every pair and horizon. Separate sets with commas and combine "
        "sets with +, e.g. --features ohlcv,ohlcv+technical,all.",
        epilog="examples:\n"
        "  python -m pipeline compare --features ohlcv,ohlcv+technical,all --target direction --seeds 5\n"
        "  python -m pipeline compare --features ohlcv,ohlcv+macro --executor ray --jobs 8\n"
        "  python -m pipeline compare --models lstm,gru,transformer,linear --seeds 5",
    )
    add_data_options(p)
    add_run_options(p)
    add_executor_options(p)
    p.add_argument(
        "--out",
        metavar="DIR",
        help="output folder (default reports/<stamp>-compare-<symbol>-<target>/); an "
        "existing folder must be empty, or a featureproof folder with --overwrite",
    )
    p.add_argument("--overwrite", action="store_true", help="replace --out if it holds an earlier featureproof folder")
    p.add_argument(
        "--models",
        metavar="LIST",
        help="model families to compare on the same features, folds, seeds and "
        "test days, separated by commas (e.g. lstm,gru,transformer,linear); with several --features, every "
        "model x feature set",
    )
    p.set_defaults(func=cmd_compare, **{**COMPARE_DEFAULTS, "features": None})
    for action in p._actions:
        if action.dest == "features":
            action.help = (
                "feature sets to compare, separated by commas; combine sets with + "
                f"(sets: ohlcv, technical, macro, extra, all; default {COMPARE_DEFAULTS['features']}, "
                "or the run's default with --models)"
            )

    p = sub.add_parser(
        "search",
        help="search the settings a user tunes with Optuna, and judge the choice on held-back days",
        description="Search feature groups, window, model family and structure, training and preprocessing "
        "settings with Optuna (TPE sampler, median pruner over folds). The last --holdout share "
        "of dates is held back before the search starts; every trial is scored on the walk-forward "
        "test days before it; the chosen configuration is refit and judged once on the held-back "
        "days by run (report in OUT/run/). search.html states the optimism, the probability of "
        "backtest overfitting and the deflated Sharpe ratio; trials.csv keeps every trial.",
        epilog="examples:\n"
        "  python -m pipeline search --trials 30\n"
        "  python -m pipeline search --trials 60 --space space.toml --workers 2\n"
        "  python -m pipeline search --trials 60 --out reports/my-search --resume",
    )
    add_data_options(p)
    add_run_options(p)
    add_explain_options(p)
    p.add_argument(
        "--trials", type=int, default=30, help="trials in the study (with --resume: in all, the earlier ones included)"
    )
    p.add_argument(
        "--timeout", type=float, default=None, help="stop starting trials after this many seconds per worker"
    )
    p.add_argument("--space", metavar="TOML", help="the search space (default: every knob, see docs/search.md)")
    p.add_argument("--holdout", type=float, default=0.2, help="share of sample dates held back from the search")
    p.add_argument("--holdout-folds", type=int, default=1, help="test folds of the final run on the held-back days")
    p.add_argument(
        "--storage",
        metavar="URL",
        help="Optuna RDB storage (default sqlite:///OUT/search.db); several workers or machines may share one",
    )
    p.add_argument("--resume", action="store_true", help="continue the search in --out (or --storage) up to --trials")
    p.add_argument(
        "--rejudge",
        action="store_true",
        help="with --resume: judge the held-back days again although an "
        "earlier run of this search judged them (refused otherwise; the page then says how many times)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the study (local, or Ray tasks with --executor ray)",
    )
    p.add_argument(
        "--score-all-on-test",
        action="store_true",
        help="also refit every complete trial and score it on the "
        "held-back days, for Hansen's SPA and Romano-Wolf's StepM over all of them (those days are then no "
        "longer untouched)",
    )
    p.add_argument("--out", metavar="DIR", help="search folder (default reports/<stamp>-search-<target>/)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it holds an earlier featureproof folder")
    p.set_defaults(func=cmd_search, seeds=1)

    p = sub.add_parser(
        "power",
        help="would this setup find an effect this large on your data? plant a column and rerun",
        description="Plant a column into your prices that announces the daily return --lag days later "
        "with correlation --effect (fresh noise every run), run the real stages (your data, "
        "target, model, features and explain settings) --runs times per effect, and report how "
        "often the run claims skill and each importance method names the planted column, with "
        "Wilson intervals, beside the same rates at effect 0 (the size on your data). Writes "
        "power.html (a power curve with several effects) and power.json; nothing enters the ledger.",
        epilog="examples:\n"
        "  python -m pipeline power --target direction --effect 0.1 --lag 5 --runs 20\n"
        "  python -m pipeline power --data prices.csv --symbol IBM --effect 0.05,0.1,0.2 --window 30 --lag 12\n"
        "  python -m pipeline power --effect 0.1 --executor ray --jobs 16 --runs 50",
    )
    add_data_options(p)
    add_run_options(p)
    add_explain_options(p)
    p.add_argument(
        "--effect",
        default="0.1",
        metavar="LIST",
        help="correlations of the planted column with the return it "
        "announces, separated by commas (0 to 0.95; 0 is always added)",
    )
    p.add_argument(
        "--lag",
        type=int,
        default=1,
        help="days between the planted value and the return it announces (1 to the window)",
    )
    p.add_argument(
        "--runs", type=int, default=20, help="runs per effect, each with a fresh planted draw and training seeds"
    )
    p.add_argument("--out", metavar="DIR", help="output folder (default reports/<stamp>-power-<target>/)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it holds an earlier featureproof folder")
    p.set_defaults(func=cmd_power)

    p = sub.add_parser(
        "reproduce",
        help="re-run a finished run from its config.json on the same data and compare",
        description="Re-run RUN_DIR from its config.json (the resolved settings and the explain settings) "
        "after checking that the data are the same (the data fingerprint; a difference is "
        "named by symbol and date), write the new run beside it and print every metric's "
        "difference. The same machine, device and threads give identical numbers.",
        epilog="example:\n  python -m pipeline reproduce reports/20261129-101500-sp500-direction",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument(
        "--out", metavar="DIR", help="the new run folder (default: beside RUN_DIR, named <RUN_DIR>-reproduced)"
    )
    p.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        default=None,
        help="hide progress bars (default: as the run did)",
    )
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser(
        "explain",
        help="run the explain stage again on a finished run folder",
        description="Recompute importances for RUN_DIR with its saved model (last fold) and data.",
        epilog="example:\n  python -m pipeline explain reports/20261128-120000-SP500-direction --ablation both",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    add_explain_options(p)
    p.add_argument("--lgbm-lags", type=int, default=None, help="lags for LightGBM (default: the run's)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser(
        "calibrate",
        help="measure the size, coverage and power of every test and interval on simulated data",
        description="Monte-Carlo study of the inference code paths run, compare and the explain stage use: "
        "empirical size on fat-tailed random walks with no-skill predictors (one symbol and "
        "pooled symbols, h = 1, 5, 10), coverage of every interval, and power on planted "
        "signals; the end-to-end cells run the real stages (prepare, fit, evaluate, explain) on "
        "simulated markets. Writes calibration.csv and calibration.html; exit 1 if a size or "
        "coverage cell misses its nominal rate beyond Monte-Carlo error.",
        epilog="examples:\n  python -m pipeline calibrate\n  python -m pipeline calibrate --sims 200 --days 800",
    )
    study = StudyConfig()  # the study's defaults, written once in pipeline.calibration.study
    p.add_argument("--sims", type=int, default=study.sims, help="simulations per cell")
    p.add_argument("--days", type=int, default=study.n_days, help="test days per simulation")
    p.add_argument("--bootstrap", type=int, default=study.n_boot, help="bootstrap resamples per interval")
    p.add_argument("--seed", type=int, default=study.seed, help="random seed")
    p.add_argument(
        "--jobs",
        type=int,
        default=ExplainConfig().jobs,
        help="processes for the end-to-end cells (each runs the real stages)",
    )
    p.add_argument(
        "--parts",
        default=",".join(study.parts),
        help="which cells to run: stages (run's stages end to end), defaults (run's stages at the settings users "
        "run: all features, the LSTM, window 60, h 1/5/10, on a fat-tailed GARCH-like walk), compare (compare --models end to end), "
        "search (whole searches of 8 trials, h 1), search_wide (whole searches at the search's defaults: 30 trials "
        "over h 1/5/10), ledger (20 runs on one market counted by the ledger), correlated "
        "(correlated groups), selection (SPA, StepM and the deflated Sharpe ratio on simulated families and "
        "drifting markets), other (the inference functions on simulated predictors)",
    )
    p.add_argument("--out", metavar="DIR", help="output folder (default reports/<stamp>-calibration)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it holds an earlier featureproof folder")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser(
        "selftest",
        help="check that every method finds a planted signal and no skill on a random walk",
        description="The pipeline's own controls, end to end: a planted signal every method must find "
        "(and a lagged one, with a correlated copy, for the temporal, sanity and cluster checks), "
        "and a random walk on which the LSTM must show no skill. Prints PASS/FAIL per check; "
        "exit 1 on any failure.",
        epilog="examples:\n  python -m pipeline selftest --size small\n"
        "  python -m pipeline selftest --keep selftest-reports",
    )
    p.add_argument(
        "--keep",
        metavar="DIR",
        help="keep the selftest's runs and reports in DIR (default: a temporary folder, deleted at the end)",
    )
    p.add_argument("--size", choices=["small", "full"], default="full", help="data size (small is what pytest runs)")
    p.add_argument(
        "--model",
        choices=list(FAMILY_NAMES),
        default=DEFAULTS.model,
        help="network family whose controls to run (default: the run's)",
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")
    p.set_defaults(func=cmd_selftest)
