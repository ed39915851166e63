"""The stored points of write-verify programming (protocols.programming).

verify  step = pulse rounds made so far: g the reads of the round's devices after its
        pulses (siemens; all selected devices, or the one device of a serial round),
        counts the signed pulses each of them got in the round (int64)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hil.backend import FloatArray, IntArray
from protocols.records.base import Record


@dataclass(frozen=True, eq=False)
class Verify(Record):
    """One write-verify round: the signed pulses applied and the reads after them."""

    KIND: ClassVar[str] = "verify"
    ARRAYS: ClassVar[tuple[str, ...]] = ("g", "counts")
    step: int
    g: FloatArray
    counts: IntArray
