"""The distributed engine: sweep points as Dask tasks, results back to the one client.

By default a LocalCluster on this machine: worker processes with one thread each, their
numba, OpenMP and BLAS thread pools capped at one through the environment the nanny gives
each worker process before it starts, scheduler and dashboard bound to 127.0.0.1 (nothing
listens on the network). With an address, the client joins a running cluster instead (a
`dask scheduler` with `dask worker --nthreads 1` processes, or dask-jobqueue on Slurm/PBS:
docs/sweeps.md).

Resilience is the scheduler's: a task whose worker dies (killed, out of memory) is scheduled
again on another worker, up to distributed.scheduler.allowed-failures deaths (3 by default);
after that its future raises KilledWorker and the point is reported lost, not stored. The
client keeps one record per point key, so a point computed twice is stored once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from hil.faults import UsageFault
from protocols.sweep.devices import DeviceSource
from protocols.sweep.spec import PointTask

WORKER_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
"""Set in each local worker process before it starts, so numba and BLAS start with one thread."""

PointFunction = Callable[[PointTask, DeviceSource], dict[str, Any]]
"""run_point(task, devices) -> the SweepPoint fields (protocols.sweep.runner.run_point)."""


@dataclass(frozen=True)
class ClusterOptions:
    """Where the points run.

    workers: local worker processes (one thread each); scheduler: the address of a running
    cluster's scheduler (e.g. tcp://10.0.0.5:8786), None for a local cluster; dashboard: serve
    the local cluster's dashboard on 127.0.0.1 (a free port); connect_timeout_s: seconds to
    wait for a scheduler.
    """

    workers: int = 2
    scheduler: str | None = None
    dashboard: bool = True
    connect_timeout_s: float = 20.0


class SchedulerUnreachable(UsageFault):
    """The scheduler named by --scheduler did not answer; nothing has run."""


@contextmanager
def dask_client(options: ClusterOptions) -> Iterator[Any]:
    """A distributed.Client on a new local cluster or on the scheduler named; both closed on
    exit, whatever ends the block (a Ctrl-C stops the local workers too)."""
    from distributed import Client, LocalCluster

    if options.scheduler is not None:
        try:
            client = Client(options.scheduler, timeout=f"{options.connect_timeout_s}s")
        except (OSError, TimeoutError) as exc:
            raise SchedulerUnreachable(
                f"no Dask scheduler answered at {options.scheduler} within {options.connect_timeout_s:g} s "
                f"({exc}); start one (docs/sweeps.md) or leave out --scheduler for a local cluster"
            ) from None
        with client:
            yield client
        return
    if options.workers < 1:
        raise UsageFault(f"a local cluster needs at least one worker, got {options.workers}")
    cluster = LocalCluster(
        n_workers=options.workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0" if options.dashboard else None,
        env=WORKER_ENV,
        silence_logs=logging.ERROR,
    )
    with cluster, Client(cluster) as client:
        yield client


@dataclass
class Outcomes:
    """What came back: completed or failed points (stored), and points lost with their error."""

    returned: int = 0
    lost: list[tuple[PointTask, str]] = field(default_factory=list)


def compute(
    client: Any,
    tasks: Sequence[PointTask],
    devices: DeviceSource,
    on_outcome: Callable[[dict[str, Any]], None],
    *,
    function: PointFunction | None = None,
) -> Outcomes:
    """Run every task on the cluster; on_outcome(fields) in the client as each one returns.

    function: the point runner (protocols.sweep.runner.run_point; tests pass one that kills its
    worker). Returns the count returned and the tasks lost (their workers kept dying).
    Unfinished tasks are cancelled when this returns or raises (a Ctrl-C).
    """
    from distributed import as_completed

    from protocols.sweep.runner import run_point

    run = function or run_point
    futures = [client.submit(run, task, devices, key=f"sweep-point-{task.key}", pure=False) for task in tasks]
    by_key = {future.key: task for future, task in zip(futures, tasks, strict=True)}
    outcomes = Outcomes()
    try:
        for future in as_completed(futures):
            task = by_key[future.key]
            try:
                # A result lost with its worker before it came back is computed again: this waits.
                fields = future.result()
            except Exception as exc:  # KilledWorker after repeated deaths, or cancelled by the scheduler
                outcomes.lost.append((task, f"{type(exc).__name__}: {exc}"))
            else:
                on_outcome(fields)
                outcomes.returned += 1
            future.release()
    finally:
        client.cancel([f for f in futures if not f.done()])
    return outcomes
