"""Inference (every test and interval), metrics, the comparator rule, cross-section and strategy."""
