"""The stored points of a symmetry-point search (protocols.symmetry), siemens.

    symmetry_start  g (rows, cols): the read before the first pulse
    pair    step = pairs done: g_up, g_down (rows, cols) the reads after the pair's up pulse and
            after its down pulse (only the pairs read: every read_every-th of the plan)
    window  step = pairs done at the window's end: mean, sem (rows, cols) the windowed mean of
            the pair midpoints and its standard error, step_size (rows, cols) the mean |ΔG| of
            one pulse over the window, converged (rows, cols) bool

The search's settings are the checkpoint of scope SCOPE (SymmetryPlan), written with the start
read; a resume replays the pairs through the same estimator, so it needs both. Each window's
relaxation time is not stored (the replay recomputes it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import NDArray

from hil.backend import FloatArray
from hil.pulses import PulsePair, as_pulse_pair, pulse_from_state, pulse_state
from hil.recording import Checkpoint
from protocols.records.base import Record

SCOPE = "symmetry_point"  # checkpoint scope of the plan


@dataclass(frozen=True, eq=False)
class Start(Record):
    """The read of every device before the first pulse."""

    KIND: ClassVar[str] = "symmetry_start"
    ARRAYS: ClassVar[tuple[str, ...]] = ("g",)
    g: FloatArray


@dataclass(frozen=True)
class SymmetryPlan:
    """What a search pulses and how it estimates: the array's shape, the pulses (volts, seconds),
    the pair budget, the window (pairs), the drift tolerance (siemens, None: automatic), how
    often the array is read (every read_every-th pair; window and read_every both None:
    automatic sampling) and the precision it averages to after convergence (siemens, None:
    stop at convergence)."""

    shape: tuple[int, int]
    pulse: PulsePair  # a Pulse given here is stored as PulsePair.symmetric(pulse)
    max_pairs: int
    window: int | None
    tolerance: float | None
    read_every: int | None = 1
    precision: float | None = None

    def __post_init__(self) -> None:
        # A plain Pulse is the same pulse for both polarities: one form, so plans compare equal.
        object.__setattr__(self, "pulse", as_pulse_pair(self.pulse))

    def to_state(self) -> dict[str, Any]:
        """The checkpoint state of scope SCOPE (JSON-ready)."""
        plan = asdict(self)
        plan["shape"] = list(self.shape)
        plan["pulse"] = pulse_state(self.pulse)
        return {"protocol": "symmetry_point", "plan": plan}

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None) -> Self | None:
        """The plan of a checkpoint state of scope SCOPE; None if it holds none."""
        plan = None if state is None else state.get("plan")
        if plan is None:
            return None
        tolerance = plan["tolerance"]
        precision = plan.get("precision")  # runs stored before it stopped at convergence
        return cls(
            shape=(int(plan["shape"][0]), int(plan["shape"][1])),
            pulse=pulse_from_state(plan["pulse"]),
            max_pairs=int(plan["max_pairs"]),
            window=_int_or_none(plan["window"]),
            tolerance=None if tolerance is None else float(tolerance),
            read_every=_int_or_none(
                plan.get("read_every", 1)
            ),  # runs stored before sparse reads read every pair
            precision=None if precision is None else float(precision),
        )

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint | None) -> Self | None:
        return None if checkpoint is None else cls.from_state(checkpoint.state(SCOPE))


@dataclass(frozen=True, eq=False)
class Pair(Record):
    """The reads after the up and after the down pulse of pair `step` (1-based)."""

    KIND: ClassVar[str] = "pair"
    ARRAYS: ClassVar[tuple[str, ...]] = ("g_up", "g_down")
    step: int
    g_up: FloatArray
    g_down: FloatArray


@dataclass(frozen=True, eq=False)
class Window(Record):
    """The estimates of the window ending at pair `step`."""

    KIND: ClassVar[str] = "window"
    ARRAYS: ClassVar[tuple[str, ...]] = ("mean", "sem", "step_size", "converged")
    step: int
    mean: FloatArray
    sem: FloatArray
    step_size: FloatArray
    converged: NDArray[np.bool_]


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def stack(records: Sequence[Record], name: str) -> np.ndarray:
    """The field `name` of records stacked along a new first axis."""
    return np.array([getattr(r, name) for r in records])
