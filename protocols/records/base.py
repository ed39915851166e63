"""The typed record of one stored point: what a protocol writes and every reader reads back.

A record is a frozen dataclass whose fields are the point's step and values. Stored, a point
is a row of the run store (hil.store): a kind, a step, arrays as .npy blobs and everything
else as JSON. Which fields go in as arrays a record declares (ARRAYS), so that the store, which
decides by type, keeps each array's dtype and shape exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np

from hil.recording import Point, Recorder

__all__ = ["Record", "Row"]


@dataclass(frozen=True)
class Row:
    """One point as a Recorder takes it: kind, step and named values."""

    kind: str
    step: int | None
    values: dict[str, Any]


class Record:
    """Base of the typed records. Subclasses are frozen dataclasses (eq=False: this class
    compares arrays by value) with a KIND, an optional field `step` (the point's step) and
    their values as the other fields, those named in ARRAYS stored as arrays. A value field
    whose default is None is left out of the row while None, so adding an optional field does
    not change the rows of the records that leave it unset."""

    KIND: ClassVar[str]
    ARRAYS: ClassVar[tuple[str, ...]] = ()

    def to_row(self) -> Row:
        values: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.name == "step" or (value is None and f.default is None):
                continue
            values[f.name] = np.asarray(value) if f.name in self.ARRAYS else value
        return Row(self.KIND, getattr(self, "step", None), values)

    @classmethod
    def from_row(cls, point: Point) -> Self:
        """The record of a stored point; ValueError if the point is of another kind or lacks a
        field the record needs."""
        if point.kind != cls.KIND:
            raise ValueError(f"point {point.seq} is a {point.kind!r} point, not {cls.KIND!r}")
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            stored = point.arrays if f.name in cls.ARRAYS else point.scalars
            if f.name == "step":
                values["step"] = point.step
            elif f.name in stored:
                values[f.name] = stored[f.name]
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{cls.KIND!r} point {point.seq} has no {f.name!r}")
        return cls(**values)

    @classmethod
    def read(cls, points: Iterable[Point]) -> list[Self]:
        """The records of this kind among points, in their order."""
        return [cls.from_row(p) for p in points if p.kind == cls.KIND]

    def write(self, recorder: Recorder) -> None:
        """Commit this record as one point."""
        row = self.to_row()
        recorder.record(row.kind, row.step, **row.values)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(
            _same(getattr(self, f.name), getattr(other, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
        )

    __hash__ = None  # type: ignore[assignment]  # records hold arrays


def _same(a: Any, b: Any) -> bool:
    """Equal values; arrays equal in dtype, shape and every element (NaN equals NaN)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    return bool(a == b)
