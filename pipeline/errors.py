"""The one exception type for bad user input.

Anything raised as :class:`InputError` reaches the user as a single line on stderr and exit code 2,
never a traceback. Its message names the file, symbol, column and row where it can, and says what to do.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input (data, flags, files, settings) that the user can fix: a ``ValueError``, so the Python API raises it
    as one; the CLI prints it in one line and exits 2."""


def warn(message: str) -> None:
    """Print one warning line to stderr (data repairs, split-like jumps, dropped columns)."""
    import sys

    print(f"warning: {message}", file=sys.stderr)


class JobError(Exception):
    """An independent job (a fold, seed or group on a worker) failed; the CLI prints it with the job's
    identity in one line and exits 1."""
