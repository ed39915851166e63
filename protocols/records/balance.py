"""The stored points of a pulse-balancing search (protocols.balance).

    balance_point  step = measurement number (1-based): value (volts or seconds, the down
                   pulse's amplitude or width), pairs (int), g_sym, g_sym_std (rows, cols,
                   siemens), responsive, converged (rows, cols, bool)

The search's settings and pulses are the run's params; the answer is its summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np

from hil.backend import FloatArray
from protocols.records.base import Record


@dataclass(frozen=True, eq=False)
class BalancePointRecord(Record):
    """One symmetry-point measurement of the search at one setting of the down pulse."""

    KIND: ClassVar[str] = "balance_point"
    ARRAYS: ClassVar[tuple[str, ...]] = ("g_sym", "g_sym_std", "responsive", "converged")
    step: int
    value: float
    pairs: int
    g_sym: FloatArray
    g_sym_std: FloatArray
    responsive: np.ndarray
    converged: np.ndarray

    @classmethod
    def of(cls, point: Any, step: int) -> Self:
        """The record of measurement number `step`, a protocols.balance.BalancePoint."""
        return cls(
            step,
            float(point.value),
            int(point.pairs),
            point.g_sym,
            point.g_sym_std,
            point.responsive,
            point.converged,
        )
