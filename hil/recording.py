"""What a protocol records through, and what a resumed protocol continues from.

A stored run (hil.store.Run) is a Recorder; NullRecorder drops everything (scripts, tests).
A protocol commits every measured point as it is measured (record) and, where a point alone
does not say how far it got, the digital state it needs to continue (checkpoint). A stopped
run is handed back to the protocol as a Checkpoint (hil.store.RunStore.load_checkpoint).

Checkpoint states are kept per scope, a name the protocol chooses ("jump_table", "shd", ...),
so that one run can hold several protocols (e.g. FP, SGD and SHD trained one after another).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


class Recorder(Protocol):
    def record(self, kind: str, step: int | None = None, /, **values: Any) -> None:
        """Commit one point: numpy arrays are stored as arrays, other values as JSON."""
        ...

    def checkpoint(self, state: dict[str, Any], scope: str = "") -> None:
        """Commit what a resumed run needs to continue without repeating applied pulses.

        The newest state of each scope is the one a resume sees; state must be JSON-ready
        (numpy values are converted).
        """
        ...


class NullRecorder:
    """Records nothing."""

    def record(self, kind: str, step: int | None = None, /, **values: Any) -> None:
        return None

    def checkpoint(self, state: dict[str, Any], scope: str = "") -> None:
        return None


@dataclass(frozen=True)
class Point:
    """One recorded measurement: scalars and arrays under a kind, e.g. 'read' or 'epoch'."""

    seq: int
    kind: str
    step: int | None
    t: float
    scalars: dict[str, Any]
    arrays: dict[str, np.ndarray]


@dataclass(frozen=True)
class Checkpoint:
    """Where a stopped run stands.

    run: the run's uid (for messages).
    states: the newest checkpoint state of each scope.
    points: every point the run committed, in order (those after the newest state too: a
        point is only committed once its measurement was made).
    chip_states: a simulated chip's state (hil.bench.Bench.chip_state) as it was when the newest
        point ("point") and the newest state ("checkpoint") were committed; empty for a chip that
        keeps its own state.
    """

    run: str
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    points: tuple[Point, ...] = ()
    chip_states: dict[str, bytes] = field(default_factory=dict)

    def state(self, scope: str = "") -> dict[str, Any] | None:
        """The newest state committed under scope, or None if the run never checkpointed it."""
        return self.states.get(scope)

    def of_kind(self, kind: str) -> list[Point]:
        return [p for p in self.points if p.kind == kind]
