"""Keithley 707B switching matrix (TSP) with 7174A-style 8 x 12 matrix cards, as a SwitchMatrix.

Commands follow the Models 707B and 708B Switching Matrix Reference Manual (707B-901-01),
section 7 "TSP command reference": channel.close(), channel.open(), channel.exclusiveclose(),
channel.getclose(), waitcomplete(), errorqueue. A crosspoint is named "<slot><row letter>
<column>", e.g. "1A01"; chip lines run across cards: chip line 13 is column 1 of the card in
slot 2.

Every switching command is one query: the channel function, `waitcomplete()` (returns once
the relays have settled, TSP's *WAI) and `print(errorqueue.count)` on one line, which TSP runs
as one chunk. The reply therefore both confirms completion and says whether the instrument
queued an error. A runtime error stops the chunk before the print; the query then times out
and the driver reads the error queue to say why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pymeasure.instruments import Instrument
from pyvisa.errors import VisaIOError

from drivers.attributes import FastAttributeAccess
from drivers.errors import InstrumentError, TspErrorQueue
from drivers.roles import SwitchMatrix, check_whole

ROW_LETTERS = "ABCDEFGH"
COLUMNS_PER_CARD = 12
_CHANNEL = re.compile(r"^([1-6])([A-H])(\d{2})$")
# Appended to a switching command: wait for the relays, then report the error count.
SETTLE_AND_COUNT = "waitcomplete() print(errorqueue.count)"


class Keithley707B(FastAttributeAccess, Instrument, TspErrorQueue, SwitchMatrix):
    """Keithley 707B: rows A-H are instrument lines 1-8; `slots` cards give 12 chip lines each.

    slots: number of matrix cards, installed in slots 1..slots. Other keyword arguments go to
    the VISA connection.
    """

    def __init__(self, adapter: Any, slots: int = 1, name: str = "Keithley 707B", **kwargs: Any):
        self.slots = check_whole(name, "slots", slots, 1, 6)
        kwargs.setdefault("read_termination", "\n")
        kwargs.setdefault("write_termination", "\n")
        super().__init__(adapter, name, includeSCPI=False, **kwargs)

    @property
    def size(self) -> tuple[int, int]:
        return len(ROW_LETTERS), COLUMNS_PER_CARD * self.slots

    @staticmethod
    def channel_name(row: int, col: int) -> str:
        """The 707B name of crosspoint (row, col), both 1-based: (1, 13) -> "2A01"."""
        slot, column = divmod(col - 1, COLUMNS_PER_CARD)
        return f"{slot + 1}{ROW_LETTERS[row - 1]}{column + 1:02d}"

    # ------------------------------------------------------------------ SwitchMatrix role
    def close_crosspoint(self, row: int, col: int) -> None:
        name = self.channel_name(*self._check_crosspoint(row, col))
        self.switch(f'channel.close("{name}")', f"closing {name}")

    def open_crosspoint(self, row: int, col: int) -> None:
        name = self.channel_name(*self._check_crosspoint(row, col))
        self.switch(f'channel.open("{name}")', f"opening {name}")

    def open_all(self) -> None:
        self.switch('channel.open("allslots")', "opening all channels")

    def connect_exactly(
        self, points: Iterable[tuple[int, int]], previous: frozenset[tuple[int, int]] | None = None
    ) -> frozenset[tuple[int, int]]:
        """channel.exclusiveclose: closes `points` and opens every other channel in one query
        (`previous` is not needed)."""
        wanted = frozenset(self._check_crosspoint(r, c) for r, c in points)
        if not wanted:
            self.open_all()
            return wanted
        names = ",".join(sorted(self.channel_name(r, c) for r, c in wanted))
        self.switch(f'channel.exclusiveclose("{names}")', f"routing {names}")
        return wanted

    def switch(self, statement: str, context: str) -> None:
        """Run a switching statement, wait for the relays to settle and check the error queue,
        in one query; InstrumentError if the instrument queued an error."""
        try:
            reply = self.ask(f"{statement} {SETTLE_AND_COUNT}")
        except VisaIOError:
            # No reply: a runtime error stopped the line before print(). The queue says why.
            self.raise_on_errors(context)
            raise
        self.raise_on_error_count(reply, context)

    def closed_crosspoints(self) -> frozenset[tuple[int, int]]:
        reply = self.ask('print(channel.getclose("allslots"))').strip()
        if reply in ("nil", ""):  # getclose returns nil when nothing is closed
            return frozenset()
        closed = set()
        for item in re.split(r"[;,]", reply):  # the 707B separates closed channels with ';'
            match = _CHANNEL.match(item.strip())
            if match is None:
                raise InstrumentError(self.name, f"unreadable channel {item!r} in getclose reply {reply!r}")
            slot, letter, column = match.groups()
            closed.add((ROW_LETTERS.index(letter) + 1, (int(slot) - 1) * COLUMNS_PER_CARD + int(column)))
        return frozenset(closed)

    def shutdown(self) -> None:
        """Open every crosspoint on every card."""
        self.open_all()
        super().shutdown()
