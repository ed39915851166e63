"""What a benchmark is, how it is timed, and how results are printed.

A Benchmark names an operation and a setup function; setup(quick) builds fresh state and returns
a Case: the callable to time and how many operations (e.g. input vectors) one call performs.
Timing: time.perf_counter around each call, warm-up calls first, then `repeats` timed calls;
each timed call repeats the operation `number` times, with number chosen so that a call lasts
at least MIN_CALL_SECONDS (short operations are not lost in the timer's resolution).
Reported: median time per operation, half the interquartile range over the repeats as its
spread, and operations per second (1 / median).
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

MIN_CALL_SECONDS = 0.005


@dataclass(frozen=True)
class Case:
    """run() performs `ops` operations; info is printed in the table's notes column.

    self_timed: run() returns the seconds of its own operations (for work whose setup cannot
    be separated from it, e.g. a training epoch after the arrays' preparation).
    """

    run: Callable[[], object]
    ops: int = 1
    info: str = ""
    self_timed: bool = False


@dataclass(frozen=True)
class Benchmark:
    """name: unique, dotted by topic (e.g. "sim.update.fast"); size: what it runs on, e.g. "512x512".

    setup(quick) -> Case builds fresh state (not timed). repeats / quick_repeats: timed calls.
    """

    name: str
    size: str
    setup: Callable[[bool], Case]
    repeats: int = 15
    quick_repeats: int = 5
    warmup: int = 2


@dataclass
class Result:
    name: str
    size: str
    seconds_per_op: float  # median over repeats
    spread_seconds: float  # half the interquartile range over repeats
    ops_per_second: float
    repeats: int
    number: int  # operation calls per timed repeat
    info: str = ""
    samples: list[float] = field(default_factory=list)  # seconds per op, each repeat

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_benchmark(bench: Benchmark, quick: bool = False) -> Result:
    """Set up, warm up, and time `bench` (see the module docstring)."""
    case = bench.setup(quick)
    for _ in range(bench.warmup):
        case.run()
    repeats = bench.quick_repeats if quick else bench.repeats
    number = 1 if case.self_timed else _calibrate(case.run)
    per_op = []
    for _ in range(repeats):
        if case.self_timed:
            per_op.append(float(case.run()) / case.ops)  # type: ignore[arg-type]
            continue
        t0 = time.perf_counter()
        for _ in range(number):
            case.run()
        per_op.append((time.perf_counter() - t0) / (number * case.ops))
    median = statistics.median(per_op)
    q1, _, q3 = statistics.quantiles(per_op, n=4) if len(per_op) > 1 else (median, median, median)
    return Result(
        bench.name, bench.size, median, (q3 - q1) / 2, 1.0 / median, len(per_op), number, case.info, per_op
    )


def _calibrate(run: Callable[[], object]) -> int:
    t0 = time.perf_counter()
    run()
    once = time.perf_counter() - t0
    return max(1, math.ceil(MIN_CALL_SECONDS / max(once, 1e-9))) if once < MIN_CALL_SECONDS else 1


def format_seconds(s: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def table(results: list[Result]) -> str:
    """A plain-text table: name, size, time per op ± spread, op/s, repeats, notes."""
    rows = [("benchmark", "size", "time/op", "± (IQR/2)", "op/s", "reps", "notes")]
    for r in results:
        rows.append(
            (
                r.name,
                r.size,
                format_seconds(r.seconds_per_op),
                format_seconds(r.spread_seconds),
                f"{r.ops_per_second:,.4g}",
                f"{r.repeats}x{r.number}",
                r.info,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """Where the numbers were measured: CPU, cores, load, Python and numpy, BLAS threads."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average_1_5_15min": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "blas": _blas(),
    }


def _blas() -> list[dict[str, Any]]:
    """BLAS libraries numpy uses and their thread counts (threadpoolctl, a scikit-learn dependency)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [
        {k: d.get(k) for k in ("internal_api", "version", "num_threads")}
        for d in threadpool_info()
        if d.get("user_api") == "blas"
    ]
