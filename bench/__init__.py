"""Benchmarks of the operator against Flagger on the lab (issue 8); `make bench` runs them."""
