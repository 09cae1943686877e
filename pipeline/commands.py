"""Sub-commands beyond ``features``: registered onto the CLI parser by :func:`register`."""
from __future__ import annotations

import argparse
from typing import Callable


def register(sub: argparse._SubParsersAction, add_data_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the commands that later stages provide (``run``, ``explain``, ``compare``, ``selftest``)."""
    return None
