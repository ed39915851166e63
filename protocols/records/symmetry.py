"""The stored points of a symmetry-point search (protocols.symmetry), siemens.

    pair    step = pairs done: g_up, g_down (rows, cols) the reads after the pair's up pulse and
            after its down pulse
    window  step = pairs done at the window's end: mean, sem (rows, cols) the windowed mean of
            the pair midpoints and its standard error, step_size (rows, cols) the mean |ΔG| of
            one pulse over the window, converged (rows, cols) bool

The read before the first pulse and each window's relaxation time are not stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from hil.backend import FloatArray
from protocols.records.base import Record


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


def stack(records: Sequence[Record], name: str) -> np.ndarray:
    """The field `name` of records stacked along a new first axis."""
    return np.array([getattr(r, name) for r in records])
