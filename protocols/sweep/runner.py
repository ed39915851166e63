"""One sweep point on a worker: a fresh simulated chip, one training, the outcome as plain data.

Whatever happens in the training, the worker returns a SweepPoint's values: a failed training
(a calibration that found no symmetry point, a value the trainer refused) is an outcome with
its error in plain words, not an exception, so that one bad corner of a map does not stop the
sweep. The worker caps its own thread pools (BLAS, OpenMP) at one, as the local cluster's
environment does (NUMBA_NUM_THREADS and the others), so that a cluster started any other way
still runs one thread per worker; the point records the limits it ran under.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from threadpoolctl import threadpool_info, threadpool_limits

from hil.bench import Bench
from hil.pulses import Pulse
from protocols.sweep.devices import DeviceSource
from protocols.sweep.spec import PointTask
from protocols.training import MLPSpec, TrainingResult, load_dataset
from protocols.training.registry import algorithm

THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def run_point(task: PointTask, devices: DeviceSource) -> dict[str, Any]:
    """Train the point's algorithm on a fresh chip of its devices (FP: in memory).

    Returns the fields of protocols.records.sweep.SweepPoint (status "completed" or "failed").
    """
    started, cpu = time.perf_counter(), time.process_time()
    with threadpool_limits(limits=1):
        threads = _threads()
        try:
            result, device = _train(task, devices)
        except Exception as exc:  # a failed point is a result of the sweep, stored with its error
            outcome = _failed(task, f"{type(exc).__name__}: {exc}")
        else:
            outcome = _completed(task, result, device)
    return outcome | {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,  # the worker's CPU: its time on an idle core
        "worker": _worker(),
        "threads": threads,
    }


def _train(task: PointTask, devices: DeviceSource) -> tuple[TrainingResult, dict[str, Any] | None]:
    row = algorithm(task.algorithm)
    config = row.build_config(task.config)
    data = load_dataset(task.dataset, task.test_fraction, task.seed, task.clip)
    spec = MLPSpec((data.n_features, *task.hidden, data.n_classes))
    label = f"{row.label}, point {task.index}"
    if task.preset is None:
        return row.train(spec, data, config, label=label), None
    device = devices.resolve(task.preset, task.device)
    with devices.open(task.preset, task.device, task.seed) as bench:
        return row.train(spec, data, config, label=label, arrays=bench.array, pulse=_pulse(bench)), device


def _pulse(bench: Bench) -> Pulse:
    if bench.nominal_pulse is None:
        raise ValueError(
            "an analog algorithm needs a bench with a nominal pulse (the simulated chip has one)"
        )
    return bench.nominal_pulse


def _completed(task: PointTask, result: TrainingResult, device: dict[str, Any] | None) -> dict[str, Any]:
    final = result.final
    return {
        "step": task.index,
        "key": task.key,
        "algorithm": task.algorithm,
        "status": "completed",
        "coords": task.coords,
        "config": {
            "preset": task.preset,
            "device": device,
            "algorithm": result.parameters,
            "dataset": result.dataset,
            "network": result.network,
        },
        "metrics": {
            "test_accuracy": final.test_accuracy,
            "train_accuracy": final.train_accuracy,
            "test_loss": final.test_loss,
            "train_loss": final.train_loss,
            "best_test_accuracy": max(e.test_accuracy for e in result.epochs),
            "epochs": final.epoch,
            "seconds_per_epoch": result.seconds_per_epoch,
        },
        "curve": [e.test_accuracy for e in result.epochs],
    }


def _failed(task: PointTask, error: str) -> dict[str, Any]:
    return {
        "step": task.index,
        "key": task.key,
        "algorithm": task.algorithm,
        "status": "failed",
        "coords": task.coords,
        "config": {"preset": task.preset, "device_overrides": task.device, "algorithm": task.config},
        "metrics": {},
        "curve": [],
        "error": error,
    }


def _threads() -> dict[str, Any]:
    """The thread limits the point runs under: the variables and each loaded pool's threads."""
    pools = {
        f"{p['internal_api']}:{os.path.basename(p['filepath'])}": p["num_threads"] for p in threadpool_info()
    }
    return {"environment": {v: os.environ.get(v) for v in THREAD_VARIABLES}, "pools": pools}


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
