"""Command-line interface: ``python -m pipeline {features,run,explain,compare,search,reproduce,calibrate,selftest}``.

Exit codes: 0 done; 2 bad input (:class:`InputError`: one ``error:`` line on stderr, before any work
where the flags alone are wrong); 1 a job failed (:class:`JobError`, one line naming the job) or an
internal error (one line; the traceback goes to a log file named in that line, or is raised with
``FEATUREPROOF_DEBUG=1``); 130 interrupted (Ctrl-C
or SIGTERM). An interrupted command leaves no half-written output (see :mod:`pipeline.io`).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import traceback
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

from pipeline.config.schema import csv_list as _csv_list
from pipeline.config.schema import int_list as _int_list
from pipeline.config.schema import DATA, add_options, resolve_symbols
from pipeline.errors import InputError, JobError
from pipeline.progress import NORMAL, QUIET, result, say, set_verbosity, verbosity


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and examples keep their lines; every option with a default shows it, unless its help
    already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        d = action.default
        if (
            "default" in text
            or d is None
            or d is argparse.SUPPRESS
            or isinstance(d, bool)
            or isinstance(action, argparse._CountAction)
        ):
            return text
        if not action.option_strings and action.nargs not in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return text
        if isinstance(d, list):  # --horizons 1,5,10: the spelling the flag takes
            return text + f" (default: {','.join(map(str, d))})"
        return text + " (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one ``error:`` line (exit 2) instead of the usage block; help shows the
    defaults (:class:`HelpFormatter`)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        raise InputError(f"{message} (see '{self.prog} --help')")


def add_data_options(p: argparse.ArgumentParser) -> None:
    """Flags shared by every command that reads data (from the schema's data group, plus ``--symbol``)."""
    add_options(p, [DATA])
    p.add_argument("--symbol", help="one symbol to use (from the sample, a long CSV or yfinance)")


def dataset_from_args(args: argparse.Namespace):
    from pipeline.data.dataset import build_dataset

    return build_dataset(
        source=args.source,
        data=args.data,
        symbols=resolve_symbols(args),
        features=args.features,
        macro=args.macro,
        start=args.start,
        end=args.end,
        cache_dir=args.cache_dir,
        offline=args.offline,
    )


def cmd_features(args: argparse.Namespace) -> int:
    from pipeline.data.dataset import long_feature_frame
    from pipeline.io import check_file_out, write_table

    check_file_out(args.out, args.overwrite)
    dataset = dataset_from_args(args)
    frame = long_feature_frame(dataset)
    write_table(frame, args.out, overwrite=args.overwrite)
    result("features", args.out)
    say(f"  {len(frame)} rows x {len(dataset.columns)} features")
    for group, columns in dataset.groups.items():
        say(f"  {group:<18} {len(columns):>2}  {', '.join(columns)}")
    for symbol, table in dataset.tables.items():
        f = table.frame
        say(
            f"  {symbol}: {f.index[0].date()} .. {f.index[-1].date()}, {len(f)} rows; "
            f"warm-up rows dropped: {table.warmup_dropped}, rows with gaps dropped: {table.gaps_dropped}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from pipeline import __version__

    parser = Parser(
        prog="python -m pipeline",
        description="featureproof: does this LSTM beat simple baselines on this market, and which features carry it?\n"
        "('featureproof' is the same command, installed as a console script.)",
        epilog="examples:\n  python -m pipeline run --target direction\n  python -m pipeline run --help",
    )
    parser.add_argument("--version", action="version", version=f"featureproof {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser(
        "features",
        help="build the feature table and write it as CSV or parquet",
        description="Build the causal feature table (and the group map) from the prices and write it "
        "as CSV or parquet, one row per date and symbol.",
        epilog="example:\n  python -m pipeline features --features ohlcv+technical --out features.parquet",
    )
    add_data_options(p)
    p.add_argument("--out", required=True, metavar="FILE", help="output file, .csv, .csv.gz or .parquet")
    p.add_argument("--overwrite", action="store_true", help="replace --out if the file exists")
    p.add_argument("--config", metavar="TOML", help="read defaults for any flag from a TOML file")
    p.set_defaults(func=cmd_features)

    from pipeline.cli import commands

    commands.register(sub, add_data_options)
    for command in sub.choices.values():
        g = command.add_argument_group("output")
        g.add_argument(
            "-q",
            "--quiet",
            action="store_true",
            help="print nothing but the path of what was written (and errors): for scripts",
        )
        g.add_argument(
            "-v",
            "--verbose",
            action="count",
            default=0,
            help="also print the stage lines on a terminal, and every epoch's losses and learning rate",
        )
    return parser


def _config_value(path: Path, key: str, value, action: argparse.Action):
    """A TOML value checked and converted like the flag it stands for (types are strict: 5.5 is not an int)."""

    def bad(expected: str):
        return InputError(f"{path}: setting {key!r} must be {expected}, got {value!r}")

    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise bad("true or false")
        # the TOML key names the flag's meaning (dest): log_transform = false is --no-log-transform
        return value
    if action.type is _int_list and isinstance(value, list):
        if not value or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
            raise bad("a list of positive integers")
        return value
    if action.type is _csv_list and isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
        return value
    if action.type in (_int_list, _csv_list) and not isinstance(value, (list, str)):
        raise bad("a list" if action.type is _csv_list else "a list of positive integers")
    if action.type is int and not (isinstance(value, int) and not isinstance(value, bool)):
        raise bad("an integer")
    if action.type is float and not (isinstance(value, (int, float)) and not isinstance(value, bool)):
        raise bad("a number")
    if action.type is None and not isinstance(value, str):
        raise bad("a string")
    if isinstance(value, str) and action.type is not None:
        try:
            value = action.type(value)
        except (argparse.ArgumentTypeError, ValueError) as exc:
            raise InputError(f"{path}: setting {key!r}: {exc}") from None
    if action.choices is not None and value not in action.choices:
        raise bad(f"one of {', '.join(map(str, action.choices))}")
    return value


def _apply_config(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse ``argv``; a ``--config`` TOML file supplies defaults that explicit flags override."""
    args = parser.parse_args(argv)
    config = getattr(args, "config", None)
    if not config:
        return args
    path = Path(config)
    try:
        values = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: config file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    known = vars(args)
    subparser = parser._subparsers._group_actions[0].choices[args.command]  # type: ignore[union-attr]
    by_flag = {o.lstrip("-"): a for a in subparser._actions for o in a.option_strings}
    defaults = {}
    for key, value in values.items():
        # a key is a flag's spelling (no-explain = true, batch-size = 64) or a field name (explain = false)
        flag = by_flag.get(key.replace("_", "-"))
        dest = flag.dest if flag is not None else key.replace("-", "_")
        if dest not in known or dest in {"command", "func", "config", "help", "version", "verbose"}:
            raise InputError(f"{path}: unknown setting {key!r} for '{args.command}'; see --help for the flags")
        action = flag or next((a for a in subparser._actions if a.dest == dest), None)
        value = _config_value(path, key, value, action) if action is not None else value
        if isinstance(flag, argparse._StoreFalseAction):  # no-explain = true means --no-explain: explain is false
            value = not value
        defaults[dest] = value
    subparser.set_defaults(**defaults)
    return parser.parse_args(argv)


def _terminate(signum, frame):  # SIGTERM: unwind like Ctrl-C, so temporary outputs are removed
    raise KeyboardInterrupt


def _internal_error(exc: BaseException) -> int:
    """An unexpected exception: one line on stderr, the traceback in a log file."""
    fd, log = tempfile.mkstemp(prefix="featureproof-error-", suffix=".log")
    with open(fd, "w") as fh:
        fh.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    print(
        f"error: internal error ({type(exc).__name__}: {first}); this is a featureproof bug, please report it "
        f"with the traceback in {log}",
        file=sys.stderr,
    )
    return 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    before = verbosity()
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (e.g. called from a worker thread): leave signals alone
        previous = None
    try:
        args = _apply_config(parser, argv)
        if args.quiet and args.verbose:
            raise InputError("--quiet and --verbose contradict each other; choose one")
        set_verbosity(QUIET if args.quiet else NORMAL + min(args.verbose, 1))
        if args.quiet and hasattr(args, "progress"):
            args.progress = False
        return int(args.func(args) or 0)
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0) if isinstance(exc.code, (int, type(None))) else 2
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except JobError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # disk full, permissions changed mid-run, ...: outputs are atomic, nothing half-written
        if os.environ.get("FEATUREPROOF_DEBUG"):
            raise
        where = f": {exc.filename}" if exc.filename else ""
        print(
            f"error: cannot read or write{where} ({exc.strerror or exc}); check the path, its permissions and the "
            "free space; no output was written or replaced",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("interrupted; no output was written or replaced", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001  (the one place bugs become a line instead of a traceback)
        if os.environ.get("FEATUREPROOF_DEBUG"):
            raise
        return _internal_error(exc)
    finally:
        set_verbosity(before)  # main() may be called again in the same process (selftest, tests, notebooks)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    raise SystemExit(main())
