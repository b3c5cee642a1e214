"""Benchmarks behind ``tools/benchmark.py``: each writes JSON and a row in docs/BENCHMARKS.md."""
