"""Benchmarks: run with `make bench`; results and how to read them are in BENCHMARKS.md."""
