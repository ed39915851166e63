"""Virtual Keithley 707B switching matrix (TSP), wired to a VirtualChip.

The mainframe holds up to six 8 x 12 matrix cards (7174A-like). Channel "1A03" is slot 1,
row A, column 03. Rows A..H are shared by all slots (the backplane) and connect to the bench
terminals given by `rows` (row A to rows[0], ...); a row without a terminal is a spare row.
Column c of slot s is chip pad (s-1)*12 + c; columns past the chip's last pad are unbonded.
Enough slots are fitted to reach every pad (at most six: pads beyond 72 are not on this
matrix), or the number asked for (a bench file's ``slots`` option of the keithley707b driver).

Understood (see docs/virtual-bench.md): ``channel.close``, ``channel.open``,
``channel.exclusiveclose``, ``channel.exclusiveslotclose``, ``channel.getclose``,
``channel.reset``, ``channel.pattern.setimage|getimage|delete``, ``reset()``,
``waitcomplete()``, ``errorqueue.count``, ``errorqueue.next()``, ``errorqueue.clear()``,
``localnode.model``, ``localnode.serialno``, ``localnode.revision``, ``print(...)``, the scan
commands ``scan.create|add|background|execute|abort|state|reset``, ``scan.stepcount``,
``scan.scancount``, ``scan.mode``, ``scan.bypass``, ``scan.trigger.channel.stimulus``, the digital
I/O trigger lines ``digio.trigger[N].mode|EVENT_ID|clear()`` (N = 1 to 14), and the common
commands ``*IDN?``, ``*RST``, ``*CLS``, ``*OPC?``, ``*OPC``, ``*WAI``.

Scans (707B reference manual, section 3 "Scanning and triggering"): each step of the scan list
is a channel, or a channel pattern closed as one step; a step opens the previous step's
channels and closes its own. ``scan.background()`` opens every channel (scan.MODE_OPEN_ALL) or
the scan's own (scan.MODE_OPEN_SELECTIVE), then runs the first step at once unless scan.bypass is
scan.OFF, and each further step on its channel stimulus: 0 at once, the default
scan.trigger.EVENT_CHANNEL_READY on the previous step's completion, digio.trigger[N].EVENT_ID
on a trigger pulse into digital I/O line N (`digital_trigger`, called by a trigger cable from
another instrument). After the last step of the last pass the scan is scan.SUCCESS and that
step stays closed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from simulators.virtual.scpi import ErrorQueue
from simulators.virtual.switching import SwitchMatrix
from simulators.virtual.timing import SETTLE_707B
from simulators.virtual.triggers import Disturbance, Edge, Kind, TriggerPulse
from simulators.virtual.tsp import TspError, TspRuntime
from simulators.virtual.wiring import DEFAULT_ROWS, VirtualChip

ROW_LETTERS = "ABCDEFGH"
COLUMNS_PER_SLOT = 12
MAX_SLOTS = 6
_CHANNEL = re.compile(r"([1-6])([A-Ha-h])(\d\d)")
# Severity the 707B gives user errors (20: recoverable, invalid user input).
_RECOVERABLE = 20.0

Crosspoint = tuple[int, int, int]  # slot, row index 0..7, column 1..12

DIGITAL_LINES = 14  # rear digital I/O lines; digio.trigger[N].EVENT_ID is N (manual 7, event IDs)
# digio.trigger[N].mode values (ICL digio.TRIG_*; 707B manual 3, "Hardware trigger modes"): how
# many trigger events one pulse into the line makes (both edges for TRIG_EITHER; none when the
# line is not a trigger input: TRIG_BYPASS, TRIG_RISINGM).
_TRIG_MODES = {
    "TRIG_BYPASS": 0,
    "TRIG_FALLING": 1,
    "TRIG_RISING": 2,
    "TRIG_EITHER": 3,
    "TRIG_SYNCHRONOUSA": 4,
    "TRIG_SYNCHRONOUS": 5,
    "TRIG_SYNCHRONOUSM": 6,
    "TRIG_RISINGA": 7,
    "TRIG_RISINGM": 8,
}
# The edges each mode detects on an input (None: the line is no trigger input).
_DETECTS = {
    0: None,
    1: Edge.FALLING,
    2: Edge.RISING,
    3: Edge.EITHER,
    4: Edge.FALLING,
    5: Edge.FALLING,
    6: Edge.RISING,
    7: Edge.RISING,
    8: None,
}
# Modes whose output trigger is a high pulse (the others assert low; manual 3, trigger modes).
_ACTIVE_HIGH = (2, 7)
OUTPUT_PULSE = 10e-6  # s, digio.trigger[N].pulsewidth's default
# channel.connectrule values (manual 7): OFF, BREAK_BEFORE_MAKE (the default), MAKE_BEFORE_BREAK.
CONNECT_RULES = {"OFF": 0.0, "BREAK_BEFORE_MAKE": 1.0, "MAKE_BEFORE_BREAK": 2.0}
# scan.state() states (manual 7, scan.state()).
SCAN_STATES = ("EMPTY", "BUILDING", "RUNNING", "ABORTED", "FAILED", "FAILED_INIT", "SUCCESS")
EMPTY, BUILDING, RUNNING, ABORTED, SUCCESS = 0, 1, 2, 3, 6
# The value of scan.trigger.EVENT_CHANNEL_READY here: the manual names the constant, not its number.
EVENT_CHANNEL_READY = 100.0
EVENT_SCAN_COMP = 101.0
_PATTERN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# digio.trigger[3].mode -> digio.trigger__3.mode: the shared TSP subset (tsp.py) has no table
# indexing, so a literal index becomes part of the name (quoted strings are left alone).
_INDEX = re.compile(r"""("[^"]*"|'[^']*')|\[\s*(\d+)\s*\]""")
_FLAT_INDEX = re.compile(r"__(\d+)")


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


@dataclass
class _Scan:
    """The scan list, its settings (scan.reset() defaults) and the progress of a running scan."""

    steps: list[frozenset[Crosspoint]] = field(default_factory=list)
    bypass: bool = True  # scan.ON: the first step of the first pass does not wait
    mode: int = 0  # scan.MODE_OPEN_ALL
    scancount: int = 1
    stimulus: float = EVENT_CHANNEL_READY
    state: int = EMPTY
    scans: int = 0  # passes begun
    done: int = 0  # steps completed in the present pass
    next: int = 0  # the step a running scan runs next
    previous: frozenset[Crosspoint] = frozenset()  # what the last step closed

    def reset_settings(self) -> None:
        """scan.reset(): the settings back to their defaults (those of a new _Scan); the list stays."""
        defaults = _Scan()
        self.bypass, self.mode, self.scancount, self.stimulus = (
            defaults.bypass,
            defaults.mode,
            defaults.scancount,
            defaults.stimulus,
        )


class Keithley707B(SwitchMatrix):
    """TSP switch matrix; every change of the closed set is pushed to the chip at once."""

    kind = "keithley707b"
    queue_injected_first = True
    settle = SETTLE_707B  # waitcomplete() waits for it
    serial, firmware = "04440707", "01.60a"

    def __init__(
        self, chip: VirtualChip, rows: Sequence[str | None] = DEFAULT_ROWS, slots: int | None = None
    ):
        if len(rows) > len(ROW_LETTERS):
            raise ValueError(f"the 707B has 8 rows (A..H); got {len(rows)} row assignments")
        super().__init__(chip, rows)
        # A chip with more pads than six cards reach keeps the rest off this matrix (route it
        # with the relay board); a bench file that needs them fails its driver's reach check.
        needed = min(-(-chip.pins.n_pads // COLUMNS_PER_SLOT), MAX_SLOTS)
        if slots is not None and not needed <= slots <= MAX_SLOTS:
            raise ValueError(
                f"{slots} cards do not reach the chip's {chip.pins.n_pads} pads: fit {needed} to {MAX_SLOTS}"
            )
        #: cards fitted, in slots 1..slots (default: as many as the chip's pads need, at most 6)
        self.slots = needed if slots is None else slots
        self.errors = ErrorQueue(capacity=100)
        self.patterns: dict[str, frozenset[Crosspoint]] = {}  # channel.pattern.setimage names
        self.scan = _Scan()
        self.digio_modes = dict.fromkeys(range(1, DIGITAL_LINES + 1), 0)  # digio.TRIG_BYPASS
        #: digio.trigger[N].stimulus: the event that makes line N assert an output trigger (0: none)
        self.digio_stimuli = dict.fromkeys(range(1, DIGITAL_LINES + 1), 0.0)
        self.connectrule = CONNECT_RULES["BREAK_BEFORE_MAKE"]
        #: cables out of digital I/O lines: line -> what an output trigger pulse on it does
        self.output_links: dict[int, Callable[[TriggerPulse], object]] = {}
        #: trigger pulses that arrived while no scan waited for them (the scan ignores them)
        self.ignored_triggers = 0
        # The server thread and trigger cables from other instruments share the state.
        self._lock = threading.RLock()
        self.runtime = TspRuntime(self._tsp_functions(), self._tsp_getters(), self._tsp_setters())

    # ------------------------------------------------------------------ TSP names
    def _tsp_functions(self) -> dict[str, Callable[..., tuple[object, ...]]]:
        """What each TSP function name calls."""
        lines = range(1, DIGITAL_LINES + 1)
        return {
            "channel.close": self._close,
            "channel.open": self._open,
            "channel.exclusiveclose": self._exclusive_close,
            "channel.exclusiveslotclose": self._exclusive_slot_close,
            "channel.getclose": self._getclose,
            "channel.reset": self._channel_reset,
            "channel.pattern.setimage": self._set_pattern,
            "channel.pattern.getimage": self._get_pattern,
            "channel.pattern.delete": self._delete_pattern,
            "scan.create": self._scan_create,
            "scan.add": self._scan_add,
            "scan.background": self._scan_background,
            "scan.execute": self._scan_execute,
            "scan.abort": self._scan_abort,
            "scan.state": lambda: (float(self.scan.state), float(self.scan.scans), float(self.scan.done)),
            "scan.reset": self._scan_reset,
            "reset": self._reset,
            "waitcomplete": lambda *a: (),
            "errorqueue.next": self._next_error,
            "errorqueue.clear": self._clear_errors,
            **{f"digio.trigger__{n}.clear": lambda *a: () for n in lines},  # no detector state is kept
        }

    def _tsp_getters(self) -> dict[str, Callable[[], object]]:
        """What each readable TSP attribute reads: settings, constants, digital I/O lines."""
        lines = range(1, DIGITAL_LINES + 1)
        return {
            "errorqueue.count": lambda: float(len(self.errors)),
            "localnode.model": lambda: "707B",
            "localnode.serialno": lambda: self.serial,
            "localnode.revision": lambda: self.firmware,
            "scan.stepcount": lambda: float(len(self.scan.steps)),
            "scan.scancount": lambda: float(self.scan.scancount),
            "scan.mode": lambda: float(self.scan.mode),
            "scan.bypass": lambda: float(self.scan.bypass),
            "scan.trigger.channel.stimulus": lambda: self.scan.stimulus,
            "scan.trigger.EVENT_CHANNEL_READY": lambda: EVENT_CHANNEL_READY,
            "scan.ON": lambda: 1.0,
            "scan.OFF": lambda: 0.0,
            "scan.MODE_OPEN_ALL": lambda: 0.0,
            "scan.MODE_OPEN_SELECTIVE": lambda: 1.0,
            **{f"scan.{name}": (lambda k=k: float(k)) for k, name in enumerate(SCAN_STATES)},
            **{f"digio.{name}": (lambda v=v: float(v)) for name, v in _TRIG_MODES.items()},
            **{f"digio.trigger__{n}.EVENT_ID": (lambda n=n: float(n)) for n in lines},
            **{f"digio.trigger__{n}.mode": (lambda n=n: float(self.digio_modes[n])) for n in lines},
            **{f"digio.trigger__{n}.stimulus": (lambda n=n: self.digio_stimuli[n]) for n in lines},
            **{f"channel.{name}": (lambda v=v: v) for name, v in CONNECT_RULES.items()},
            "channel.connectrule": lambda: self.connectrule,
            "scan.trigger.EVENT_SCAN_COMP": lambda: EVENT_SCAN_COMP,
        }

    def _tsp_setters(self) -> dict[str, Callable[[object], None]]:
        """What each writable TSP attribute validates and sets."""
        return {
            "scan.scancount": lambda v: self._set_scan("scancount", self._whole(v, "scan count", 1)),
            "scan.mode": lambda v: self._set_scan("mode", self._choice(v, "scan mode", (0, 1))),
            "scan.bypass": lambda v: self._set_scan("bypass", bool(self._choice(v, "scan bypass", (0, 1)))),
            "scan.trigger.channel.stimulus": lambda v: self._set_scan("stimulus", self._stimulus(v)),
            **{
                f"digio.trigger__{n}.mode": partial(self._set_trigger_mode, n)
                for n in range(1, DIGITAL_LINES + 1)
            },
            **{
                f"digio.trigger__{n}.stimulus": partial(self._set_output_stimulus, n)
                for n in range(1, DIGITAL_LINES + 1)
            },
            "channel.connectrule": self._set_connect_rule,
        }

    def _set_output_stimulus(self, line: int, value: object) -> None:
        if not isinstance(value, float) or value not in (0.0, EVENT_CHANNEL_READY, EVENT_SCAN_COMP):
            raise _param_error(
                f"digio.trigger[{line}].stimulus {value!r}: the virtual 707B takes 0, "
                "scan.trigger.EVENT_CHANNEL_READY or scan.trigger.EVENT_SCAN_COMP"
            )
        self.digio_stimuli[line] = value

    def _set_connect_rule(self, value: object) -> None:
        if value not in CONNECT_RULES.values():
            raise _param_error(f"invalid connect rule {value!r}")
        self.connectrule = float(value)  # type: ignore[arg-type]

    def _set_trigger_mode(self, line: int, value: object) -> None:
        self.digio_modes[line] = self._choice(value, "trigger mode", tuple(_TRIG_MODES.values()))

    # ------------------------------------------------------------------ wire
    def handle(self, line: str) -> str | None:
        text = line.strip()
        if not text:
            return None
        with self._lock:
            if text.startswith("*"):
                return self._common(text)
            try:
                output = self.runtime.run(_INDEX.sub(lambda m: m.group(1) or f"__{m.group(2)}", text))
            except TspError as err:
                self.errors.push(err.code, _FLAT_INDEX.sub(r"[\1]", err.message))
                return None
        return "\n".join(output) if output else None

    def report_error(self, code: int, message: str, reply: str | None) -> str | None:
        with self._lock:
            self.errors.push(code, message)
        return reply

    def randomise(self, rng: np.random.Generator) -> None:
        """A state other software may leave behind (unlike reset()'s): relays that make before
        they break, and two digital lines asserting a trigger on every Channel Ready."""
        self.connectrule = CONNECT_RULES["MAKE_BEFORE_BREAK"]
        for line in rng.choice(np.arange(1, DIGITAL_LINES + 1), size=2, replace=False):
            self.digio_stimuli[int(line)] = EVENT_CHANNEL_READY
            self.digio_modes[int(line)] = _TRIG_MODES["TRIG_FALLING"]

    def digital_trigger(self, line: int, pulse: TriggerPulse | None = None) -> list[Disturbance]:
        """A trigger pulse into digital I/O line `line` (a cable from another instrument, called
        from that instrument's thread; `pulse` on the sender's clock, default an active-low pulse
        at 0 s): each edge the line's trigger mode detects is one event, and a running scan whose
        channel stimulus is this line runs one step per event. A step that moves relays keeps
        them settling for `settle` seconds from its edge (returned as a Disturbance on the
        sender's clock; the settling also counts in this instrument's elapsed time); then the
        step's Channel Ready event asserts every output line whose stimulus it is
        (output_links)."""
        if not 1 <= line <= DIGITAL_LINES:
            raise ValueError(f"the 707B has digital I/O lines 1 to {DIGITAL_LINES}, got {line}")
        detect = _DETECTS[self.digio_modes[line]]
        edges = [] if detect is None else (pulse or TriggerPulse(0.0)).edges(detect)
        disturbances = []
        with self._lock:
            for edge in edges:
                if self.scan.state == RUNNING and self.scan.stimulus == line:
                    before = frozenset(self.closed)
                    self._scan_step()
                    ready = edge + (self.settle if self.closed != before else 0.0)
                    disturbances.append(Disturbance(Kind.RELAYS, edge, ready))
                    self._assert_outputs(EVENT_CHANNEL_READY, ready)
                    if self.scan.state == SUCCESS:
                        self._assert_outputs(EVENT_SCAN_COMP, ready)
                else:
                    self.ignored_triggers += 1
        return disturbances

    def _assert_outputs(self, event: float, at: float) -> None:
        """Every output line whose stimulus is `event` sends a trigger pulse at `at`."""
        for line, stimulus in self.digio_stimuli.items():
            link = self.output_links.get(line)
            if stimulus == event and link is not None:
                link(TriggerPulse(at, OUTPUT_PULSE, active_low=self.digio_modes[line] not in _ACTIVE_HIGH))

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
        found: set[Crosspoint] = set()
        for item in self._items(channel_list):
            for step in self._item_steps(item, allow_slots):
                found |= step
        return found

    @staticmethod
    def _items(channel_list: object) -> list[str]:
        if not isinstance(channel_list, str):
            raise _param_error("channel list must be a string")
        items = [s.strip() for s in re.split(r"[,;]", channel_list) if s.strip()]
        if not items:
            raise _param_error("no valid channels in channel list")
        return items

    def _item_steps(self, item: str, allow_slots: bool) -> list[frozenset[Crosspoint]]:
        """What one channel-list item names, as scan steps: a channel or a channel pattern is
        one step, a range one step per channel (row by row), a slot one step of all its channels."""
        low = item.lower()
        if low == "allslots" or re.fullmatch(r"slot[1-6]", low):
            if not allow_slots:
                raise _param_error(f"'{item}' not allowed here")
            found: set[Crosspoint] = set()
            for slot in range(1, self.slots + 1) if low == "allslots" else [int(low[4])]:
                self._check_slot(slot, item)
                found |= {(slot, r, c) for r in range(8) for c in range(1, COLUMNS_PER_SLOT + 1)}
            return [frozenset(found)]
        if ":" in item:
            first, last = (self._channel(p.strip()) for p in item.split(":", 1))
            if first[0] != last[0] or first[1] > last[1] or first[2] > last[2]:
                raise _param_error(f"invalid channel range '{item}'")
            return [
                frozenset({(first[0], r, c)})
                for r in range(first[1], last[1] + 1)
                for c in range(first[2], last[2] + 1)
            ]
        if _CHANNEL.fullmatch(item) is None and item in self.patterns:
            return [self.patterns[item]]
        return [frozenset({self._channel(item)})]

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

    def _crosspoints(self, closed: set[Crosspoint]) -> list[tuple[str, int | str]]:
        pairs = []
        for slot, row, column in closed:
            spare = row >= len(self.rows) or self.rows[row] is None
            node = f"707B.row{ROW_LETTERS[row]}" if spare else self.rows[row]
            pad = (slot - 1) * COLUMNS_PER_SLOT + column
            pairs.append((node, pad if pad <= self.chip.pins.n_pads else f"707B.col{pad}"))
        return pairs

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
        """reset() and *RST: a running scan stops, scan list, settings and patterns go, every
        digital I/O line back to TRIG_BYPASS, every channel opens."""
        self.scan = _Scan()
        self.patterns.clear()
        self.digio_modes = dict.fromkeys(self.digio_modes, 0)
        self.digio_stimuli = dict.fromkeys(self.digio_stimuli, 0.0)
        self.connectrule = CONNECT_RULES["BREAK_BEFORE_MAKE"]
        self._apply(set())
        return ()

    # ------------------------------------------------------------------ channel patterns
    def _set_pattern(self, channel_list: object = None, name: object = None) -> tuple[object, ...]:
        if not isinstance(name, str) or _PATTERN_NAME.fullmatch(name) is None:
            raise _param_error(f"invalid pattern name {name!r}: a letter, then letters, digits or '_'")
        if name.lower() == "allslots" or re.fullmatch(r"slot[1-6]", name.lower()):
            raise _param_error(f"'{name}' is a channel list keyword, not a pattern name")
        if isinstance(channel_list, str) and not channel_list.strip():
            self.patterns[name] = frozenset()  # an empty pattern is allowed (manual 7)
        else:
            self.patterns[name] = frozenset(self._parse(channel_list, allow_slots=False))
        return ()

    def _get_pattern(self, names: object = None) -> tuple[object, ...]:
        images = []
        for name in self._items(names):
            if name not in self.patterns:
                return (None,)
            images.append(",".join(channel_name(*x) for x in sorted(self.patterns[name])))
        return (";".join(images),)

    def _delete_pattern(self, name: object = None) -> tuple[object, ...]:
        if not isinstance(name, str) or name not in self.patterns:
            raise _param_error(f"no channel pattern named {name!r}")
        del self.patterns[name]
        return ()

    # ------------------------------------------------------------------ scans
    def _not_running(self, action: str) -> None:
        if self.scan.state == RUNNING:
            raise _param_error(f"cannot {action} while a scan is running; scan.abort() it first")

    def _set_scan(self, setting: str, value: object) -> None:
        self._not_running(f"change {setting}")
        setattr(self.scan, setting, value)

    @staticmethod
    def _whole(value: object, what: str, least: int) -> int:
        if isinstance(value, bool) or not isinstance(value, float) or value != int(value) or value < least:
            raise _param_error(f"{what} must be a whole number >= {least}, got {value!r}")
        return int(value)

    @staticmethod
    def _choice(value: object, what: str, allowed: tuple[int, ...]) -> int:
        if isinstance(value, bool) or not isinstance(value, float) or value not in allowed:
            raise _param_error(f"invalid {what} {value!r}")
        return int(value)

    @staticmethod
    def _stimulus(value: object) -> float:
        if isinstance(value, float) and (value == EVENT_CHANNEL_READY or value in range(DIGITAL_LINES + 1)):
            return value
        raise _param_error(
            f"channel stimulus {value!r}: the virtual 707B takes 0, "
            "scan.trigger.EVENT_CHANNEL_READY or digio.trigger[N].EVENT_ID"
        )

    def _scan_create(self, channel_list: object = None) -> tuple[object, ...]:
        """A new scan list; scan.create() or scan.create("") leaves it empty."""
        self._not_running("create a scan list")
        self.scan.steps, self.scan.state = [], EMPTY
        if channel_list is None or (isinstance(channel_list, str) and not channel_list.strip()):
            return ()
        return self._scan_add(channel_list)

    def _scan_add(self, channel_list: object = None) -> tuple[object, ...]:
        """Append the items of `channel_list` in order; an item in error stops the rest (the
        manual: the following channels are not added)."""
        self._not_running("add to the scan list")
        for item in self._items(channel_list):
            self.scan.steps += self._item_steps(item, allow_slots=False)
            self.scan.state = BUILDING
        return ()

    def _scan_background(self) -> tuple[object, ...]:
        self._scan_start()
        return ()

    def _scan_execute(self) -> tuple[object, ...]:
        """Run the scan in the foreground. Only a scan that needs no trigger from outside is
        simulated: the instrument would not answer until the triggers came, and here nothing
        else can run while it waits."""
        sc = self.scan
        self._not_running("start another scan")
        if sc.stimulus != 0 and not (sc.stimulus == EVENT_CHANNEL_READY and sc.bypass):
            raise _param_error(
                "scan.execute() of a scan that waits for triggers is not simulated by "
                "the virtual 707B; use scan.background()"
            )
        self._scan_start()
        return ()

    def _scan_start(self) -> None:
        sc = self.scan
        self._not_running("start another scan")
        if not sc.steps:
            raise _param_error("the scan list is empty; scan.create() one first")
        involved = frozenset().union(*sc.steps)
        self._apply(set() if sc.mode == 0 else self.closed - involved)
        sc.state, sc.scans, sc.done, sc.next, sc.previous = RUNNING, 1, 0, 0, frozenset()
        if sc.bypass:
            self._scan_step()
        self._scan_free_run(ready=sc.bypass)

    def _scan_free_run(self, ready: bool) -> None:
        """Steps that wait for no outside trigger: stimulus 0, or the channel-ready event of the
        step before (`ready`: one just happened)."""
        sc = self.scan
        while sc.state == RUNNING and (sc.stimulus == 0 or (sc.stimulus == EVENT_CHANNEL_READY and ready)):
            self._scan_step()
            ready = True

    def _scan_step(self) -> None:
        """One channel action: open what the previous step closed, close this step's channels."""
        sc = self.scan
        step = sc.steps[sc.next]
        self._apply((self.closed - sc.previous) | step)
        sc.previous = step
        sc.next += 1
        sc.done = sc.next
        if sc.next == len(sc.steps):
            if sc.scans < sc.scancount:
                sc.scans, sc.next = sc.scans + 1, 0  # the next pass starts at once (no arm trigger)
            else:
                sc.state = SUCCESS  # idle; the last step stays closed

    def _scan_abort(self) -> tuple[object, ...]:
        """Stop a running scan where it is (its channels stay as they are); nothing to stop: no-op."""
        if self.scan.state == RUNNING:
            self.scan.state = ABORTED
        return ()

    def _scan_reset(self) -> tuple[object, ...]:
        self._not_running("reset the scan settings")
        self.scan.reset_settings()
        return ()

    def _next_error(self) -> tuple[object, ...]:
        if not len(self.errors):
            return 0.0, "Queue Is Empty", 0.0, 1.0
        code, message = self.errors.pop()
        return float(code), message, _RECOVERABLE, 1.0

    def _clear_errors(self) -> tuple[object, ...]:
        self.errors.clear()
        return ()
