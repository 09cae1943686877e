"""featureproof's pipeline: data sources, targets, windows and folds, the LSTM and its trainer,
baselines, metrics and tests, run orchestration, reports and the CLI (``python -m pipeline``)."""

__version__ = "0.1.0"
