"""Benchmarks a user runs (scripts, from the repository root); their shared machinery is in tools/."""
