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

Scans (manual section 3 "Scanning and triggering", section 7 scan.*, channel.pattern.*): each
step of a scan list is a channel pattern (channel.pattern.setimage) closing the crosspoints of
that step; scan.create/scan.add build the list; scan.trigger.channel.stimulus =
digio.trigger[N].EVENT_ID makes every step wait for an edge on digital I/O line N, and
scan.bypass = scan.OFF makes the first step wait too; scan.background() starts the scan (all
channels open first: scan.mode's default scan.MODE_OPEN_ALL, restored by scan.reset()) and
returns; scan.state() reports (state, scans, steps) with scan.SUCCESS = 6. Details the 707B
pages found here do not give, taken from the Series 2600B/3700A TSP reference (the same
instrument control library and scan engine): scan.OFF as the value of scan.bypass,
digio.trigger[N].mode = digio.TRIG_FALLING and digio.trigger[N].clear(), and scan.abort()
stopping a background scan (what it does when no scan runs is not documented there either).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from pymeasure.instruments import Instrument
from pyvisa.errors import VisaIOError

from drivers.attributes import FastAttributeAccess
from drivers.errors import InstrumentError, TspErrorQueue, UnreadableReply
from drivers.roles import SwitchMatrix, check_whole
from drivers.state import KnownSetting, TspSettings
from drivers.templates import visa_defaults

ROW_LETTERS = "ABCDEFGH"
COLUMNS_PER_CARD = 12
_CHANNEL = re.compile(r"^([1-6])([A-H])(\d{2})$")
# Appended to a switching command: wait for the relays, then report the error count.
SETTLE_AND_COUNT = "waitcomplete() print(errorqueue.count)"

DIGITAL_LINES = 14  # rear digital I/O lines, digio.trigger[1] to [14]
MAX_SCAN_STEPS = 10_000  # our bound on a scan list (one step per device read), not the manual's
MAX_SCAN_PASSES = 20_000  # our bound on scan.scancount: two passes per alternating read, MAX_TRAIN pairs
# A scan's steps are channel patterns named hilscan1, hilscan2, ... (a pattern name starts with
# a letter and holds letters, digits and underscores).
SCAN_PATTERN = "hilscan{}"
# Scan set-up statements are packed into lines of at most this many characters: a length of our
# choosing, well inside what TSP takes (the manual's limit on one message was not found).
MAX_LINE = 1000
# scan.state() states (manual 7, scan.state()).
SCAN_STATES = ("EMPTY", "BUILDING", "RUNNING", "ABORTED", "FAILED", "FAILED_INIT", "SUCCESS")
SCAN_SUCCESS = SCAN_STATES.index("SUCCESS")


class Keithley707B(FastAttributeAccess, TspSettings, Instrument, TspErrorQueue, SwitchMatrix):
    """Keithley 707B: rows A-H are instrument lines 1-8; `slots` cards give 12 chip lines each.

    slots: number of matrix cards, installed in slots 1..slots. Other keyword arguments go to
    the VISA connection.
    """

    # The 707B manual's timing example (707B-901-01, section 2, "Using sequential connect")
    # allows 4 ms per channel close; measure the matrix's own with docs/tutorial.md.
    settle_time = 4e-3

    def __init__(self, adapter: Any, slots: int = 1, name: str = "Keithley 707B", **kwargs: Any):
        self.slots = check_whole(name, "slots", slots, 1, 6)
        super().__init__(adapter, name, **visa_defaults(kwargs))
        self._scan: tuple[int, int] | None = None  # (steps, digital I/O line) of the confirmed scan
        # (step names, line, ready line) and passes of the confirmed scan list
        self._scan_list: tuple[tuple[str, ...], int, int | None] | None = None
        self._passes = 1
        # True from a scan's start until it is seen finished or aborted: open_all() aborts it.
        self._scan_started = False
        self._armed_lines: set[int] = set()  # digital I/O lines a scan set up, disarmed at shutdown

    @property
    def size(self) -> tuple[int, int]:
        return len(ROW_LETTERS), COLUMNS_PER_CARD * self.slots

    @staticmethod
    def channel_name(row: int, col: int) -> str:
        """The 707B name of crosspoint (row, col), both 1-based: (1, 13) -> "2A01"."""
        slot, column = divmod(col - 1, COLUMNS_PER_CARD)
        return f"{slot + 1}{ROW_LETTERS[row - 1]}{column + 1:02d}"

    def known_settings(self) -> list[KnownSetting]:
        """What the driver relies on (manual 7): relays that open before others close
        (channel.connectrule = channel.BREAK_BEFORE_MAKE), and no digital I/O line asserting a
        trigger on its own (digio.trigger[N].stimulus = 0) until a scan sets one up."""
        lines = [
            KnownSetting(
                f"digital I/O line {n} trigger out",
                f"digio.trigger[{n}].stimulus",
                f"digio.trigger[{n}].stimulus = 0",
                "0",
            )
            for n in range(1, DIGITAL_LINES + 1)
        ]
        return [
            KnownSetting(
                "connect rule",
                "channel.connectrule",
                "channel.connectrule = channel.BREAK_BEFORE_MAKE",
                wanted_query="channel.BREAK_BEFORE_MAKE",
            ),
            *lines,
        ]

    def write_settings(self, commands: Sequence[str]) -> None:
        """One line, waiting for the relays and reporting the error count (switch())."""
        self.switch(" ".join(commands), "setting the state the framework relies on")

    # ------------------------------------------------------------------ SwitchMatrix role
    def close_crosspoint(self, row: int, col: int) -> None:
        name = self.channel_name(*self._check_crosspoint(row, col))
        self.switch(f'channel.close("{name}")', f"closing {name}")

    def open_crosspoint(self, row: int, col: int) -> None:
        name = self.channel_name(*self._check_crosspoint(row, col))
        self.switch(f'channel.open("{name}")', f"opening {name}")

    def open_all(self) -> None:
        """Open every channel; a scan this driver started and has not seen finish is aborted
        first, in the same line."""
        if self._scan_started:
            self.switch('scan.abort() channel.open("allslots")', "aborting the scan and opening all channels")
            self._scan_started = False
        else:
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
        self._run_and_count(f"{statement} {SETTLE_AND_COUNT}", context)

    def _run_and_count(self, line: str, context: str) -> None:
        """Ask `line`, which ends in print(errorqueue.count); InstrumentError if it is not 0."""
        try:
            reply = self.ask(line)
        except VisaIOError:
            # No reply: a runtime error stopped the line before print(). The queue says why.
            self.raise_on_errors(context)
            raise
        self.raise_on_error_count(reply, context)

    # ------------------------------------------------------------------ scans
    supports_scans = True

    def configure_scan(
        self,
        steps: Sequence[Iterable[tuple[int, int]]],
        line: int,
        ready_line: int | None = None,
        *,
        passes: int = 1,
    ) -> None:
        """A scan list whose step k closes exactly the crosspoints steps[k] (channel pattern
        hilscan<k+1>; the previous step's channels open), every step waiting for a falling edge
        on digital I/O `line` (the first one too). With `ready_line`, that line pulses low
        (digio.trigger[N].stimulus = scan.trigger.EVENT_CHANNEL_READY, mode TRIG_FALLING) once
        each step's relays have settled. Starts from scan.reset(): all channels open before the
        scan starts; `passes` passes (scan.scancount, sent only when more than one), every step
        of every pass on a trigger. Sent in as few lines as MAX_LINE allows, each ending with
        waitcomplete() print(errorqueue.count). Nothing moves until start_scan().
        """
        wanted = [frozenset(self._check_crosspoint(r, c) for r, c in step) for step in steps]
        if not 1 <= len(wanted) <= MAX_SCAN_STEPS:
            raise ValueError(
                f"{self.name}: a scan takes 1 to {MAX_SCAN_STEPS} steps, got {len(wanted)}; nothing was sent"
            )
        for k, step in enumerate(wanted):
            if not step:
                raise ValueError(f"{self.name}: scan step {k} closes no crosspoint; nothing was sent")
        dio = check_whole(self.name, "digital I/O line", line, 1, DIGITAL_LINES)
        ready = (
            None if ready_line is None else check_whole(self.name, "ready line", ready_line, 1, DIGITAL_LINES)
        )
        if ready == dio:
            raise ValueError(f"{self.name}: the Channel Ready line must differ from the trigger line {dio}")
        runs = check_whole(self.name, "scan passes", passes, 1, MAX_SCAN_PASSES)
        images = tuple(",".join(sorted(self.channel_name(r, c) for r, c in step)) for step in wanted)
        if self._scan_list == (images, dio, ready) and self._scan is not None:
            self._set_passes(runs)  # the same list: only how often it runs changes
            return
        statements = ["scan.reset()"]
        for k, names in enumerate(images, 1):
            statements.append(f'channel.pattern.setimage("{names}", "{SCAN_PATTERN.format(k)}")')
        patterns = [SCAN_PATTERN.format(k) for k in range(1, len(wanted) + 1)]
        for i in range(0, len(patterns), 50):
            function = "scan.create" if i == 0 else "scan.add"
            statements.append(f'{function}("{",".join(patterns[i : i + 50])}")')
        if runs > 1:
            statements.append(f"scan.scancount = {runs}")
        statements += [
            "scan.bypass = scan.OFF",
            f"scan.trigger.channel.stimulus = digio.trigger[{dio}].EVENT_ID",
            # The 2450's trigger pulse is active low: its falling edge starts the step.
            f"digio.trigger[{dio}].mode = digio.TRIG_FALLING",
        ]
        if ready is not None:  # the SMU's wait block detects the falling edge of this low pulse
            statements += [
                f"digio.trigger[{ready}].mode = digio.TRIG_FALLING",
                f"digio.trigger[{ready}].stimulus = scan.trigger.EVENT_CHANNEL_READY",
            ]
        self._scan, self._scan_list = None, None  # unknown until every line came back without an error
        for text in _pack(statements, MAX_LINE):
            self.switch(text, "setting up a scan")
        self._scan, self._scan_list, self._passes = (len(wanted), dio), (images, dio, ready), runs
        self._armed_lines |= {dio} | ({ready} if ready is not None else set())

    def _set_passes(self, passes: int) -> None:
        """scan.scancount of the confirmed list, sent only when it changes."""
        if passes != self._passes:
            confirmed, self._scan = self._scan, None  # unknown until the matrix took it
            self.switch(f"scan.scancount = {passes}", "setting the scan's passes")
            self._scan, self._passes = confirmed, passes

    def start_scan(self) -> None:
        """digio.trigger[N].clear() (an edge seen since, say from a pulse train on another line
        of the SMU, is forgotten) and scan.background(): the scan opens every channel and waits
        for its first trigger. One query; no waitcomplete(), which would wait for the scan itself."""
        if self._scan is None:
            raise RuntimeError(f"{self.name}: call configure_scan() before start_scan()")
        self._scan_started = True  # before sending: a start whose reply is lost may have started it
        line = f"digio.trigger[{self._scan[1]}].clear() scan.background() print(errorqueue.count)"
        self._run_and_count(line, "starting a scan")

    def check_scan(self, steps: int, passes: int = 1) -> None:
        """print(errorqueue.count, scan.state()) in one query: InstrumentError if the scan
        queued an error, or did not end in scan.SUCCESS after `passes` passes of `steps` steps."""
        context = "a scan"
        reply = self.ask("print(errorqueue.count, scan.state())")
        fields = reply.strip().split("\t")
        try:
            count, state, runs, done = (int(float(f)) for f in fields)
        except ValueError:
            raise UnreadableReply(self.name, f"unreadable reply {reply!r} to {context} state query") from None
        self.raise_on_error_count(str(count), context)
        name = SCAN_STATES[state] if 0 <= state < len(SCAN_STATES) else f"unknown state {state}"
        if state != SCAN_SUCCESS or done != steps or runs != passes:
            dio = self._scan[1] if self._scan else "?"
            raise InstrumentError(
                self.name,
                f"the scan is {name} after {done} of {steps} steps (pass {runs} of {passes}): the "
                f"matrix did not see every trigger from the SMU on its digital I/O line {dio}; check "
                "the trigger cable ([triggers] smu_to_switch) and that its lines match the bench file",
            )
        self._scan_started = False

    def closed_crosspoints(self) -> frozenset[tuple[int, int]]:
        reply = self.ask('print(channel.getclose("allslots"))').strip()
        if reply in ("nil", ""):  # getclose returns nil when nothing is closed
            return frozenset()
        closed = set()
        for item in re.split(r"[;,]", reply):  # the 707B separates closed channels with ';'
            match = _CHANNEL.match(item.strip())
            if match is None:
                raise UnreadableReply(self.name, f"unreadable channel {item!r} in getclose reply {reply!r}")
            slot, letter, column = match.groups()
            closed.add((ROW_LETTERS.index(letter) + 1, (int(slot) - 1) * COLUMNS_PER_CARD + int(column)))
        return frozenset(closed)

    def shutdown(self) -> None:
        """Abort any scan (one left running by another program too), open every crosspoint on
        every card, and disarm the digital I/O lines a scan set up (no trigger out, no trigger
        in: digio.trigger[N].stimulus = 0, mode TRIG_BYPASS)."""
        disarm = " ".join(
            f"digio.trigger[{n}].stimulus = 0 digio.trigger[{n}].mode = digio.TRIG_BYPASS"
            for n in sorted(self._armed_lines)
        )
        statement = f'scan.abort() channel.open("allslots") {disarm}'.rstrip()
        self.switch(statement, "aborting any scan, opening all channels, disarming trigger lines")
        self._scan_started = False
        self._armed_lines = set()
        self._scan, self._scan_list = None, None
        super().shutdown()


def _pack(statements: Sequence[str], width: int) -> list[str]:
    """Statements joined by blanks into lines of at most `width` characters (a longer statement
    is a line of its own)."""
    lines: list[str] = []
    for statement in statements:
        if lines and len(lines[-1]) + 1 + len(statement) <= width:
            lines[-1] += " " + statement
        else:
            lines.append(statement)
    return lines
