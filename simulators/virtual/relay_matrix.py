"""Virtual serial relay matrix (an Arduino-class board), served over TCP for pyserial.

pyserial opens it as ``socket://127.0.0.1:PORT``. Line protocol: ASCII, every command and
every reply ends with "\\n" (a trailing "\\r" is ignored), every command gets exactly one
reply line; commands are case-insensitive, arguments separated by spaces, rows and columns
1-based. Row r connects to the bench terminal rows[r-1]; column c is chip pad c.

    *IDN?            -> PROTONIC-HIL,RELAY-MATRIX,<serial>,<firmware>
    CLOSE <row> <col> -> OK
    OPEN <row> <col>  -> OK
    OPENALL          -> OK
    SET <row>:<col>,<row>:<col>,... | SET NONE -> OK   (exactly these closed, all others open)
    CLOSED?          -> <row>:<col>,<row>:<col>,...  (sorted by row, then column) or NONE
    SIZE?            -> <rows>,<cols>
    anything wrong   -> ERR <code> <text>, nothing changes:
                        ERR 1 unknown command ...   (also an empty line)
                        ERR 2 bad arguments ...     (wrong count, not integers)
                        ERR 3 out of range ...      (row or column outside the matrix)

A command that changes the closed set keeps the board busy for timing.SETTLE_RELAY_BOARD (its
relays move together; the reply comes once they have settled); one that moves no relay, none.
"""

from __future__ import annotations

from simulators.virtual.switching import SwitchMatrix
from simulators.virtual.timing import SETTLE_RELAY_BOARD

ERR_UNKNOWN, ERR_ARGUMENTS, ERR_RANGE = 1, 2, 3


class RelayMatrix(SwitchMatrix):
    """len(rows) x n_pads crosspoint relays."""

    kind = "relay_matrix"
    #: an injected error replaces the reply and the command is not executed
    reject_on_injected_error = True
    settle = SETTLE_RELAY_BOARD
    serial, firmware = "RM0001", "1.0"

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    @property
    def n_cols(self) -> int:
        return self.chip.pins.n_pads

    def handle(self, line: str) -> str:
        words = line.split()
        if not words:
            return f"ERR {ERR_UNKNOWN} empty command"
        command, args = words[0].upper(), words[1:]
        if command in ("*IDN?", "OPENALL", "CLOSED?", "SIZE?"):
            if args:
                return f"ERR {ERR_ARGUMENTS} {command} takes no arguments"
            if command == "*IDN?":
                return f"PROTONIC-HIL,RELAY-MATRIX,{self.serial},{self.firmware}"
            if command == "SIZE?":
                return f"{self.n_rows},{self.n_cols}"
            if command == "CLOSED?":
                return ",".join(f"{r}:{c}" for r, c in sorted(self.closed)) or "NONE"
            self._apply(set())
            return "OK"
        if command in ("CLOSE", "OPEN"):
            if len(args) != 2 or not all(a.isdigit() for a in args):
                return f"ERR {ERR_ARGUMENTS} usage: {command} <row> <col> (integers)"
            row, col = int(args[0]), int(args[1])
            if not 1 <= row <= self.n_rows:
                return f"ERR {ERR_RANGE} row {row} out of range 1..{self.n_rows}"
            if not 1 <= col <= self.n_cols:
                return f"ERR {ERR_RANGE} column {col} out of range 1..{self.n_cols}"
            self._apply(self.closed | {(row, col)} if command == "CLOSE" else self.closed - {(row, col)})
            return "OK"
        if command == "SET":
            return self._set(args)
        return f"ERR {ERR_UNKNOWN} unknown command {words[0]}"

    def _set(self, args: list[str]) -> str:
        """SET <row>:<col>,... closes exactly those crosspoints; SET NONE opens all."""
        if len(args) != 1:
            return f"ERR {ERR_ARGUMENTS} usage: SET <row>:<col>,<row>:<col>,... or SET NONE"
        if args[0].upper() == "NONE":
            self._apply(set())
            return "OK"
        wanted = set()
        for item in args[0].split(","):
            row, sep, col = item.partition(":")
            if not (sep and row.isdigit() and col.isdigit()):
                return f"ERR {ERR_ARGUMENTS} SET item {item!r} is not <row>:<col>"
            r, c = int(row), int(col)
            if not 1 <= r <= self.n_rows:
                return f"ERR {ERR_RANGE} row {r} out of range 1..{self.n_rows}"
            if not 1 <= c <= self.n_cols:
                return f"ERR {ERR_RANGE} column {c} out of range 1..{self.n_cols}"
            wanted.add((r, c))
        self._apply(wanted)  # all or nothing: a bad item above changed nothing
        return "OK"

    def report_error(self, code: int, message: str, reply: str | None) -> str:
        return f"ERR {code} {message}"

    def _crosspoints(self, closed: set[tuple[int, int]]) -> list[tuple[str, int]]:
        return [(self.rows[r - 1] or f"relay.row{r}", c) for r, c in closed]
