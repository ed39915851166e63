"""What the two virtual switch matrices share: rows wired to bench terminals, and relays that
move together and settle before the matrix answers again."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Sequence

from simulators.virtual.server import VirtualInstrument
from simulators.virtual.wiring import DEFAULT_ROWS, VirtualChip


class SwitchMatrix(VirtualInstrument):
    """Crosspoint relays between bench terminals (rows: row k, 1-based, is ``rows[k-1]``, None
    for a spare row) and chip pads. A change of the closed set keeps the instrument busy for
    `settle` seconds (timing.py): the relays of one command move together, and a command that
    moves none takes no settling time."""

    #: seconds from a switching command until its relays have settled
    settle: float = 0.0
    #: what *IDN? reports (plain attributes: set others on an instance)
    serial: str = ""
    firmware: str = ""

    def __init__(self, chip: VirtualChip, rows: Sequence[str | None] = DEFAULT_ROWS):
        super().__init__()
        self.chip = chip
        self.rows = tuple(rows)
        self.closed: set = set()

    @abstractmethod
    def _crosspoints(self, closed: set) -> Iterable[tuple[str, int | str]]:
        """The (row node, column node) pairs a closed set joins on the chip (VirtualChip.set_crosspoints)."""

    def _apply(self, closed: set) -> None:
        """Close exactly `closed`; the chip sees the new routing at once."""
        if closed != self.closed:
            self.clock.spend(self.settle)
        self.closed = closed
        self.chip.set_crosspoints(self.kind, self._crosspoints(closed))
