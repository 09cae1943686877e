"""Progress that suits the output: tqdm bars where stderr is a terminal (they disable themselves
elsewhere), and otherwise one line per fold and stage with its elapsed time on stderr, so that a run
logged to a file or a CI job still says where it is. ``--no-progress`` silences both."""
from __future__ import annotations

import sys


def log_lines(enabled: bool) -> bool:
    """Whether to write stage lines: progress is on and stderr is not a terminal (where the bars show)."""
    return bool(enabled) and not sys.stderr.isatty()


def stage(enabled: bool, message: str) -> None:
    """One progress line on stderr (see :func:`log_lines`)."""
    if log_lines(enabled):
        print(message, file=sys.stderr, flush=True)
