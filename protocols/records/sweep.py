"""The stored points of a sweep (protocols.sweep).

sweep_point   step = the point's index in the expanded sweep: its key (a hash of everything
              that defines it), algorithm, status ("completed" or "failed"), coordinates on
              the sweep's axes, the full resolved configuration (device, algorithm, data set,
              network), final metrics (accuracies as fractions, losses in nats), the test
              accuracy after every epoch, seconds on the worker, which worker ran it and its
              thread limits, and the error of a failed point; all as JSON

A sweep is one stored run; its points are the results that came back from the workers, each
written once by the client (hil sweep): a resume reads them back to skip the finished points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from protocols.records.base import Record


@dataclass(frozen=True, eq=False)
class SweepPoint(Record):
    """One point of a sweep: a training on a simulated chip, or a failure in plain words."""

    KIND: ClassVar[str] = "sweep_point"
    step: int
    key: str
    algorithm: str
    status: str
    coords: dict[str, Any]
    config: dict[str, Any]
    metrics: dict[str, Any]
    curve: list[float]
    seconds: float
    worker: str
    threads: dict[str, Any]
    error: str | None = None
    cpu_seconds: float | None = None

    @property
    def completed(self) -> bool:
        return self.status == "completed"
