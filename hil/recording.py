"""What a protocol records through: every measured point, as it is measured.

A stored run (hil.store.Run) is a Recorder; NullRecorder drops everything (scripts, tests).
"""

from __future__ import annotations

from typing import Any, Protocol


class Recorder(Protocol):
    def record(self, kind: str, step: int | None = None, /, **values: Any) -> None:
        """Commit one point: numpy arrays are stored as arrays, other values as JSON."""
        ...

    def checkpoint(self, state: dict[str, Any]) -> None:
        """Commit what a resumed run needs to continue without repeating applied pulses."""
        ...


class NullRecorder:
    """Records nothing."""

    def record(self, kind: str, step: int | None = None, /, **values: Any) -> None:
        return None

    def checkpoint(self, state: dict[str, Any]) -> None:
        return None
