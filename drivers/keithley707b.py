"""Keithley 707B switching matrix (TSP) with 7174A-style 8 x 12 matrix cards, as a SwitchMatrix.

Commands follow the Models 707B and 708B Switching Matrix Reference Manual (707B-901-01),
section 7 "TSP command reference": channel.close(), channel.open(), channel.getclose(),
errorqueue. A crosspoint is named "<slot><row letter><column>", e.g. "1A01"; chip lines run
across cards: chip line 13 is column 1 of the card in slot 2.
"""

from __future__ import annotations

import re
from typing import Any

from pymeasure.instruments import Instrument

from drivers.errors import InstrumentError, TspErrorQueue
from drivers.roles import SwitchMatrix, check_whole

ROW_LETTERS = "ABCDEFGH"
COLUMNS_PER_CARD = 12
_CHANNEL = re.compile(r"^([1-6])([A-H])(\d{2})$")


class Keithley707B(Instrument, TspErrorQueue, SwitchMatrix):
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
        self.write(f'channel.close("{name}")')
        self.raise_on_errors(f"closing {name}")

    def open_crosspoint(self, row: int, col: int) -> None:
        name = self.channel_name(*self._check_crosspoint(row, col))
        self.write(f'channel.open("{name}")')
        self.raise_on_errors(f"opening {name}")

    def open_all(self) -> None:
        self.write('channel.open("allslots")')
        self.raise_on_errors("opening all channels")

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
