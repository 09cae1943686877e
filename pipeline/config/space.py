"""The search space of ``python -m pipeline search``: which settings a search may change, and over what range.

A space is plain data, checked once at the boundary (like :class:`~pipeline.config.schema.RunConfig`). Its
knobs are the settings a user tunes by hand (the note's five, the target aside: it is the question):

* ``groups``: feature groups in or out (``choices``: the groups that may be left out; default every group);
* ``window``: days of history per sample;
* ``model`` and its structure: ``layers``, ``hidden``, ``dropout``, ``pool``, ``norm`` (and any other model
  setting of the schema, e.g. ``heads``, ``kernel_size``); a setting is suggested only for a family that
  uses it (``MODEL_FAMILIES``), never refused mid-search;
* training: ``batch_size`` with ``lr`` and ``lr_scaling`` (the linear scaling rule as a choice),
  ``weight_decay``, ``warmup_epochs`` (and ``epochs``, ``patience``);
* preprocessing: ``scaler``, ``log_transform``, ``clip_quantile``.

A TOML file gives a table per knob: ``choices = [...]``; or ``low``/``high`` (with ``log = true`` or an
integer ``step``); or ``value`` (fixed). Knobs the file leaves out keep the run's setting::

    [window]
    low = 20
    high = 120
    step = 10
    [model]
    choices = ["lstm", "gru", "linear"]
    [lr]
    low = 1e-4
    high = 1e-2
    log = true
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

from pipeline.config.schema import FAMILY_NAMES, MAX_WINDOW, MODEL_FAMILIES, MODEL_SETTINGS
from pipeline.errors import InputError

INT_KNOBS = {"window", "layers", "hidden", "batch_size", "heads", "kernel_size", "trend_kernel", "epochs", "patience"}
FLOAT_KNOBS = {"dropout", "lr", "weight_decay", "warmup_epochs", "clip_quantile"}
CHOICE_KNOBS = {
    "model": list(FAMILY_NAMES),
    "pool": ["last", "mean"],
    "norm": ["none", "layer", "batch"],
    "scaler": ["standard", "robust", "minmax"],
    "lr_scaling": ["none", "linear"],
    "log_transform": [True, False],
    "bidirectional": [True, False],
    "attention": ["causal", "full"],
    "skip": ["linear", "none"],
    "skip_fit": ["joint", "staged"],
}
KNOBS = ("groups", *sorted(INT_KNOBS | FLOAT_KNOBS | set(CHOICE_KNOBS)))
# the bounds each numeric knob must respect (the schema's own checks, so a trial is never refused)
BOUNDS = {
    "window": (2, MAX_WINDOW),
    "layers": (1, 16),
    "hidden": (1, 4096),
    "batch_size": (2, 1 << 16),
    "heads": (1, 64),
    "kernel_size": (2, 16),
    "trend_kernel": (1, MAX_WINDOW),
    "epochs": (1, 10_000),
    "patience": (1, 1000),
    "dropout": (0.0, 0.99),
    "lr": (1e-7, 1.0),
    "weight_decay": (0.0, 1.0),
    "warmup_epochs": (0.0, 100.0),
    "clip_quantile": (0.0, 0.49),
}


@dataclass(frozen=True)
class Knob:
    """One searched setting: ``choices`` (categorical), or ``low``..``high`` (``log`` scale or ``step``)."""

    name: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None

    @property
    def fixed(self) -> bool:
        return (self.choices is not None and len(self.choices) == 1) or (self.low is not None and self.low == self.high)

    def describe(self) -> str:
        if self.name == "groups":
            return (
                "in or out: " + (", ".join(self.choices) if self.choices else "every feature group") + " (one stays in)"
            )
        if self.choices is not None:
            return ", ".join(map(str, self.choices))
        scale = " (log scale)" if self.log else (f" (step {self.step:g})" if self.step else "")
        return f"{self.low:g} to {self.high:g}{scale}"


@dataclass(frozen=True)
class Space:
    """Every searched knob, in a fixed order (the order Optuna suggests them in)."""

    knobs: tuple[Knob, ...]

    def __getitem__(self, name: str) -> Knob | None:
        return next((k for k in self.knobs if k.name == name), None)

    @property
    def max_window(self) -> int | None:
        k = self["window"]
        return None if k is None else int(max(k.choices) if k.choices is not None else k.high)

    def to_dict(self) -> dict:
        return {
            k.name: {
                f: v
                for f, v in (
                    ("choices", list(k.choices) if k.choices is not None else None),
                    ("low", k.low),
                    ("high", k.high),
                    ("log", k.log or None),
                    ("step", k.step),
                )
                if v is not None
            }
            for k in self.knobs
        }

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:12]


DEFAULT_SPACE = {
    "groups": {},  # every group may be left out (at least one stays)
    "window": {"low": 20, "high": 120, "step": 10},
    "model": {"choices": list(FAMILY_NAMES)},
    "layers": {"low": 1, "high": 3},
    "hidden": {"choices": [16, 32, 64, 128]},
    "dropout": {"low": 0.0, "high": 0.5},
    "pool": {"choices": ["last", "mean"]},
    "norm": {"choices": ["none", "layer"]},
    "batch_size": {"choices": [64, 128, 256]},
    "lr": {"low": 1e-4, "high": 1e-2, "log": True},
    "lr_scaling": {"choices": ["none", "linear"]},
    "weight_decay": {"low": 1e-6, "high": 1e-2, "log": True},
    "warmup_epochs": {"low": 0.0, "high": 3.0},
    "scaler": {"choices": ["standard", "robust", "minmax"]},
    "log_transform": {"choices": [True, False]},
    "clip_quantile": {"choices": [0.0, 0.005, 0.01, 0.02]},
}


def _knob(name: str, spec: dict, where: str) -> Knob:
    if name not in KNOBS:
        raise InputError(f"{where}: unknown knob {name!r}; the knobs are {', '.join(KNOBS)}")
    if not isinstance(spec, dict):
        raise InputError(f"{where}: [{name}] must be a table with choices, low/high or value")
    unknown = sorted(set(spec) - {"choices", "low", "high", "log", "step", "value"})
    if unknown:
        raise InputError(
            f"{where}: [{name}] has unknown key {unknown[0]!r}; use choices, low, high, log, step or value"
        )
    if "value" in spec:
        spec = {"choices": [spec["value"]]}
    if name == "groups":
        return Knob("groups", tuple(spec["choices"]) if "choices" in spec else None)
    if "choices" in spec:
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise InputError(f"{where}: [{name}] choices is empty; list at least one value")
        allowed = CHOICE_KNOBS.get(name)
        for c in choices:
            if allowed is not None and c not in allowed:
                raise InputError(f"{where}: [{name}] choice {c!r} is not one of {', '.join(map(str, allowed))}")
            if allowed is None and not (isinstance(c, (int, float)) and not isinstance(c, bool)):
                raise InputError(f"{where}: [{name}] choice {c!r} is not a number")
            if name in BOUNDS and not BOUNDS[name][0] <= c <= BOUNDS[name][1]:
                raise InputError(f"{where}: [{name}] choice {c} is outside {BOUNDS[name][0]:g}..{BOUNDS[name][1]:g}")
            if name in INT_KNOBS and int(c) != c:
                raise InputError(f"{where}: [{name}] choice {c} must be a whole number")
        return Knob(name, tuple(choices))
    if name in CHOICE_KNOBS:
        raise InputError(f"{where}: [{name}] needs choices (one or more of {', '.join(map(str, CHOICE_KNOBS[name]))})")
    if "low" not in spec or "high" not in spec:
        raise InputError(f"{where}: [{name}] needs both low and high (or choices, or value)")
    low, high = spec["low"], spec["high"]
    for v in (low, high):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InputError(f"{where}: [{name}] low and high must be numbers, got {v!r}")
    if low > high:
        raise InputError(f"{where}: [{name}] is an empty range: low {low} is above high {high}")
    lo, hi = BOUNDS[name]
    if low < lo or high > hi:
        raise InputError(f"{where}: [{name}] {low}..{high} reaches outside {lo:g}..{hi:g}")
    log = bool(spec.get("log", False))
    if log and low <= 0:
        raise InputError(f"{where}: [{name}] a log scale needs low > 0")
    step = spec.get("step")
    if name in INT_KNOBS:
        if int(low) != low or int(high) != high:
            raise InputError(f"{where}: [{name}] low and high must be whole numbers")
        step = int(step or 1)
    if step is not None and (step <= 0 or log):
        raise InputError(f"{where}: [{name}] step must be positive and cannot go with log")
    return Knob(name, None, low, high, log, step)


def make_space(specs: dict, where: str = "search space") -> Space:
    """A checked :class:`Space` from ``{knob: spec}`` (one line naming the knob for anything wrong)."""
    if not specs:
        raise InputError(f"{where}: no knob to search; give at least one table, e.g. [window] low = 20 high = 120")
    return Space(tuple(_knob(name, spec, where) for name, spec in specs.items()))


def load_space(path: str | None) -> Space:
    """The space of ``--space FILE.toml``, or :data:`DEFAULT_SPACE`."""
    if path is None:
        return make_space(DEFAULT_SPACE, "default space")
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib
    file = Path(path)
    if not file.is_file():
        raise InputError(f"--space {path}: no such file")
    try:
        specs = tomllib.loads(file.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"--space {path}: not valid TOML ({exc})") from None
    return make_space(specs, f"--space {path}")


def family_knobs(model: str) -> set[str]:
    """The model settings ``model`` uses; the others are not suggested for it."""
    return MODEL_FAMILIES[model] | (set(KNOBS) - set(MODEL_SETTINGS))
