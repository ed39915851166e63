"""Stretching a VISA read timeout while the instrument runs a long sequence on its own."""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Slack on top of the expected duration: bus latency, trigger latency, settling.
MARGIN_S = 2.0


@contextmanager
def timeout_at_least(instrument: Any, seconds: float) -> Iterator[None]:
    """Raise the VISA timeout to at least `seconds` + MARGIN_S for the block, then restore it.

    A burst or list sweep that outlasts the timeout would raise a timeout error while the
    instrument is still working correctly. Connections without a numeric `timeout` in
    milliseconds (pyvisa's None means no timeout) are left alone.
    """
    connection = getattr(instrument.adapter, "connection", None)
    old = getattr(connection, "timeout", None)
    if isinstance(old, bool) or not isinstance(old, numbers.Real):
        yield
        return
    needed_ms = (seconds + MARGIN_S) * 1000.0
    if needed_ms > old:
        connection.timeout = needed_ms
    try:
        yield
    finally:
        connection.timeout = old
