"""Benchmarks that print figures (``make bench``). Never timed assertions: numbers only."""
