"""capgym benchmarks: ``python benchmarks/run.py [--quick]`` (not timed tests)."""
