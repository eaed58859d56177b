"""Benchmarks of the hot paths: each module has ``run(quick: bool) -> dict`` (figures and ratios from one run)."""
