"""The record of a resume: where a stopped run was continued, and on which chip.

Whatever resumes a stored run writes one "resume" point before the protocol goes on, so that a
run's history says where it stood still: learning curves mark it, and a reader can tell a
simulated chip that continued as the run left it (chip_restored) from one that started afresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from protocols.records.base import Record


@dataclass(frozen=True, eq=False)
class ResumeRecord(Record):
    """One resume. chip_restored: a simulated chip's stored state was put back (False on a real
    bench, whose chip kept its own state, and for a simulated chip of a run stored without one)."""

    KIND: ClassVar[str] = "resume"

    chip_restored: bool
