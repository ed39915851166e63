"""What the sweep tests send to workers: importable by the worker processes (by reference)."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocols.sweep.devices import DeviceSource
from protocols.sweep.runner import run_point
from protocols.sweep.spec import PointTask


@dataclass(frozen=True)
class KillOnce:
    """A point runner that kills its own worker process (SIGKILL, as the kernel's out-of-memory
    killer would) the first time it starts point `index`, after writing its pid to `marker`."""

    marker: str
    index: int

    def __call__(self, task: PointTask, devices: DeviceSource) -> dict[str, Any]:
        marker = Path(self.marker)
        if task.index == self.index and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return run_point(task, devices)
