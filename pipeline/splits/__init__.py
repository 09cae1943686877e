"""Windows as an index into feature rows, purged walk-forward folds and train-only preprocessing."""
