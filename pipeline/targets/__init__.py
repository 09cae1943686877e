"""Targets (labels over t+1..t+h) and the reference signals built from prices."""
