"""Virtual Keithley 707B switching matrix (TSP), wired to a VirtualChip.

The mainframe holds up to six 8 x 12 matrix cards (7174A-like). Channel "1A03" is slot 1,
row A, column 03. Rows A..H are shared by all slots (the backplane) and connect to the bench
terminals given by `rows` (row A to rows[0], ...); a row without a terminal is a spare row.
Column c of slot s is chip pad (s-1)*12 + c; columns past the chip's last pad are unbonded.
Enough slots are fitted to reach every pad (at most six: pads beyond 72 are not on this
matrix), or the number asked for (a bench file's ``slots`` option of the keithley707b driver).

Understood (see docs/virtual-bench.md): ``channel.close``, ``channel.open``,
``channel.exclusiveclose``, ``channel.exclusiveslotclose``, ``channel.getclose``,
``channel.reset``, ``reset()``, ``waitcomplete()``, ``errorqueue.count``,
``errorqueue.next()``, ``errorqueue.clear()``, ``localnode.model``, ``localnode.serialno``,
``localnode.revision``, ``print(...)``, and the common commands ``*IDN?``, ``*RST``,
``*CLS``, ``*OPC?``, ``*OPC``, ``*WAI``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from simulators.virtual.scpi import ErrorQueue
from simulators.virtual.server import VirtualInstrument
from simulators.virtual.tsp import TspError, TspRuntime
from simulators.virtual.wiring import DEFAULT_ROWS, VirtualChip

ROW_LETTERS = "ABCDEFGH"
COLUMNS_PER_SLOT = 12
MAX_SLOTS = 6
_CHANNEL = re.compile(r"([1-6])([A-Ha-h])(\d\d)")
# Severity the 707B gives user errors (20: recoverable, invalid user input).
_RECOVERABLE = 20.0

Crosspoint = tuple[int, int, int]  # slot, row index 0..7, column 1..12


def channel_name(slot: int, row: int, column: int) -> str:
    """'1A03' for slot 1, row index 0 (A), column 3."""
    return f"{slot}{ROW_LETTERS[row]}{column:02d}"


def channel_for(row: int, pad: int) -> str:
    """The 707B channel joining matrix row `row` (1-based: 1 = A) to chip pad `pad`."""
    if not 1 <= row <= len(ROW_LETTERS):
        raise ValueError(f"707B rows are 1..8 (A..H), got {row}")
    if not 1 <= pad <= MAX_SLOTS * COLUMNS_PER_SLOT:
        raise ValueError(f"707B columns reach pads 1..{MAX_SLOTS * COLUMNS_PER_SLOT}, got {pad}")
    slot, column = divmod(pad - 1, COLUMNS_PER_SLOT)
    return channel_name(slot + 1, row - 1, column + 1)


def _param_error(detail: str) -> TspError:
    return TspError(1115, f"Parameter error {detail}")


class Keithley707B(VirtualInstrument):
    """TSP switch matrix; every change of the closed set is pushed to the chip at once."""

    kind = "keithley707b"
    queue_injected_first = True

    def __init__(self, chip: VirtualChip, rows: Sequence[str | None] = DEFAULT_ROWS,
                 serial: str = "04440707", firmware: str = "01.60a", slots: int | None = None):
        super().__init__()
        if len(rows) > len(ROW_LETTERS):
            raise ValueError(f"the 707B has 8 rows (A..H); got {len(rows)} row assignments")
        self.chip = chip
        self.rows = tuple(rows)
        # A chip with more pads than six cards reach keeps the rest off this matrix (route it
        # with the relay board); a bench file that needs them fails its driver's reach check.
        needed = min(-(-chip.pins.n_pads // COLUMNS_PER_SLOT), MAX_SLOTS)
        if slots is not None and not needed <= slots <= MAX_SLOTS:
            raise ValueError(f"{slots} cards do not reach the chip's {chip.pins.n_pads} pads: fit "
                             f"{needed} to {MAX_SLOTS}")
        #: cards fitted, in slots 1..slots (default: as many as the chip's pads need, at most 6)
        self.slots = needed if slots is None else slots
        self.serial, self.firmware = serial, firmware
        self.errors = ErrorQueue(capacity=100)
        self.closed: set[Crosspoint] = set()
        self.runtime = TspRuntime(
            functions={
                "channel.close": self._close,
                "channel.open": self._open,
                "channel.exclusiveclose": self._exclusive_close,
                "channel.exclusiveslotclose": self._exclusive_slot_close,
                "channel.getclose": self._getclose,
                "channel.reset": self._channel_reset,
                "reset": self._reset,
                "waitcomplete": lambda *a: (),
                "errorqueue.next": self._next_error,
                "errorqueue.clear": self._clear_errors,
            },
            getters={
                "errorqueue.count": lambda: float(len(self.errors)),
                "localnode.model": lambda: "707B",
                "localnode.serialno": lambda: self.serial,
                "localnode.revision": lambda: self.firmware,
            },
        )

    # ------------------------------------------------------------------ wire
    def handle(self, line: str) -> str | None:
        text = line.strip()
        if not text:
            return None
        if text.startswith("*"):
            return self._common(text)
        try:
            output = self.runtime.run(text)
        except TspError as err:
            self.errors.push(err.code, err.message)
            return None
        return "\n".join(output) if output else None

    def report_error(self, code: int, message: str, reply: str | None) -> str | None:
        self.errors.push(code, message)
        return reply

    def _common(self, text: str) -> str | None:
        command = text.upper()
        if command == "*IDN?":
            return f"Keithley Instruments Inc., Model 707B, {self.serial}, {self.firmware}"
        if command == "*RST":
            self._reset()
        elif command == "*CLS":
            self.errors.clear()
        elif command == "*OPC?":
            return "1"
        elif command not in ("*OPC", "*WAI"):
            self.errors.push(-113, "Undefined header")
        return None

    # ------------------------------------------------------------------ channel lists
    def _parse(self, channel_list: object, allow_slots: bool = True) -> set[Crosspoint]:
        if not isinstance(channel_list, str):
            raise _param_error("channel list must be a string")
        items = [s.strip() for s in re.split(r"[,;]", channel_list) if s.strip()]
        if not items:
            raise _param_error("no valid channels in channel list")
        found: set[Crosspoint] = set()
        for item in items:
            low = item.lower()
            if low == "allslots" or re.fullmatch(r"slot[1-6]", low):
                if not allow_slots:
                    raise _param_error(f"'{item}' not allowed here")
                slots = range(1, self.slots + 1) if low == "allslots" else [int(low[4])]
                for slot in slots:
                    self._check_slot(slot, item)
                    found |= {(slot, r, c) for r in range(8) for c in range(1, COLUMNS_PER_SLOT + 1)}
            elif ":" in item:
                first, last = (self._channel(p.strip()) for p in item.split(":", 1))
                if first[0] != last[0] or first[1] > last[1] or first[2] > last[2]:
                    raise _param_error(f"invalid channel range '{item}'")
                found |= {(first[0], r, c) for r in range(first[1], last[1] + 1)
                          for c in range(first[2], last[2] + 1)}
            else:
                found.add(self._channel(item))
        return found

    def _channel(self, text: str) -> Crosspoint:
        m = _CHANNEL.fullmatch(text)
        if m is None:
            raise _param_error(f"invalid channel '{text}'")
        slot, row, column = int(m.group(1)), ROW_LETTERS.index(m.group(2).upper()), int(m.group(3))
        self._check_slot(slot, text)
        if not 1 <= column <= COLUMNS_PER_SLOT:
            raise _param_error(f"invalid channel '{text}'")
        return slot, row, column

    def _check_slot(self, slot: int, text: str) -> None:
        if slot > self.slots:
            raise _param_error(f"slot {slot} is empty ('{text}')")

    def _apply(self, closed: set[Crosspoint]) -> None:
        self.closed = closed
        pairs = []
        for slot, row, column in closed:
            spare = row >= len(self.rows) or self.rows[row] is None
            node = f"707B.row{ROW_LETTERS[row]}" if spare else self.rows[row]
            pad = (slot - 1) * COLUMNS_PER_SLOT + column
            pairs.append((node, pad if pad <= self.chip.pins.n_pads else f"707B.col{pad}"))
        self.chip.set_crosspoints(self.kind, pairs)

    # ------------------------------------------------------------------ TSP functions
    def _close(self, channel_list: object = None) -> tuple[object, ...]:
        self._apply(self.closed | self._parse(channel_list, allow_slots=False))
        return ()

    def _open(self, channel_list: object = None) -> tuple[object, ...]:
        self._apply(self.closed - self._parse(channel_list))
        return ()

    def _exclusive_close(self, channel_list: object = None) -> tuple[object, ...]:
        self._apply(self._parse(channel_list, allow_slots=False))
        return ()

    def _exclusive_slot_close(self, channel_list: object = None) -> tuple[object, ...]:
        wanted = self._parse(channel_list, allow_slots=False)
        slots = {s for s, _, _ in wanted}
        self._apply({x for x in self.closed if x[0] not in slots} | wanted)
        return ()

    def _getclose(self, channel_list: object = None) -> tuple[object, ...]:
        scope = self._parse(channel_list)
        names = [channel_name(*x) for x in sorted(self.closed & scope)]
        return (";".join(names) if names else None,)

    def _channel_reset(self, channel_list: object = None) -> tuple[object, ...]:
        return self._open(channel_list)

    def _reset(self, *args: object) -> tuple[object, ...]:
        self._apply(set())
        return ()

    def _next_error(self) -> tuple[object, ...]:
        if not len(self.errors):
            return 0.0, "Queue Is Empty", 0.0, 1.0
        code, message = self.errors.pop()
        return float(code), message, _RECOVERABLE, 1.0

    def _clear_errors(self) -> tuple[object, ...]:
        self.errors.clear()
        return ()
