"""The virtual chip: logical arrays, their pads, and the nets the switch matrices make.

Wiring scheme (see docs/virtual-bench.md):

- Every device (array, row, col) is a three-terminal protonic resistor: a gate pad, a drain
  pad and a source pad. The default pin map (`PinMap.discrete`) gives each device its own
  gate and drain pad and lets all devices of one array share one source pad (a common-source
  test array). Pads are numbered 1, 2, ... and are the switch matrices' columns.
- Instrument terminals (SMU HI, SMU LO, pulse generator outputs, bench ground) are the
  matrices' rows. A closed crosspoint joins a row and a pad; joined rows and pads form a net.
- A read solves the resistor network (devices are conductances between their drain and source
  nets; gates draw no DC current): SMU HI is held at the source level, SMU LO and ground at
  0 V, a pulse generator output that is on at its idle level; floating nets follow from
  Kirchhoff's current law. Parallel devices add, series devices and sneak paths come out as
  they would on the bench. Each device's conductance comes from its backend's read().
- A pulse reaches a device only when the generator output's net contains that device's gate
  pad; it is applied with the backend's apply_pulses() and a one-hot count matrix. The channel
  is taken as referenced to ground during the pulse (we do not model a floating channel).

The chip never refuses what the instruments do to it: stresses beyond an array's safety
limits (a pulse above max_pulse_amplitude, a read bias above max_read_voltage, a DC bias on a
gate, shorts between instruments) are recorded in `violations` so tests can assert none
happened; a pulse the backend refuses is recorded there and not applied.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hil.backend import CrossbarBackend
from hil.pulses import LimitError, Pulse

if TYPE_CHECKING:
    from hil.benchconfig import BenchConfig

SMU_HI, SMU_LO, GND = "SMU.HI", "SMU.LO", "GND"
AWG_CH1, AWG_CH2 = "AWG.CH1", "AWG.CH2"
TERMINALS = (SMU_HI, SMU_LO, AWG_CH1, AWG_CH2, GND)
#: Matrix row k (1-based) connects to DEFAULT_ROWS[k-1]; rows beyond are spare. Rows 1-4
#: follow hil.benchconfig's [wiring] example (smu_hi, smu_lo, pulse_out, pulse_ref).
DEFAULT_ROWS: tuple[str, ...] = (SMU_HI, SMU_LO, AWG_CH1, GND, AWG_CH2)
# hil.benchconfig [wiring] keys -> bench terminals; the pulse generator's reference is ground.
_WIRING_TERMINALS = {"smu_hi": SMU_HI, "smu_lo": SMU_LO, "pulse_out": AWG_CH1, "pulse_ref": GND}
# Terminals always at 0 V: the SMU's LO is tied to bench ground, as on most probe stations.
_GROUNDED = (SMU_LO, GND)
# DC levels below this (volts) count as 0 V (a generator's offset error is ~1 mV).
_DC_TOLERANCE = 1e-3

DeviceKey = tuple[str, int, int]


def rows_from_wiring(wiring: Mapping[str, int]) -> tuple[str | None, ...]:
    """Matrix rows (index k holds row k+1's terminal, None for a spare row) from a
    hil.benchconfig [wiring] table such as {"smu_hi": 1, "smu_lo": 2, "pulse_out": 3, "pulse_ref": 4}."""
    unknown = set(wiring) - set(_WIRING_TERMINALS)
    if unknown:
        raise ValueError(f"unknown wiring keys {sorted(unknown)}; expected {sorted(_WIRING_TERMINALS)}")
    rows: list[str | None] = [None] * max(wiring.values())
    for key, row in wiring.items():
        rows[row - 1] = _WIRING_TERMINALS[key]
    return tuple(rows)


@dataclass(frozen=True)
class DevicePads:
    """Pad numbers (1-based) of one device's gate, drain and source."""

    gate: int
    drain: int
    source: int


class PinMap:
    """Which pad each device terminal is bonded to."""

    def __init__(self, devices: Mapping[DeviceKey, DevicePads]):
        if not devices:
            raise ValueError("a pin map needs at least one device")
        gates, channel = set(), set()
        for key, pads in devices.items():
            for pad in (pads.gate, pads.drain, pads.source):
                if isinstance(pad, bool) or not isinstance(pad, int) or pad < 1:
                    raise ValueError(f"device {key}: pad numbers must be integers >= 1, got {pads}")
            if len({pads.gate, pads.drain, pads.source}) != 3:
                raise ValueError(f"device {key}: gate, drain and source need three different pads")
            gates.add(pads.gate)
            channel.update((pads.drain, pads.source))
        if gates & channel:
            raise ValueError(
                f"pads {sorted(gates & channel)} are both a gate and a drain/source pad; a gate "
                "pad is insulated from every channel and cannot double as one"
            )
        self._devices = dict(devices)
        self.keys: list[DeviceKey] = list(devices)
        self.gate = np.array([p.gate for p in devices.values()], dtype=np.int64)
        self.drain = np.array([p.drain for p in devices.values()], dtype=np.int64)
        self.source = np.array([p.source for p in devices.values()], dtype=np.int64)
        self.n_pads = int(max(self.gate.max(), self.drain.max(), self.source.max()))

    @classmethod
    def discrete(cls, shapes: Mapping[str, tuple[int, int]]) -> PinMap:
        """The default scheme, array after array: with n = rows * cols devices and the array's
        first pad o + 1, device (r, c), k = r * cols + c, has its gate on pad o + 1 + k, its
        drain on pad o + 1 + n + k, and all devices share the source pad o + 1 + 2n. For one
        2 x 2 array: gates 1-4, drains 5-8, source 9 (hil.benchconfig's example chip)."""
        devices: dict[DeviceKey, DevicePads] = {}
        offset = 0
        for name, (rows, cols) in shapes.items():
            n = rows * cols
            for r in range(rows):
                for c in range(cols):
                    k = r * cols + c
                    devices[(name, r, c)] = DevicePads(
                        gate=offset + 1 + k, drain=offset + 1 + n + k, source=offset + 1 + 2 * n
                    )
            offset += 2 * n + 1
        return cls(devices)

    @classmethod
    def from_bench_config(cls, config: BenchConfig) -> PinMap:
        """The pin map a hil.benchconfig.BenchConfig describes: logical array regions of one
        chip whose gate/drain/source pads come from its [chip] tables."""
        devices: dict[DeviceKey, DevicePads] = {}
        for name, region in config.arrays.items():
            rows, cols = region.shape
            for r in range(rows):
                for c in range(cols):
                    at = (region.row_start + r, region.col_start + c)
                    pads = (config.pad(terminal, *at) for terminal in ("gate", "drain", "source"))
                    devices[(name, r, c)] = DevicePads(*pads)
        return cls(devices)

    def pads(self, array: str, row: int, col: int) -> DevicePads:
        try:
            return self._devices[(array, row, col)]
        except KeyError:
            raise KeyError(f"device ({array!r}, {row}, {col}) is not in the pin map") from None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: one entry per device."""
        return {
            "n_pads": self.n_pads,
            "devices": [
                {"array": a, "row": r, "col": c, "gate": p.gate, "drain": p.drain, "source": p.source}
                for (a, r, c), p in self._devices.items()
            ],
        }


@dataclass(frozen=True)
class SmuReading:
    """What the SMU sees: volts at HI relative to LO, amperes out of HI, compliance flag."""

    voltage: float
    current: float
    limited: bool


@dataclass(frozen=True)
class PulseRecord:
    """Pulses that reached one device's gate: signed count, peak gate volts, width seconds.

    applied is False when the device is stuck or the backend refused the pulse.
    """

    terminal: str
    array: str
    row: int
    col: int
    count: int
    amplitude: float
    width: float
    applied: bool


def _operating_point(source: str, level: float, limit: float, slope: float, offset: float) -> SmuReading:
    """Where a source with a compliance limit settles on the load line I = slope * V + offset
    (amperes, volts). source "VOLT": `level` volts, current limit `limit` amperes; "CURR":
    `level` amperes, voltage limit `limit` volts. At the limit the source gives way: the other
    quantity sits at the limit and the reading is flagged limited."""
    limited = False
    if source == "VOLT":
        volts, amps = level, slope * level + offset
        if abs(amps) > limit:
            limited = True
            amps = math.copysign(limit, amps)
            volts = (amps - offset) / slope if slope > 0 else level
        return SmuReading(volts, amps, limited)
    if slope > 0:
        volts = (level - offset) / slope
    else:  # open circuit: the source drives to its voltage limit unless asked for 0 A
        volts = math.copysign(limit, level - offset) if level != offset else 0.0
    if abs(volts) > limit:
        limited = True
        volts = math.copysign(limit, volts)
    return SmuReading(volts, slope * volts + offset, limited)


@dataclass
class _FreeRun:
    rate: float  # pulses per second
    peak: float  # volts
    width: float  # seconds
    waveform: str
    since: float
    carry: float = 0.0


class VirtualChip:
    """Named logical arrays (CrossbarBackend objects) bonded out through a PinMap."""

    def __init__(self, arrays: Mapping[str, CrossbarBackend], pins: PinMap | None = None):
        if not arrays:
            raise ValueError("a virtual chip needs at least one array")
        self.arrays = dict(arrays)
        self.pins = pins or PinMap.discrete({name: b.shape for name, b in self.arrays.items()})
        for name, r, c in self.pins.keys:
            if name not in self.arrays:
                raise ValueError(f"pin map names array {name!r}, the chip has {sorted(self.arrays)}")
            rows, cols = self.arrays[name].shape
            if not (0 <= r < rows and 0 <= c < cols):
                raise ValueError(f"pin map device ({name!r}, {r}, {c}) is outside the {rows} x {cols} array")
        self._array_of = np.array([list(self.arrays).index(k[0]) for k in self.pins.keys])
        self._rows = np.array([k[1] for k in self.pins.keys])
        self._cols = np.array([k[2] for k in self.pins.keys])
        self._lock = threading.RLock()
        self._fabrics: dict[str, frozenset[tuple[str, int | str]]] = {}
        self._levels: dict[str, float] = {}
        self._drives: dict[str, _FreeRun] = {}
        self._noted: set[str] = set()
        #: fault switch: devices (array, row, col) that ignore every pulse
        self.stuck: set[DeviceKey] = set()
        self.pulse_log: list[PulseRecord] = []
        self.violations: list[str] = []
        self.unrouted_pulses = 0

    # ------------------------------------------------------------------ instrument side
    def set_crosspoints(self, fabric: str, closed: Iterable[tuple[str, int | str]]) -> None:
        """Replace the closed crosspoints of one switch fabric: (row node, column node) pairs.

        A row node is a terminal name (SMU.HI, ...) or any other name for a spare row; a
        column node is a pad number or a name for a matrix column bonded to no pad (closing
        two rows onto one such column still joins the two rows).
        """
        pairs = frozenset(closed)
        for _, pad in pairs:
            if isinstance(pad, int) and not 1 <= pad <= self.pins.n_pads:
                raise ValueError(f"pad {pad} does not exist (the chip has pads 1..{self.pins.n_pads})")
        with self._lock:
            self._flush_drives()
            self._fabrics[fabric] = pairs
            self._check_static()

    def set_level(self, terminal: str, volts: float | None) -> None:
        """Hold an instrument terminal at a DC level (None: output off, the terminal floats)."""
        with self._lock:
            self._flush_drives()
            if volts is None:
                self._levels.pop(terminal, None)
            else:
                self._levels[terminal] = float(volts)
            self._check_static()

    def set_drive(
        self, terminal: str, rate: float, peak: float, width: float, waveform: str = "PULS"
    ) -> None:
        """A free-running output: `rate` pulses per second of `peak` volts, `width` seconds.

        The pulses that accrue in wall-clock time are delivered to whatever the output is
        routed to at the next chip operation (a read, a pulse, a routing or level change).
        A waveform other than "PULS" is not modelled: routing it to a pad is a violation.
        """
        with self._lock:
            self._flush_drives()
            self._drives[terminal] = _FreeRun(rate, peak, width, waveform, time.monotonic())
            self._check_static()

    def clear_drive(self, terminal: str) -> None:
        with self._lock:
            self._flush_drives()
            self._drives.pop(terminal, None)

    def fire(self, terminal: str, count: int, peak: float, width: float) -> None:
        """`count` pulses of `peak` gate volts (signed) and `width` seconds out of `terminal`."""
        with self._lock:
            self._flush_drives()
            self._deliver(terminal, count, peak, width)

    def measure_smu(self, source: str, level: float, limit: float) -> SmuReading:
        """One SMU reading. source "VOLT": force `level` volts, current limit `limit` amperes;
        source "CURR": force `level` amperes, voltage limit `limit` volts."""
        with self._lock:
            self._flush_drives()
            pad_net, node_net = self._nets()
            hi = node_net[SMU_HI]
            fixed, names = self._fixed(node_net, exclude=SMU_HI)
            if hi in fixed:
                return self._shorted_smu(source, level, limit, fixed[hi], names[hi])
            active, g = self._conducting(pad_net, {*fixed, hi})
            currents = [self._current(pad_net, active, g, fixed, hi=hi, v_hi=v)[0] for v in (1.0, 0.0)]
            slope, offset = currents[0] - currents[1], currents[1]  # I = slope * V + offset
            reading = _operating_point(source, level, limit, slope, offset)
            _, potentials = self._current(pad_net, active, g, fixed, hi=hi, v_hi=reading.voltage)
            self._check_read_bias(pad_net, active, potentials)
            return reading

    # ------------------------------------------------------------------ nets
    def _nets(self) -> tuple[np.ndarray, dict[str, int]]:
        """Net id of every pad (index = pad number) and of every row node, by union-find."""
        nodes = {node for fab in self._fabrics.values() for pair in fab for node in pair}
        names = sorted({n for n in nodes if isinstance(n, str)} | set(TERMINALS))
        first = self.pins.n_pads + 1
        index = {name: first + k for k, name in enumerate(names)}
        parent = list(range(first + len(names)))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for fab in self._fabrics.values():
            for node, pad in fab:
                a, b = find(index[node]), find(pad if isinstance(pad, int) else index[pad])
                if a != b:
                    parent[a] = b
        roots = np.array([find(i) for i in range(len(parent))], dtype=np.int64)
        return roots, {name: int(roots[index[name]]) for name in names}

    def _fixed(
        self, node_net: Mapping[str, int], exclude: str | None = None
    ) -> tuple[dict[int, float], dict[int, list[str]]]:
        """Nets held at a potential, and which terminals hold them."""
        sources = {t: 0.0 for t in _GROUNDED} | self._levels
        fixed: dict[int, float] = {}
        names: dict[int, list[str]] = {}
        for terminal, volts in sources.items():
            if terminal == exclude:
                continue
            net = node_net[terminal]
            fixed.setdefault(net, volts)
            names.setdefault(net, []).append(terminal)
        return fixed, names

    def _conducting(self, pad_net: np.ndarray, fixed_nets: set[int]) -> tuple[np.ndarray, np.ndarray]:
        """Devices that can carry current, and their conductances (siemens) read now."""
        dn, sn = pad_net[self.pins.drain], pad_net[self.pins.source]
        active = dn != sn
        pinned = np.zeros(len(pad_net), dtype=bool)
        pinned[list(fixed_nets)] = True
        while True:  # a floating net reached by a single device is a dead end: no current
            deg = np.bincount(np.concatenate([dn[active], sn[active]]), minlength=len(pad_net))
            dead = (deg <= 1) & ~pinned
            drop = active & (dead[dn] | dead[sn])
            if not drop.any():
                break
            active &= ~drop
        idx = np.flatnonzero(active)
        # keep only devices whose connected piece touches a held net
        parent = {int(n): int(n) for n in np.concatenate([dn[idx], sn[idx]])}

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for k in idx:
            a, b = find(int(dn[k])), find(int(sn[k]))
            if a != b:
                parent[a] = b
        anchored = {find(n) for n in parent if n in fixed_nets}
        idx = np.array([k for k in idx if find(int(dn[k])) in anchored], dtype=np.int64)
        g = np.zeros(len(idx))
        for a_index, backend in enumerate(self.arrays.values()):
            mine = self._array_of[idx] == a_index
            if mine.any():
                pairs = np.stack([self._rows[idx[mine]], self._cols[idx[mine]]], axis=1)
                g[mine] = backend.read(pairs)
        return idx, g

    def _current(
        self,
        pad_net: np.ndarray,
        idx: np.ndarray,
        g: np.ndarray,
        fixed: Mapping[int, float],
        *,
        hi: int,
        v_hi: float,
    ) -> tuple[float, dict[int, float]]:
        """Current (A) out of the HI net with HI at v_hi, and every net's potential (V)."""
        held = {**fixed, hi: v_hi}
        if len(idx) == 0:
            return 0.0, held
        dn, sn = pad_net[self.pins.drain[idx]], pad_net[self.pins.source[idx]]
        nets = np.unique(np.concatenate([dn, sn]))
        pos = {int(n): k for k, n in enumerate(nets)}
        a = np.array([pos[int(n)] for n in dn])
        b = np.array([pos[int(n)] for n in sn])
        lap = np.zeros((len(nets), len(nets)))
        np.add.at(lap, (a, a), g)
        np.add.at(lap, (b, b), g)
        np.add.at(lap, (a, b), -g)
        np.add.at(lap, (b, a), -g)
        known = np.array([int(n) in held for n in nets])
        v = np.array([held.get(int(n), 0.0) for n in nets])
        if (~known).any():
            rhs = -lap[np.ix_(~known, known)] @ v[known]
            v[~known] = np.linalg.lstsq(lap[np.ix_(~known, ~known)], rhs, rcond=None)[0]
        potentials = {int(n): float(v[k]) for k, n in enumerate(nets)} | held
        at_hi = pos.get(hi, -1)
        i_hi = float(np.sum(g * ((a == at_hi) * (v[a] - v[b]) + (b == at_hi) * (v[b] - v[a]))))
        return i_hi, potentials

    def _shorted_smu(
        self, source: str, level: float, limit: float, other: float, names: list[str]
    ) -> SmuReading:
        self.note(f"short circuit: SMU HI is connected to {', '.join(names)}")
        if source == "VOLT":
            diff = level - other
            return SmuReading(other, math.copysign(limit, diff) if diff else 0.0, bool(diff))
        return SmuReading(other, level, False)

    # ------------------------------------------------------------------ pulses
    def _deliver(self, terminal: str, count: int, peak: float, width: float) -> None:
        if count <= 0:
            return
        pad_net, node_net = self._nets()
        net = node_net[terminal]
        fixed, names = self._fixed(node_net, exclude=terminal)
        if net in fixed:
            self.note(f"short circuit: {terminal} is connected to {', '.join(names[net])}; pulses lost")
            return
        on_gate = np.flatnonzero(pad_net[self.pins.gate] == net)
        on_channel = np.flatnonzero((pad_net[self.pins.drain] == net) | (pad_net[self.pins.source] == net))
        for k in on_channel:
            self.note(f"{terminal} pulses reach the drain/source of device {self.pins.keys[k]}")
        if len(on_gate) == 0:
            self.unrouted_pulses += count
            return
        amplitude = abs(peak)
        if amplitude < 1e-9:
            return
        sign = 1 if peak > 0 else -1
        for a_index, (name, backend) in enumerate(self.arrays.items()):
            mine = [k for k in on_gate if self._array_of[k] == a_index]
            if not mine:
                continue
            live = [k for k in mine if self.pins.keys[k] not in self.stuck]
            applied = self._apply(
                name, backend, live, sign=sign, count=count, amplitude=amplitude, width=width
            )
            for k in mine:
                _, r, c = self.pins.keys[k]
                record = PulseRecord(
                    terminal=terminal,
                    array=name,
                    row=r,
                    col=c,
                    count=sign * count,
                    amplitude=amplitude,
                    width=width,
                    applied=applied and k in live,
                )
                self.pulse_log.append(record)

    def _apply(
        self,
        name: str,
        backend: CrossbarBackend,
        devices: list[int],
        *,
        sign: int,
        count: int,
        amplitude: float,
        width: float,
    ) -> bool:
        if not devices:
            return False
        try:
            pulse = Pulse(amplitude=amplitude, width=width)
            backend.limits.check_pulse(pulse)
        except (LimitError, ValueError) as err:
            self.note(f"array {name!r} refused pulses of {amplitude:g} V x {width:g} s: {err}")
            return False
        per_call = backend.limits.max_pulses_per_call
        done = 0
        while done < count:  # a long burst is split: the contract caps pulses per call
            n = min(per_call, count - done)
            counts = np.zeros(backend.shape, dtype=np.int64)
            counts[self._rows[devices], self._cols[devices]] = sign * n
            backend.apply_pulses(counts, pulse)
            done += n
        return True

    def _flush_drives(self) -> None:
        now = time.monotonic()
        for terminal, d in self._drives.items():
            due = (now - d.since) * d.rate + d.carry
            n = int(due)
            d.carry, d.since = due - n, now
            if d.waveform == "PULS" and n:
                self._deliver(terminal, n, d.peak, d.width)

    # ------------------------------------------------------------------ stress bookkeeping
    def note(self, message: str) -> None:
        """Record a stress or wiring problem once (the list keeps the first occurrence)."""
        if message not in self._noted:
            self._noted.add(message)
            self.violations.append(message)

    def _check_static(self) -> None:
        pad_net, node_net = self._nets()
        pads = pad_net[1 : self.pins.n_pads + 1]
        by_net: dict[int, dict[str, float]] = {}
        for terminal, volts in ({t: 0.0 for t in _GROUNDED} | self._levels).items():
            by_net.setdefault(node_net[terminal], {})[terminal] = volts
        for held in by_net.values():
            if max(held.values()) - min(held.values()) > _DC_TOLERANCE:
                self.note(f"short circuit between {', '.join(sorted(held))}")
        for terminal, volts in self._levels.items():
            if terminal in _GROUNDED or abs(volts) <= _DC_TOLERANCE:
                continue
            for k in np.flatnonzero(pad_net[self.pins.gate] == node_net[terminal]):
                self.note(f"DC bias of {volts:g} V from {terminal} on the gate of device {self.pins.keys[k]}")
        for terminal, d in self._drives.items():
            if d.waveform != "PULS" and (pads == node_net[terminal]).any():
                self.note(f"{terminal} drives a {d.waveform} waveform into chip pads; not modelled")

    def _check_read_bias(self, pad_net: np.ndarray, idx: np.ndarray, potentials: Mapping[int, float]) -> None:
        for k in idx:
            vds = potentials[int(pad_net[self.pins.drain[k]])] - potentials[int(pad_net[self.pins.source[k]])]
            name = self.pins.keys[k][0]
            limit = self.arrays[name].limits.max_read_voltage
            if abs(vds) > limit * (1 + 1e-9):
                self.note(
                    f"read bias {vds:.4g} V across device {self.pins.keys[k]} exceeds "
                    f"max_read_voltage {limit:g} V"
                )

    def describe(self) -> dict[str, object]:
        """JSON-ready description: arrays, backends and the pin map."""
        return {
            "arrays": {
                n: {"backend": type(b).__name__, "shape": list(b.shape)} for n, b in self.arrays.items()
            },
            "pins": self.pins.to_dict(),
        }
