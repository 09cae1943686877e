"""featureproof's pipeline: data sources, targets, windows and folds, the LSTM and its trainer,
baselines, metrics and tests, run orchestration, reports and the CLI (``python -m pipeline``)."""

from pipeline.openmp import configure_openmp

configure_openmp()  # before anything loads torch's OpenMP runtime (see pipeline.openmp)

__version__ = "0.1.0"
