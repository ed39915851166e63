"""`hil runs list|show|export|plot`: what is stored."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hil.cli.common import DEFAULT_STORE

if TYPE_CHECKING:
    from hil.store import RunInfo


def cmd_runs_list(args: argparse.Namespace) -> int:
    from hil.store import RunStore

    if not args.store.exists():
        print(f"no run store at {args.store} yet: runs appear here once a protocol has run")
        return 0
    with RunStore(args.store, read_only=True) as store:
        runs = store.runs()
    header = ("id", "uid", "protocol", "bench", "status", "points", "started", "duration", "output")
    rows = [header] + [_listing(r) for r in runs]
    widths = [max(len(row[k]) for row in rows) for k in range(len(header) - 1)]
    for row in rows:
        print("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]).rstrip())
    return 0


def _listing(r: RunInfo) -> tuple[str, ...]:
    """One row of `hil runs list`: what ran where, how it ended, how long, where its files are."""
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.started))
    end = r.ended if r.ended is not None else (time.time() if r.status == "running" else None)
    duration = "-" if end is None else _duration(end - r.started)
    where = r.out_dir or "-"
    return (
        str(r.id),
        r.uid,
        r.protocol,
        bench_label(r.bench),
        r.status,
        str(r.points),
        started,
        duration,
        where,
    )


def bench_label(bench: dict[str, Any]) -> str:
    """'sim', 'virtual' or the bench file's name, from a run's stored bench description."""
    kind = str(bench.get("bench", "?"))
    config = bench.get("config")
    if kind == "hardware" and isinstance(config, dict) and config.get("name"):
        return str(config["name"])
    return {"simulated-chip": "sim"}.get(kind, kind)


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def cmd_runs_show(args: argparse.Namespace) -> int:
    import json

    from hil.results import to_jsonable
    from hil.store import RunStore

    with RunStore(args.store, read_only=True) as store:
        info = store.run(args.run)
    print(json.dumps(to_jsonable(info), indent=2))
    return 0


def cmd_runs_export(args: argparse.Namespace) -> int:
    from hil.export import export_run
    from hil.store import RunStore

    with RunStore(args.store, read_only=True) as store:
        info = store.run(args.run)
        suffix = {"csv": ".csv", "hdf5": ".h5"}[args.format]
        out = args.output or Path(f"{info.uid}{suffix}")
        path = export_run(store, info.id, out, args.format)
    print(f"wrote {path} ({info.points} points of run {info.uid})")
    return 0


def cmd_runs_plot(args: argparse.Namespace) -> int:
    from hil.store import RunStore
    from protocols.replay import replot_run

    with RunStore(args.store, read_only=True) as store:
        info = store.run(args.run)
        out = args.out or Path(f"{info.uid}-figures")
        figures = replot_run(store, info.id, out)
    state = "" if info.status == "completed" else f" ({info.status}: partial data, noted on the figures)"
    print(f"wrote {len(figures)} figures of run {info.uid}{state} to {out}")
    for figure in figures:
        print(f"  {figure}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    runs = sub.add_parser("runs", help="list, show, export and plot stored runs")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    store_help = f"the run database (default: {DEFAULT_STORE})"
    p = runs_sub.add_parser("list", help="one line per stored run")
    p.add_argument("--store", type=Path, default=Path(DEFAULT_STORE), help=store_help)
    p.set_defaults(func=cmd_runs_list)
    p = runs_sub.add_parser("show", help="a run's metadata, parameters, status and summary as JSON")
    p.add_argument("run", help="run id or a unique prefix of its uid")
    p.add_argument("--store", type=Path, default=Path(DEFAULT_STORE), help=store_help)
    p.set_defaults(func=cmd_runs_show)
    p = runs_sub.add_parser("export", help="write a run's points to CSV or HDF5")
    p.add_argument("run", help="run id or a unique prefix of its uid")
    p.add_argument("--format", choices=("csv", "hdf5"), default="csv", help="file format (default: csv)")
    p.add_argument("--output", "-o", type=Path, help="file to write (default: <uid>.csv or <uid>.h5)")
    p.add_argument("--store", type=Path, default=Path(DEFAULT_STORE), help=store_help)
    p.set_defaults(func=cmd_runs_export)
    p = runs_sub.add_parser("plot", help="regenerate a run's figures from the store alone")
    p.add_argument("run", help="run id or a unique prefix of its uid")
    p.add_argument("--out", type=Path, help="folder for the figures (default: ./<uid>-figures)")
    p.add_argument("--store", type=Path, default=Path(DEFAULT_STORE), help=store_help)
    p.set_defaults(func=cmd_runs_plot)
