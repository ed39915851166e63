"""The stored points of a training (protocols.training).

epoch   step = epoch: algorithm (its checkpoint scope, e.g. "shd") and the fields of
        EpochRecord (losses in nats, accuracies as fractions, seconds), all as JSON

EpochRecord is defined here, with the row it is stored as, and protocols.training uses it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar, Self

from hil.recording import Point
from protocols.records.base import Record, Row


@dataclass
class EpochRecord:
    """Metrics after `epoch` passes over the training set (epoch 0: before training).

    Losses are mean cross-entropies in nats; accuracies are fractions in [0, 1]. Both sets are
    evaluated with the trained weights as they stand (on the arrays, through VMMs, for the
    analog trainers). running_loss is the mean loss of the samples seen during the epoch
    (None for epoch 0). seconds: wall-clock time of the epoch including its evaluation.
    """

    epoch: int
    train_loss: float
    train_accuracy: float
    test_loss: float
    test_accuracy: float
    running_loss: float | None
    seconds: float


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
