"""Instrument time: how long a virtual instrument's commands take on the instrument itself.

Transport latency (server.Faults.latency) is the time a message spends on the wire. This is the
time the instrument is busy carrying it out, computed from its own settings: a 2450 reading
integrates NPLC / line frequency, a trigger-model delay block waits its delay, a 33500B burst
of n cycles lasts n periods, a switching command waits until its relays have settled.

Every VirtualInstrument has an InstrumentClock. While it executes a message the instrument
`spend`s those seconds; the clock keeps the running total (`elapsed`), what the current message
spent (`busy`) and the sum of that over all messages (`busy_total`). The LineServer then waits
busy x `scale` wall seconds before it replies or reads the next message, as the instrument would
be busy. scale 0 (the default) waits nothing; the accounting runs anyway, and the 2450's reading
timestamps come from it.

Work another instrument starts over a trigger cable (the 2450's trigger model firing the 33500B
or stepping the 707B) is spent from that instrument's thread: it adds to `elapsed` but not to
`busy`, because it runs while the sender waits (its delay block) and the sender accounts that.
So the instruments' `busy_total`s add up to the instrument time a client talking to them in
turn waits for, while their `elapsed` times may overlap.
"""

from __future__ import annotations

import math
import threading

# Keithley 707B with 7174A-style matrix cards: seconds from a switching command until its relays
# have settled. The 707B reference manual (707B-901-01 Rev. B, section 2, "Using sequential
# connect") works its timing example with 4 ms per channel close; with sequential connect off (the
# default) a card closes several channels at once, and "if a relay does not change state, the
# matrix ready signal does not include the relay settle time" (appendix B). So: one settle time
# per command that moves at least one relay, none for a command that moves none. The 7174A data
# sheet's own actuation time could not be checked here; set yours if it differs.
SETTLE_707B = 4e-3
# The serial relay board: an Arduino-class board driving Songle SRD-05VDC-SL-C relays (the common
# relay module), operate and release time at most 10 ms (Songle data sheet, as quoted e.g. at
# https://www.beemong.com/?p=6619). The board replies once its relays have settled
# (docs/serial-relay-protocol.md); the relays of one command move together, as on the 707B.
SETTLE_RELAY_BOARD = 10e-3


class InstrumentClock:
    """Seconds of instrument time: `elapsed` since the instrument was made, `busy` in the message
    being (or last) executed by the thread that started it, `busy_total` in all messages so far;
    `scale`: wall seconds the server waits per busy second (0 = none, 1.0 = real time)."""

    def __init__(self) -> None:
        self.elapsed = 0.0
        self.busy = 0.0
        self.busy_total = 0.0
        self.scale = 0.0
        self._owner: int | None = None  # the thread executing the current message
        self._lock = threading.Lock()  # a trigger cable spends from another instrument's thread

    def start_message(self) -> None:
        """A message starts executing in the calling thread."""
        with self._lock:
            self.busy = 0.0
            self._owner = threading.get_ident()

    def spend(self, seconds: float) -> None:
        """The instrument works `seconds` (>= 0) more; part of the current message's busy time
        only if spent by the thread executing that message (module docstring)."""
        if not 0.0 <= seconds < math.inf:
            raise ValueError(f"instrument time must be finite and >= 0 seconds, got {seconds!r}")
        with self._lock:
            self.elapsed += seconds
            if threading.get_ident() == self._owner:
                self.busy += seconds
                self.busy_total += seconds

    @property
    def wait(self) -> float:
        """Wall seconds the server waits for the current message: busy x scale."""
        return self.busy * self.scale
