"""What the run page plots, per protocol, built incrementally from the points a run records.

Each view reads the raw points by the `kind` strings the protocols write (hil does not import
protocols) and turns each batch of new points into a small JSON update for the page:

- symmetry-point: `pair` (g_up, g_down) and `window` (mean, sem, step_size, converged) points
  give the selected device's reads and window estimates, and every device's newest estimate;
- jump-table: `jump_start`, `jump`, `jump_train`, `jump_resume` give every device's reads by
  step, and each step's conductance change against the conductance it started from;
- train: `epoch` points give one row per algorithm and epoch.

Conductances are in siemens, times in seconds since the epoch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hil.store import Point

__all__ = ["View", "view_for"]


def _floats(values: Any) -> list[float | None]:
    """JSON numbers (None for NaN), flat."""
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, dtype=float).ravel()]


class View:
    """A protocol without a dedicated view: counts of points by kind."""

    name = "points"
    ARRAYS: frozenset[str] = frozenset()  # the kinds whose arrays the view reads

    def __init__(self, device: int = 0):
        self.device = device
        self.kinds: dict[str, int] = {}

    def feed(self, points: list[Point]) -> dict[str, Any]:
        for point in points:
            self.kinds[point.kind] = self.kinds.get(point.kind, 0) + 1
        return {"kinds": dict(self.kinds)}


class SymmetryView(View):
    """Convergence of one device (flat index, row-major) and every device's newest estimate."""

    name = "symmetry"
    ARRAYS = frozenset({"pair", "window"})

    def __init__(self, device: int = 0):
        super().__init__(device)
        self.shape: list[int] | None = None

    def feed(self, points: list[Point]) -> dict[str, Any]:
        pairs, windows, newest = [], [], None
        for point in points:
            if point.kind == "pair":
                up, down = point.arrays["g_up"], point.arrays["g_down"]
                self.shape = list(up.shape)
                k = min(self.device, up.size - 1)
                pairs.append([point.step, *_floats([up.flat[k], down.flat[k]])])
            elif point.kind == "window":
                mean, sem = point.arrays["mean"], point.arrays["sem"]
                converged = point.arrays["converged"]
                self.shape = list(mean.shape)
                k = min(self.device, mean.size - 1)
                windows.append([point.step, *_floats([mean.flat[k], sem.flat[k]]), bool(converged.flat[k])])
                newest = {
                    "pair": point.step,
                    "mean": _floats(mean),
                    "sem": _floats(sem),
                    "step_size": _floats(point.arrays["step_size"]),
                    "converged": [bool(c) for c in converged.ravel()],
                }
        return {
            "shape": self.shape,
            "device": self.device,
            "pairs": pairs,
            "windows": windows,
            "estimates": newest,
        }


class JumpTableView(View):
    """Reads of every device by step, and the steps: (conductance before, change, direction).

    A step is the change from a device's read at step k (or the fresh read a resumed run took
    there) to its read at step k+1; a lost train leaves its steps out.
    """

    name = "jump-table"
    ARRAYS = frozenset({"jump_start", "jump", "jump_train", "jump_resume"})

    def __init__(self, device: int = 0):
        super().__init__(device)
        self.last: dict[int, tuple[int, float]] = {}  # device -> (step, read) that starts the next step

    def _read(self, device: int, step: int, g: float, sign: int, reads: list, steps: list) -> None:
        before = self.last.get(device)
        if np.isfinite(g):
            reads.append([device, step, g])
            if before is not None and before[0] == step - 1 and sign != 0:
                steps.append([device, before[1], g - before[1], sign])
            self.last[device] = (step, g)

    def feed(self, points: list[Point]) -> dict[str, Any]:
        reads: list[list[Any]] = []
        steps: list[list[Any]] = []
        noise = None
        for point in points:
            step = int(point.step or 0)
            if point.kind == "jump_start":
                noise = _floats(point.arrays["read_noise"])
                for d, g in enumerate(point.arrays["g"]):
                    self._read(d, 0, float(g), 0, reads, steps)
            elif point.kind == "jump":
                for d, g in enumerate(point.arrays["g"]):
                    self._read(d, step, float(g), int(point.scalars["direction"]), reads, steps)
            elif point.kind == "jump_train":
                device, sign = int(point.scalars["device"]), int(point.scalars["direction"])
                for i, g in enumerate(point.arrays["g"]):
                    self._read(device, step + i, float(g), sign, reads, steps)
            elif point.kind == "jump_resume":
                fresh = point.arrays["g"]
                devices = [int(point.scalars["device"])] if "device" in point.scalars else range(fresh.size)
                for d, g in zip(devices, fresh.ravel(), strict=True):
                    self.last[d] = (step, float(g))  # the fresh read starts the next step
        return {"reads": reads, "steps": steps, "read_noise": noise}


class TrainingView(View):
    """Every evaluated epoch of every algorithm (accuracies as fractions, losses in nats)."""

    name = "train"
    FIELDS = ("epoch", "test_accuracy", "train_accuracy", "train_loss", "test_loss", "seconds")

    def feed(self, points: list[Point]) -> dict[str, Any]:
        epochs = []
        for point in points:
            if point.kind == "epoch":
                row = {"algorithm": point.scalars.get("algorithm", "")}
                row |= {k: point.scalars.get(k) for k in self.FIELDS}
                epochs.append(row)
        return {"epochs": epochs}


VIEWS: dict[str, type[View]] = {
    "symmetry-point": SymmetryView,
    "jump-table": JumpTableView,
    "train": TrainingView,
}


def view_for(protocol: str, device: int = 0) -> View:
    """The view of a run of `protocol`; device: the flat index a symmetry view follows."""
    return VIEWS.get(protocol, View)(device)
