"""Benchmarks of everybit against the best existing tools, on real data (`python -m bench`)."""
