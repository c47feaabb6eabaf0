"""Measured speed and quality: each bench_<area>.py prints a table; run_all runs them in turn."""
