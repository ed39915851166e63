"""Benchmarks: `python -m benchmarks` runs every benchmarks/bench_*.py module's BENCHMARKS.

Add a module bench_<topic>.py that defines BENCHMARKS, a list of benchmarks.core.Benchmark; it is
discovered and run with the others. See docs/benchmarks.md for the results and the machine.
"""
