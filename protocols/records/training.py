"""The stored points of a training (protocols.training).

epoch   step = epoch: algorithm (its checkpoint scope, e.g. "shd") and the fields of
        protocols.training.result.EpochRecord (losses in nats, accuracies as fractions,
        seconds), all as JSON
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar, Self

from hil.recording import Point
from protocols.records.base import Record, Row
from protocols.training.result import EpochRecord


@dataclass(frozen=True, eq=False)
class Epoch(Record):
    """The evaluation after an epoch of one algorithm."""

    KIND: ClassVar[str] = "epoch"
    algorithm: str
    record: EpochRecord

    def to_row(self) -> Row:
        return Row(self.KIND, self.record.epoch, {"algorithm": self.algorithm, **asdict(self.record)})

    @classmethod
    def from_row(cls, point: Point) -> Self:
        if point.kind != cls.KIND:
            raise ValueError(f"point {point.seq} is a {point.kind!r} point, not {cls.KIND!r}")
        values = dict(point.scalars)
        algorithm = values.pop("algorithm")
        return cls(algorithm, EpochRecord(**values))
