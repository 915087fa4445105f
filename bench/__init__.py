"""Load benchmarks (bench/run.py) and the bench-only WSGI app they serve (bench/baseline.py)."""
