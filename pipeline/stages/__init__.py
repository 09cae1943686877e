"""The stages of a run as functions of typed, immutable results: prepare, fit, evaluate, explain."""
