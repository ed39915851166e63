"""Programming a pulse shape without passing through settings the generator would refuse.

Both pulse generators (33500B, 81150A) require period >= width + 1.6 x edge time at every
moment and high level > low level; a write that breaks either is rejected or silently
adjusted by the instrument. These helpers order the writes so that every intermediate state
is valid. They work on any channel object with the properties pulse_period, pulse_width,
voltage_high, voltage_low and polarity.
"""

from __future__ import annotations

from typing import Any

from drivers.errors import UnreadableReply


def set_timing(
    channel: Any,
    width: float,
    period: float,
    *,
    edge_time: float,
    instrument: str,
    present: float | None = None,
    min_gap: float = 0.0,
) -> None:
    """Write width and period (seconds); the present period (seconds) chooses the order, and
    is asked from the instrument when the caller does not know it. edge_time: seconds of each
    edge; instrument: the name errors give. min_gap: the least period - width the instrument
    accepts besides the edges (the 33500B's 16 ns), so that the width written first also fits
    the present period."""
    if present is None:
        reply = channel.pulse_period
        try:
            present = float(reply)
        except (TypeError, ValueError):
            raise UnreadableReply(instrument, f"unreadable pulse period reply {reply!r}") from None
    if width + max(1.6 * edge_time, min_gap) <= present:
        channel.pulse_width = width  # fits the present period; the new period then fits it
        channel.pulse_period = period
    else:
        channel.pulse_period = period  # longer than the present width + edges, so valid first
        channel.pulse_width = width


def set_levels(channel: Any, amplitude: float, polarity: int) -> None:
    """Pulses from 0 V to +amplitude (normal output) or to -amplitude (inverted output).

    Negative pulses use levels high 0 V, low -amplitude with the output inverted about the
    offset: the waveform then rests at 0 V and dips to -amplitude. Writing the level that moves
    away from 0 V first keeps high > low whenever the previous levels straddled 0 V, as every
    shape set here and the instruments' reset defaults do.
    """
    if polarity > 0:
        channel.voltage_high = amplitude
        channel.voltage_low = 0.0
        channel.polarity = "NORM"
    else:
        channel.voltage_low = -amplitude
        channel.voltage_high = 0.0
        channel.polarity = "INV"
