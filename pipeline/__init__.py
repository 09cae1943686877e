"""featureproof's pipeline: data sources, targets, windows and folds, the LSTM and its trainer,
baselines, metrics and tests, run orchestration, reports and the CLI (``python -m pipeline``)."""

from pipeline.openmp import configure_openmp

configure_openmp()  # before anything loads torch's OpenMP runtime (see pipeline.openmp)

__version__ = "0.1.0"

_API = ("run", "compare", "search", "power", "explain", "RunResult", "settings")


def __getattr__(name: str):
    """The Python API (:mod:`pipeline.api`), loaded on first use: ``pipeline.run(target="direction")``. Imported
    lazily so that ``import pipeline`` stays light for the stage modules and workers that import it."""
    if name in _API:
        from pipeline import api

        return getattr(api, name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
