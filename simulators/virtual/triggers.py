"""Trigger cables between virtual instruments, and what happens at the chip meanwhile.

A trigger cable carries a pulse (`TriggerPulse`): it starts at `start` (seconds on the clock of
the instrument whose trigger model sent it, the 2450's), lasts `width`, and is active low (a
falling edge, then a rising one) or active high. A line driven as a plain digital output (the
2450's trigger-model Digital I/O block) carries single level changes instead (`LineEdge`). A
receiver detects the edge its input is set to (falling, rising or either) at that edge's time.

What a receiver starts takes time at the chip, and a reading integrated meanwhile is wrong on a
real bench: relays that are still bouncing or closing (`RELAYS`: the reading sees an open
circuit for the part of its integration before the relays settled), a gate pulse that is still
on (`PULSE`: the pulse couples into the channel). A receiver returns these as `Disturbance`
windows on the sender's clock; the 2450 keeps them and spoils, and counts, every reading whose
integration starts before a window has ended (simulators.virtual.keithley2450).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Edge(StrEnum):
    FALLING = "falling"
    RISING = "rising"
    EITHER = "either"


@dataclass(frozen=True)
class TriggerPulse:
    """A pulse on a trigger line: start (s, sender's clock), width (s), active_low."""

    start: float
    width: float = 10e-6
    active_low: bool = True

    def edges(self, detect: Edge) -> list[float]:
        """Times (s) of the edges a detector set to `detect` sees, in order."""
        first, second = self.start, self.start + self.width
        falling, rising = (first, second) if self.active_low else (second, first)
        if detect is Edge.FALLING:
            return [falling]
        if detect is Edge.RISING:
            return [rising]
        return [first, second]


@dataclass(frozen=True)
class LineEdge:
    """One level change on a line driven as a digital output (not a pulse): at `at` seconds on
    the sender's clock, falling (high to low) or rising. A detector sees it only if it detects
    that edge."""

    at: float
    falling: bool

    def edges(self, detect: Edge) -> list[float]:
        """[at] if a detector set to `detect` sees this edge, else []."""
        if detect is Edge.EITHER or (detect is Edge.FALLING) == self.falling:
            return [self.at]
        return []


Signal = TriggerPulse | LineEdge
"""What a trigger cable carries: a trigger pulse (two edges) or a single level change."""


class Kind(StrEnum):
    RELAYS = "relays settling"
    PULSE = "gate pulse on"


@dataclass(frozen=True)
class Disturbance:
    """From `start` to `end` (s, sender's clock) a reading comes out wrong; `volts`: the peak
    gate voltage of a pulse (0 for relays)."""

    kind: Kind
    start: float
    end: float
    volts: float = 0.0
