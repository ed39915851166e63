"""The records of a comparison between a bench and its model (protocols.compare).

A `hil compare` run stores one "compare_quantity" point per compared quantity, in the order of
the report; its summary holds the same numbers and the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from protocols.records.base import Record


@dataclass(frozen=True, eq=False)
class CompareQuantity(Record):
    """One quantity measured by the same protocol on the bench and on the model: the values and
    their standard errors (in `unit`), the residual model − bench, the combined uncertainty
    hypot(bench_se, model_se), z = residual / uncertainty and whether |z| <= z_limit."""

    KIND: ClassVar[str] = "compare_quantity"

    name: str
    unit: str
    bench: float
    bench_se: float
    model: float
    model_se: float
    residual: float
    uncertainty: float
    z: float
    inside: bool
