"""Benchmarks against the SPEC §9 targets and the peers; run with `python -m bench`."""
