"""`hil sweep SPEC.toml`: a device-algorithm sweep on Dask workers, stored as one run.

The client (this process) alone writes the run store; the workers train and send their
results back. Ctrl-C stops the cluster, keeps every point stored and prints the command that
continues the sweep; `--resume RUN` runs only the points without a completed result.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hil.bench import Bench
from hil.cli.common import DEFAULT_STORE, UsageError, check_output, positive_int
from hil.faults import Fault
from hil.progress import progress_bar

if TYPE_CHECKING:  # the command imports protocols when it runs, not when the parser is built
    from protocols.sweep import SweepSpec


class SimulatedDevices:
    """The simulator as a sweep's DeviceSource: a preset (name or file) with DeviceConfig
    overrides applied through DeviceConfig.with_overrides, and a fresh SimulatedChip of it."""

    def resolve(self, preset: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
        from simulators.presets import preset as preset_config

        return preset_config(preset).with_overrides(**overrides).to_dict()

    def open(self, preset: str, overrides: Mapping[str, Any], seed: int) -> Bench:
        from simulators.chip import SimulatedChip

        return SimulatedChip(preset=preset, seed=seed, **overrides)


def cmd_sweep(args: argparse.Namespace) -> int:
    from protocols.sweep import load_spec

    if args.plot is not None:
        return _plot_stored(args)
    if args.resume is None and args.spec is None:
        raise UsageError("give a sweep spec (hil sweep SPEC.toml), --resume RUN or --plot RUN")
    spec = _stored_spec(args) if args.resume is not None else load_spec(args.spec)
    run_sweep(args, spec)
    return 0


def _stored_spec(args: argparse.Namespace) -> SweepSpec:
    from hil.store import RunStore
    from protocols.sweep import parse_spec

    with RunStore(args.store, must_exist=True) as store:
        info = store.run(args.resume)
    if info.protocol != "sweep":
        raise UsageError(
            f"run {info.uid} is a {info.protocol} run, not a sweep; resume it with its own command"
        )
    if info.status not in ("aborted", "failed", "incomplete"):
        raise UsageError(f"run {info.uid} is {info.status}; only aborted, failed or incomplete sweeps resume")
    args.resume_id = info.id
    if args.out is None and info.out_dir:
        args.out = Path(info.out_dir)
    return parse_spec(info.params["spec"], source=f"the spec stored with run {info.uid}")


def _plot_stored(args: argparse.Namespace) -> int:
    """--plot RUN: the table and figures of a stored sweep, from its points; nothing is trained."""
    from hil.store import RunStore
    from protocols.sweep import expand, latest, ordered, parse_spec, plot_sweep, write_csv

    with RunStore(args.store, read_only=True) as store:
        info = store.run(args.plot)
        if info.protocol != "sweep":
            raise UsageError(f"run {info.uid} is a {info.protocol} run, not a sweep")
        spec = parse_spec(info.params["spec"], source=f"the spec stored with run {info.uid}")
        tasks = expand(spec)
        points = ordered(tasks, latest(store.points(info.id, kind="sweep_point")))
    out = Path(args.out or info.out_dir or Path(args.out_base) / info.uid)
    out.mkdir(parents=True, exist_ok=True)
    table = write_csv(out / "points.csv", spec, points)
    figures = plot_sweep(spec, points, out)
    print(
        f"run {info.uid} ({info.status}): {len(points)} of {len(tasks)} points; "
        f"wrote {table} and {len(figures)} figures"
    )
    return 0


def run_sweep(args: argparse.Namespace, spec: SweepSpec) -> dict[str, Any]:
    """Expand and check the spec, run the points not yet stored, write the table and figures."""
    from contextlib import nullcontext

    from hil.interrupts import interrupt_guard
    from hil.store import RunStore
    from protocols.sweep import ClusterOptions, dask_client, expand, pending, validate

    devices = SimulatedDevices()
    tasks = expand(spec)
    validate(tasks, devices)
    check_output(args)
    options = ClusterOptions(workers=args.workers, scheduler=args.scheduler, dashboard=not args.no_dashboard)
    with interrupt_guard(), RunStore(args.store) as store:
        stored = _stored_points(store, args)
        todo = pending(tasks, stored)
        try:
            # The cluster before the run: a scheduler that does not answer leaves no run behind.
            with dask_client(options) if todo else nullcontext() as client:
                run = _open_run(store, args, spec, len(tasks))
                with run:
                    lost = _compute(
                        args, spec, tasks, todo, client=client, stored=stored, run=run, devices=devices
                    )
                    return _finish(args, spec, tasks, stored, run, lost=lost)
        except KeyboardInterrupt:
            _report_stop(args, tasks, stored)
            raise


def _stored_points(store: Any, args: argparse.Namespace) -> dict:
    """The points a resumed sweep has stored, by key (none for a new sweep)."""
    from protocols.sweep import latest

    if getattr(args, "resume_id", None) is None:
        return {}
    return latest(store.points(args.resume_id, kind="sweep_point"))


def _open_run(store: Any, args: argparse.Namespace, spec: SweepSpec, points: int) -> Any:
    if getattr(args, "resume_id", None) is not None:
        run = store.resume_run(args.resume_id)
    else:
        params = {"spec": spec.raw, "points": points, "axes": list(spec.axes)}
        bench = {"bench": "simulated-chip", "preset": spec.base.preset, "one chip per point": True}
        run = store.start_run("sweep", params, bench, out_dir=args.out)
    if args.out is None:  # every sweep its own folder
        args.out = Path(args.out_base) / run.uid
        run.set_out_dir(args.out)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    args.run_uid = run.uid
    return run


def _compute(
    args: argparse.Namespace,
    spec: SweepSpec,
    tasks: list,
    todo: list,
    *,
    client: Any,
    stored: dict,
    run: Any,
    devices: Any,
) -> list:
    """Run the points still to do; returns those lost (their workers kept dying)."""
    from protocols.sweep import PointWriter, compute
    from protocols.sweep.spec import describe

    total, writer = len(tasks), PointWriter(run, stored)
    print(
        f"run {run.uid}: sweep {spec.name!r}, {total} points ({total - len(todo)} stored, "
        f"{len(todo)} to run); output in {args.out}, stored in {args.store}"
    )
    if not todo:
        return []
    where = f"scheduler {args.scheduler}" if args.scheduler else f"local cluster, {args.workers} workers"
    dashboard = client.dashboard_link if args.scheduler or not args.no_dashboard else "off"
    print(f"  {where}; dashboard {dashboard}")
    returned = [total - len(todo)]  # completed before, then each point back (failed too)
    with progress_bar("sweep points", not args.no_progress) as progress:

        def on_outcome(fields: dict[str, Any]) -> None:
            if writer(fields) and fields["status"] != "completed":
                print(f"  point {describe(_task(tasks, fields['key']))} failed: {fields['error']}")
            returned[0] += 1
            if progress is not None:
                progress(returned[0], total)

        outcomes = compute(client, todo, devices, on_outcome)
    for task, error in outcomes.lost:
        print(f"  point {describe(task)} was not computed: {error}")
    return outcomes.lost


def _report_stop(args: argparse.Namespace, tasks: list, stored: dict) -> None:
    """What a Ctrl-C (or SIGTERM) kept, once the cluster is shut down."""
    if args.run_uid is None:
        print("\nstopped before the sweep started: nothing was stored")
        return
    kept = sum(1 for t in tasks if t.key in stored and stored[t.key].completed)
    print(
        f"\nstopped: the cluster was shut down; {kept} of {len(tasks)} points are stored "
        f"in run {args.run_uid}"
    )
    if not getattr(args, "resumable", False):  # `hil sweep` says it itself (hil.cli.failures)
        print(f"  continue it with: hil sweep --resume {args.run_uid}{_store_option(args)}")


def _task(tasks: list, key: str) -> Any:
    return next(t for t in tasks if t.key == key)


def _store_option(args: argparse.Namespace) -> str:
    return "" if Path(args.store) == Path(DEFAULT_STORE) else f" --store {args.store}"


class SweepIncomplete(Fault, RuntimeError):
    """Points were not computed because their workers kept dying; the run is kept, failed, and
    `hil sweep --resume` runs them. Exit status 1: a point that kills its worker three times is
    a problem to look into (memory, a crash in a library), not a bad input."""


def _finish(
    args: argparse.Namespace, spec: SweepSpec, tasks: list, stored: dict, run: Any, *, lost: list
) -> dict[str, Any]:
    """The table, figures and summary; the run completed, or failed if points were lost."""
    from hil.cli.common import finish
    from hil.results import write_summary
    from protocols.sweep import ordered, plot_sweep, summary, write_csv

    points = ordered(tasks, stored)
    table = write_csv(Path(args.out) / "points.csv", spec, points)
    figures = plot_sweep(spec, points, args.out)
    result = {"protocol": "sweep", **summary(spec, tasks, points), "table": table.name}
    extra = getattr(args, "sweep_summary", None)
    if extra is not None:  # e.g. the SHD paper's comparison
        result |= extra(spec, points)
    if lost:
        error = (
            f"{len(lost)} of {len(tasks)} points were not computed: their workers died running them "
            "(out of memory?); the table and figures hold the others, and a resume runs them"
        )
        write_summary(args.out, result | {"run": run.uid, "figures": [f.name for f in figures]})
        run.finish("failed", error, summary=result)
        raise SweepIncomplete(error)
    finish(run, args, result, figures)
    print(f"  table: {table} ({len(points)} points; {result['failed']} failed, {result['not_run']} not run)")
    for name, row in result["by_algorithm"].items():
        print(
            f"  {name:<4} mean test accuracy {100 * row['mean_test_accuracy']:6.2f} %, "
            f"best {100 * row['best_test_accuracy']:6.2f} % at {row['best_point']}"
        )
    return result


def reproduce_paper_sweep(args: argparse.Namespace) -> int:
    """`hil reproduce shd-paper --sweep`: the paper's asymmetry sweep on a local cluster."""
    from protocols.sweep.paper import paper_comparison, paper_spec

    if args.bench != "sim":
        raise UsageError("the asymmetry sweep trains fresh simulated chips; run it with --bench sim")
    args.out_base = Path("runs/shd-paper-sweep")
    for name, default in (("workers", 2), ("scheduler", None), ("no_dashboard", False)):
        setattr(args, name, getattr(args, name, default))
    args.sweep_summary = paper_comparison
    spec = paper_spec(args.quick)
    result = run_sweep(args, spec)
    print(f"  {result['paper']['claim']}")
    for row in result["paper"]["by_asymmetry"]:
        cells = ", ".join(
            f"{name} {100 * row[name]['mean']:.1f} ± {100 * row[name]['std']:.1f} %"
            for name in spec.base.algorithms
            if name in row
        )
        print(f"  asymmetry {row['asymmetry']:g}: {cells}")
    return 0


def add_cluster(parser: argparse.ArgumentParser) -> None:
    """--workers, --scheduler, --no-dashboard (also for `hil reproduce shd-paper --sweep`)."""
    group = parser.add_argument_group("cluster")
    group.add_argument(
        "--workers", type=positive_int, default=2, help="local worker processes, one thread each (default: 2)"
    )
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786 "
        "(default: a local cluster on 127.0.0.1)",
    )
    group.add_argument("--no-dashboard", action="store_true", help="no Dask dashboard for the local cluster")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="a device-algorithm sweep from a spec, on Dask workers (a local cluster by default)",
        description="Train every point of a sweep spec (axes of device fields, asymmetry, states, "
        "hyperparameters and seeds; docs/sweeps.md) on a fresh simulated chip each, on a Dask "
        "cluster. The sweep is one stored run whose points are its results; writes points.csv, "
        "accuracy figures and summary.json. Ctrl-C keeps the finished points; --resume runs the rest.",
    )
    p.add_argument("spec", nargs="?", type=Path, help="the sweep spec (TOML; examples/sweeps/)")
    p.add_argument(
        "--resume", metavar="RUN", help="continue a stopped sweep (id or uid prefix) with its stored spec"
    )
    p.add_argument(
        "--plot", metavar="RUN", help="write the table and figures of a stored sweep again (trains nothing)"
    )
    p.add_argument("--out", type=Path, help="output folder (default: runs/sweep/RUN)")
    p.add_argument(
        "--store", type=Path, default=Path(DEFAULT_STORE), help=f"run database (default: {DEFAULT_STORE})"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_cluster(p)
    p.set_defaults(func=cmd_sweep, resumable=True, resume_id=None, run_uid=None, out_base=Path("runs/sweep"))
