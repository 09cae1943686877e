"""What a command prints while it works, set once by the CLI's ``-q/--quiet`` and ``-v/--verbose``.

- Default: tqdm bars where stderr is a terminal (they disable themselves elsewhere), and otherwise one
  line per fold and stage with its elapsed time on stderr, so that a run logged to a file or a CI job
  still says where it is; the results (verdicts, paths) on stdout.
- ``--quiet``: no bars, no stage lines, no summary: only the path of what was written (one line on
  stdout, for scripts) and errors on stderr.
- ``-v``: the stage lines also on a terminal, plus detail lines (every epoch's losses and learning rate).
- ``--no-progress`` hides the bars and stage lines and keeps the results.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterator

QUIET, NORMAL, VERBOSE = 0, 1, 2
_level = NORMAL


def set_verbosity(level: int) -> None:
    """Set by the CLI once per command (0 quiet, 1 normal, 2 verbose)."""
    global _level
    _level = max(QUIET, min(VERBOSE, int(level)))


def verbosity() -> int:
    return _level


def say(message: str = "") -> None:
    """A result line on stdout (verdicts, summaries); silent with ``--quiet``."""
    if _level >= NORMAL:
        print(message, flush=True)


def log_lines(enabled: bool) -> bool:
    """Whether to write stage lines: progress is on and stderr is not a terminal (where the bars show),
    or ``-v``."""
    return bool(enabled) and _level >= NORMAL and (_level >= VERBOSE or not sys.stderr.isatty())


def _err(message: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stderr)  # above any bar on the terminal, never through it
    sys.stderr.flush()


def stage(enabled: bool, message: str) -> None:
    """One progress line on stderr (see :func:`log_lines`)."""
    if log_lines(enabled):
        _err(message)


def detail(message: str) -> None:
    """A line on stderr only with ``-v`` (per-epoch losses, ...)."""
    if _level >= VERBOSE:
        _err(message)


def result(name: str, path) -> None:
    """The path of what a command wrote: ``name: path`` after a blank line, or the bare path with ``--quiet``."""
    print(str(path) if _level == QUIET else f"\n{name}: {path}", flush=True)


@contextmanager
def timed(seconds: dict[str, float], name: str) -> Iterator[None]:
    """Add the wall time of the ``with`` block to ``seconds[name]`` (a stage's per-phase timings)."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
