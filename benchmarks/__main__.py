"""Run the benchmarks and print a table: python -m benchmarks [--quick] [--only NAME] [--json FILE].

Discovers every module benchmarks/bench_*.py and runs the Benchmark objects in its BENCHMARKS list.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from pathlib import Path

import benchmarks
from benchmarks.core import Benchmark, machine, run_benchmark, table


def discover() -> list[Benchmark]:
    """Every BENCHMARKS entry of benchmarks/bench_*.py, in module-name order; names must be unique."""
    found: list[Benchmark] = []
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
        if info.name.startswith("bench_"):
            module = importlib.import_module(f"benchmarks.{info.name}")
            found.extend(getattr(module, "BENCHMARKS", []))
    names = [b.name for b in found]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate benchmark names: {', '.join(duplicates)}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller workloads")
    parser.add_argument(
        "--only", action="append", metavar="NAME", help="run benchmarks whose name contains NAME (repeatable)"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results and the machine")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--blas-threads", type=int, metavar="N", help="limit numpy's BLAS to N threads (default: its own)"
    )
    args = parser.parse_args(argv)
    if args.blas_threads is not None:
        if args.blas_threads < 1:
            parser.error("--blas-threads must be a positive integer")
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=args.blas_threads, user_api="blas")

    selected = discover()
    if args.only:
        selected = [b for b in selected if any(part in b.name for part in args.only)]
        if not selected:
            parser.error(f"no benchmark name contains any of {args.only}; see --list")
    if args.list:
        print("\n".join(f"{b.name}  ({b.size})" for b in selected))
        return 0

    info = machine()
    blas = ", ".join(f"{b['internal_api']} {b['num_threads']} threads" for b in info["blas"]) or "BLAS ?"
    load = ", ".join(f"{x:.1f}" for x in info["load_average_1_5_15min"] or [])
    print(f"# {info['cpu']}, {info['cores']} cores, load {load}, Python {info['python']}, "
          f"numpy {info['numpy']} ({blas}){' (quick)' if args.quick else ''}")  # fmt: skip
    results = []
    for bench in selected:
        print(f"running {bench.name} ({bench.size}) ...", file=sys.stderr, flush=True)
        results.append(run_benchmark(bench, quick=args.quick))
    print(table(results))
    if args.json:
        payload = {"machine": info, "quick": args.quick, "results": [r.to_dict() for r in results]}
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
