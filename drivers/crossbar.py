"""HardwareCrossbar: one logical array of a bench, read and written through the instrument drivers.

The bench (hil.benchconfig) wires four instrument terminals to switch-matrix rows (smu_hi,
smu_lo, pulse_out, pulse_ref) and every device terminal (gate, drain, source) to a matrix
column (a chip pad). A logical array is a rectangle of the chip's devices.

Read of one device: route its drain to SMU HI and its source to SMU LO (all other crosspoints
open), wait until the matrix reports the relays settled, switch the SMU output on, measure the
current at the configured read voltage (below the write threshold), switch it off, and return
G = I / V in siemens: relays never switch with the read bias live. With a trigger cable from
the SMU to the matrix ([triggers] smu_to_switch) a read call is one scan instead: the matrix
steps through the devices' routings on the SMU's triggers, and for each step the SMU waits for
the matrix's Channel Ready signal ([triggers] switch_ready; without that cable, [timing]
scan_delay, checked against the matrix's settling time), switches its output on, buffers one
reading and switches it off (instrument_scans).

Pulses: devices that get the same signed count form a group; per group, route every gate of
the group to pulse_out and their source pads to pulse_ref in one matrix operation, set the
generator's polarity (levels 0 V to +-amplitude, width), output on, one bus-triggered burst of
|count| pulses, output off. Switches open when the write is done. The stochastic update is
the base class's: coincidence counts drawn here, applied as such bursts.

VMMs are computed from reads (Capabilities.physical_vmm is False). Units: volts, seconds,
amperes, siemens. See docs/hardware-backend.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from functools import partial
from typing import Any, TypeVar

import numpy as np

from drivers import retry as retrying
from drivers.errors import (
    CommunicationError,
    InstrumentError,
    PartialWriteError,
    PulseGroup,
    SafeStateError,
    UnreadableReply,
    WriteProgress,
    WriteStage,
)
from drivers.registry import matrix_settle_time
from drivers.retry import RetryLog, RetryPolicy, TransientFault, call_with_retries
from drivers.roles import AlternatingSequence, PulseGenerator, SourceMeter, SwitchMatrix
from drivers.safestate import attempt_each
from hil.backend import Capabilities, CrossbarBackend, DeviceKind, FloatArray, IntArray
from hil.benchconfig import BenchConfig
from hil.interrupts import critical
from hil.pulses import LimitError, Pulse, PulsePair


class VmmReads(StrEnum):
    """Where a VMM's conductances come from (HardwareCrossbar's vmm_reads)."""

    FRESH = "fresh"
    AFTER_WRITE = "after_write"


VMM_READS = tuple(policy.value for policy in VmmReads)
T = TypeVar("T")
Crosspoint = tuple[int, int]  # (matrix row = instrument line, matrix column = chip pad), 1-based

# A reading within this fraction of the current compliance counts as limited: the SMU held the
# current there, so I / V is not the device's conductance.
COMPLIANCE_MARGIN = 1e-3
# A reading above this multiple of the current compliance cannot come from the SMU, which holds
# the current at the compliance (its overshoot and measurement error are far below 10 %).
IMPOSSIBLE_READING = 1.1
# Hertz of the mains a reading's NPLC integrates over, for time estimates: 60 Hz; at 50 Hz each
# reading takes a fifth longer than estimated.
MAINS_HZ = 60.0


class MatrixRouter:
    """Makes a switch matrix close exactly a given set of crosspoints, remembering what it closed.

    The matrix's own connect_exactly does the switching (a Keithley 707B in one query, the
    serial relay board by the difference to the previous routing); the router keeps the
    previous routing so that the difference can be used, and forgets it when an error
    interrupted a change.
    """

    def __init__(self, matrix: SwitchMatrix):
        self.matrix = matrix
        self._closed: frozenset[Crosspoint] | None = None  # None: unknown (an error interrupted)

    def connect(self, points: frozenset[Crosspoint]) -> None:
        """Close exactly `points`; every other crosspoint ends up open."""
        previous, self._closed = self._closed, None
        if previous == points:
            self._closed = previous
            return
        self._closed = self.matrix.connect_exactly(points, previous)

    def forget(self) -> None:
        """The matrix is about to move on its own (a scan): its routing is unknown until release()."""
        self._closed = None

    def release(self) -> None:
        """Open every crosspoint."""
        self._closed = None
        self.matrix.open_all()
        self._closed = frozenset()


class BenchInstruments:
    """The SMU, pulse generator and switch matrix of one bench, shared by all its arrays.

    Remembers what it configured so that a read or a burst does not repeat the setup, and
    forgets it whenever the bench is made safe after an error.
    nplc: integration time of each current reading in power-line cycles.
    retry, retries: how operations that change no device are tried again after a transient
    fault, and the log of those retries (drivers.retry). reconnect(role): reopens the role's
    connection and re-verifies the instrument, then hands the new driver to replace() (None:
    a link fault is not retried). locate(exc): fills in the address and last command of an
    InstrumentError raised above the connection (an unreadable reply), for its message.
    """

    def __init__(
        self,
        smu: SourceMeter,
        pulser: PulseGenerator,
        matrix: SwitchMatrix,
        config: BenchConfig,
        nplc: float = 1.0,
        *,
        retry: RetryPolicy | None = None,
        retries: RetryLog | None = None,
        reconnect: Callable[[str], None] | None = None,
        locate: Callable[[BaseException], None] | None = None,
    ):
        self.smu, self.pulser, self.matrix, self.config = smu, pulser, matrix, config
        self.nplc = float(nplc)
        self.router = MatrixRouter(matrix)
        self.retry = RetryPolicy() if retry is None else retry
        self.retries = RetryLog() if retries is None else retries
        self.reconnect = reconnect
        self.locate = locate if locate is not None else _nowhere
        self._read_ready = False
        self._pulse_setup: tuple[float, float, int] | None = None
        # (steps, passes) of the matrix's confirmed scan list
        self._scan_setup: tuple[tuple[frozenset[Crosspoint], ...], int] | None = None

    def prepare_read(self) -> None:
        """SMU: source the read voltage, measure current, limit at the bench's compliance."""
        if not self._read_ready:
            limits = self.config.limits
            self.smu.configure_read(self.config.read_voltage, limits.current_compliance, self.nplc)
            self._read_ready = True

    def prepare_pulse(self, amplitude: float, width: float, polarity: int) -> None:
        """Pulse generator: pulses of amplitude volts, width seconds, polarity +1 or -1."""
        wanted = (amplitude, width, polarity)
        if self._pulse_setup != wanted:
            self._pulse_setup = None  # unknown until the driver has confirmed the new setup
            self.pulser.configure_pulse(amplitude, width, polarity)
            self._pulse_setup = wanted

    def scan_currents(self, steps: tuple[frozenset[Crosspoint], ...]) -> list[float]:
        """Currents in amperes, one per step of a scan over the trigger cable ([triggers]
        smu_to_switch): the SMU's k-th trigger makes the matrix close exactly steps[k]; the SMU
        waits for the matrix's Channel Ready ([triggers] switch_ready), or without that cable
        [timing] scan_delay, then switches its output on, reads, and switches it off. The
        matrix's scan list is set up only when `steps` differ from the last confirmed one.
        Needs prepare_read(); ends with the SMU output off and every crosspoint open.
        """
        cable, ready = self.config.smu_to_switch, self.config.switch_ready
        if cable is None:
            raise RuntimeError(f"bench {self.config.name!r} has no [triggers] smu_to_switch cable")
        self.prepare_scan(steps)
        self.smu.configure_triggered_reads(
            len(steps),
            cable.smu,
            self.config.timing.scan_delay,
            wait_line=None if ready is None else ready.smu,
            switch_source=True,  # on after each step's routing, off before the next
        )
        self.router.forget()
        self.matrix.start_scan()
        amps = self.smu.run_triggered_reads()
        self.smu.output_off()
        self.matrix.check_scan(len(steps))
        self.router.release()
        return amps

    def prepare_scan(self, steps: tuple[frozenset[Crosspoint], ...], passes: int = 1) -> None:
        """The matrix's scan list: `passes` passes over `steps`, each step on a trigger over the
        [triggers] smu_to_switch cable (with Channel Ready out over switch_ready, if cabled);
        sent only when it differs from the last confirmed one."""
        cable, ready = self.config.smu_to_switch, self.config.switch_ready
        if cable is None:
            raise RuntimeError(f"bench {self.config.name!r} has no [triggers] smu_to_switch cable")
        if self._scan_setup != (steps, passes):
            self._scan_setup = None  # unknown until the matrix has confirmed the new list
            ready_line = None if ready is None else ready.switch
            self.matrix.configure_scan(steps, cable.switch, ready_line, passes=passes)
            self._scan_setup = (steps, passes)

    def arm_alternating(self, pulses: PulsePair) -> None:
        """Pulse generator: up pulses on falling trigger edges, down pulses on rising ones (its
        set-up for one polarity is left, so the next prepare_pulse sends it again)."""
        self._pulse_setup = None
        self.pulser.arm_alternating(pulses.up, pulses.down)

    def replace(self, role: str, driver: SourceMeter | PulseGenerator | SwitchMatrix) -> None:
        """A reopened connection to `role`'s instrument ("smu", "pulser" or "matrix") takes the
        old one's place; what was configured through the old one counts as unknown."""
        setattr(self, role, driver)
        self.router = MatrixRouter(self.matrix)
        self._read_ready = False
        self._pulse_setup = None
        self._scan_setup = None

    def unchanging(self, operation: str, step: Callable[[], T], failed: Exception | None = None) -> T:
        """`step()`, an operation that changes no device (a read), tried again after a
        transient fault (drivers.retry): in between, the bench is made safe, and a connection
        that dropped or stopped answering is reopened and its instrument re-verified. The read
        configuration is sent again by the step's prepare_read(). Never give it a pulse.
        failed: the fault of a first try made by another call (drivers.retry.call_with_retries)."""
        return call_with_retries(
            step,
            operation=operation,
            policy=self.retry,
            log=self.retries,
            recover=self._recover,
            failed=failed,
        )

    def _recover(self, exc: Exception, fault: TransientFault, delay: float) -> bool:
        """Bring the bench back after a transient fault; True if a connection was reopened.
        Raises (the original error, or the reconnection's) if the bench cannot go on safely."""
        self.locate(exc)
        link = isinstance(exc, CommunicationError) and exc.role is not None and self.reconnect is not None
        if link:
            retrying.pause(delay)  # the link gets time to come back
            self.reconnect(exc.role)  # type: ignore[misc, arg-type]
        failures = self.make_safe()
        if failures:
            raise exc
        if not link:
            retrying.pause(delay)  # waited with the outputs off and the switches open
        return link

    def make_safe(self) -> list[tuple[str, str]]:
        """Pulse generator off, switches open (a scan aborted), SMU off, then both outputs
        confirmed by *OPC?; each step is tried even if one fails.

        Returns (step, error) for the steps that failed (empty: the bench is safe).
        """
        self._read_ready = False
        self._pulse_setup = None
        self._scan_setup = None
        self.pulser.forget_settings()  # after an error, what the generator holds is unknown
        steps: list[tuple[str, Callable[[], None]]] = [
            ("pulse generator output off", self.pulser.output_off),
            ("switch matrix open", self.router.release),
            ("SMU output off", self.smu.output_off),
            # A write is not acknowledged: ask each output's instrument whether it has done it.
            ("pulse generator output off (confirmed)", lambda: _confirm(self.pulser)),
            ("SMU output off (confirmed)", lambda: _confirm(self.smu)),
        ]
        return [(what, f"{type(exc).__name__}: {exc}") for what, exc in attempt_each(steps)]


def _nowhere(exc: BaseException) -> None:
    """A bench that cannot tell where an error came from leaves it as it is."""


def _note_safe_state(exc: BaseException, failures: list[tuple[str, str]], after: str) -> None:
    """Add to `exc` whether the bench reached its safe state, and what to do next."""
    if failures:
        listed = "; ".join(f"{what}: {error}" for what, error in failures)
        exc.add_note(
            f"making the bench safe failed too: {listed}. Check the instruments by hand "
            "(outputs off, switch matrix open) before touching the chip"
        )
    else:
        exc.add_note(f"the bench is in its safe state; {after}")


def _confirm(instrument: Any) -> None:
    """*OPC? answers once every command before it has been carried out."""
    reply = str(instrument.ask("*OPC?")).strip()
    if reply != "1":
        raise InstrumentError(instrument.name, f"*OPC? answered {reply!r}, expected '1'")


class HardwareCrossbar(CrossbarBackend):
    """The logical array `name` of a bench configuration, on real (or virtual) instruments.

    conductance_range: nominal (G_min, G_max) of the devices in siemens (for weight mapping; a
        bench cannot know it, so the caller states it). device_kind: what the devices are.
    seed: seed of the stochastic update's bit streams (drawn on this computer).
    vmm_reads: where a VMM's conductances come from. "fresh": every VMM reads every device
        again (each VMM sees new read noise and any drift). "after_write": a VMM reads only the
        devices pulsed since their last reading and reuses the latest reading of the others;
        read() always measures. On a chip whose untouched devices hold their state between
        VMMs this gives the same products for a fraction of the reads (SHD's A_ref is never
        written after preparation), at the price of one read-noise draw per device per write
        instead of one per VMM.
    Reads (read(), and the reads of a VMM) are tried again after a transient fault (a garbled
    reply, no reply in time, a dropped connection; drivers.retry): the bench is made safe, a
    failed connection reopened and re-verified, and the whole read runs again; each retry is
    logged in the bench's RetryLog. Pulses are never retried. A read that still fails raises
    after the bench was made safe, with a note saying whether the safe state was reached. A
    current beyond the compliance, which the SMU cannot deliver, is a corrupted reply.
    """

    def __init__(
        self,
        name: str,
        config: BenchConfig,
        instruments: BenchInstruments,
        conductance_range: tuple[float, float],
        *,
        device_kind: DeviceKind = DeviceKind.PROTONIC,
        seed: int | None = None,
        vmm_reads: str = "fresh",
    ):
        if vmm_reads not in VMM_READS:
            raise ValueError(f"vmm_reads must be one of {', '.join(VMM_READS)}, got {vmm_reads!r}")
        if name not in config.arrays:
            raise ValueError(
                f"bench {config.name!r} has no array {name!r}; its arrays: {', '.join(config.arrays)}"
            )
        g_min, g_max = (float(g) for g in conductance_range)
        if not (math.isfinite(g_min) and math.isfinite(g_max) and 0 < g_min < g_max):
            raise ValueError(
                f"conductance_range must be (G_min, G_max) siemens with 0 < G_min < G_max, "
                f"got {conductance_range!r}"
            )
        region = config.arrays[name]
        super().__init__(region.shape, config.limits, seed)
        self.name = name
        self._config = config
        self._inst = instruments
        self._range = (g_min, g_max)
        self._kind = DeviceKind(device_kind)
        rows, cols = region.shape
        at = [(region.row_start + r, region.col_start + c) for r in range(rows) for c in range(cols)]
        self._pads = {
            terminal: np.array([config.pad(terminal, *p) for p in at], dtype=np.int64).reshape(rows, cols)
            for terminal in ("gate", "drain", "source")
        }
        self._wiring = dict(config.wiring)
        self.vmm_reads = VmmReads(vmm_reads)
        # Latest reading per device (siemens); NaN once a device may have changed since.
        self._latest = np.full(region.shape, np.nan)
        #: operations done through the instruments (for transaction accounting)
        self.operations = dict.fromkeys(
            ("read_calls", "device_reads", "pulse_calls", "pulse_groups", "pulse_trains", "pair_calls"), 0
        )

    # ------------------------------------------------------------------ description
    @property
    def device_kind(self) -> DeviceKind:
        return self._kind

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(physical_vmm=False, native_stochastic_update=False, parallel_pulses=True)

    @property
    def conductance_range(self) -> tuple[float, float]:
        return self._range

    @property
    def read_voltage(self) -> float:
        """The bench's read bias in volts ([read] voltage of the configuration)."""
        return float(self._config.read_voltage)

    def pads(self, terminal: str) -> IntArray:
        """Chip pads (switch-matrix columns) of every device's `terminal`, shaped like the array."""
        return self._pads[terminal].copy()

    def describe(self) -> dict[str, object]:
        d = super().describe()
        region = self._config.arrays[self.name]
        d["hardware"] = {
            "bench": self._config.name,
            "array": self.name,
            "chip_rows": [region.row_start, region.row_stop],
            "chip_cols": [region.col_start, region.col_stop],
            "read": {
                "voltage_V": self.read_voltage,
                "compliance_A": self._config.limits.current_compliance,
                "nplc": self._inst.nplc,
            },
            "scheme": "VMM from reads; pulses grouped by signed count, one burst per group",
            "reads": "one scan per read call" if self.instrument_scans else "device by device",
            "pairs": "inside the instruments" if self.instrument_pairs else "apply_pulses and read calls",
            "vmm_reads": self.vmm_reads,
            "operations": dict(self.operations),
        }
        return d

    # ------------------------------------------------------------------ primitives
    @property
    def instrument_scans(self) -> bool:
        """True if a read call runs as one scan of the switch matrix stepped by the SMU: the bench
        has a trigger cable from the SMU to the matrix ([triggers] smu_to_switch) and both
        drivers can use it (supports_triggered_reads, supports_scans)."""
        inst = self._inst
        return (
            self._config.smu_to_switch is not None
            and inst.smu.supports_triggered_reads
            and inst.matrix.supports_scans
        )

    def _read(self, rows: IntArray, cols: IntArray) -> FloatArray:
        inst = self._inst
        self.operations["read_calls"] += 1
        try:
            g = inst.unchanging(
                f"read of {len(rows)} device(s) of array {self.name!r}", partial(self._read_once, rows, cols)
            )
        except BaseException as exc:
            inst.locate(exc)
            # The original error is the one to report; what the safe state could not do goes with it.
            _note_safe_state(exc, inst.make_safe(), "a read changes no device: read again once it is fixed")
            raise
        self._latest[rows, cols] = g
        return g

    def _read_once(self, rows: IntArray, cols: IntArray) -> FloatArray:
        self._inst.prepare_read()
        if self.instrument_scans and len(rows):
            return self._scan_read(rows, cols)
        return self._device_reads(rows, cols)

    def _read_route(self, r: int, c: int) -> frozenset[Crosspoint]:
        """Drain to SMU HI, source to SMU LO."""
        w, pads = self._wiring, self._pads
        return frozenset({(w["smu_hi"], int(pads["drain"][r, c])), (w["smu_lo"], int(pads["source"][r, c]))})

    def _device_reads(self, rows: IntArray, cols: IntArray) -> FloatArray:
        """One routing and one :READ? per device, each reading checked before the next device."""
        inst = self._inst
        volts = self.read_voltage
        g = np.empty(len(rows))
        for k, (r, c) in enumerate(zip(rows, cols, strict=True)):
            inst.router.connect(self._read_route(r, c))  # returns once the relays have settled
            # The output goes on after the routing and off before the next: relays never switch
            # with the read bias live.
            amps = inst.smu.read_current_switched()
            self.operations["device_reads"] += 1
            g[k] = self._conductance(amps, volts, int(r), int(c))
        inst.router.release()
        return g

    def _scan_read(self, rows: IntArray, cols: IntArray) -> FloatArray:
        """All devices in one scan (BenchInstruments.scan_currents): a fixed number of
        transactions whatever the number of devices; the readings are checked afterwards."""
        steps = tuple(self._read_route(r, c) for r, c in zip(rows, cols, strict=True))
        amps = self._inst.scan_currents(steps)
        self.operations["device_reads"] += len(steps)
        volts = self.read_voltage
        readings = zip(amps, rows, cols, strict=True)
        return np.array([self._conductance(a, volts, int(r), int(c)) for a, r, c in readings])

    def _vmm(self, v: FloatArray) -> FloatArray:
        return v @ self._vmm_conductances()

    def _vmm_transposed(self, v: FloatArray) -> FloatArray:
        return v @ self._vmm_conductances().T

    def _vmm_conductances(self) -> FloatArray:
        """The conductances a VMM multiplies with, per the vmm_reads policy."""
        if self.vmm_reads is VmmReads.FRESH:
            return self._read_all()
        stale = np.isnan(self._latest)
        if stale.any():
            rows, cols = np.nonzero(stale)
            self._read(rows, cols)
        return self._latest.copy()

    def _conductance(self, amps: float, volts: float, row: int, col: int) -> float:
        compliance = self._config.limits.current_compliance
        if not math.isfinite(amps) or abs(amps) > compliance * IMPOSSIBLE_READING:
            raise UnreadableReply(
                self._inst.smu.name,
                f"device ({row}, {col}) of array {self.name!r}: the SMU reported {amps:g} A, more than its "
                f"current compliance {compliance:g} A lets through: a corrupted reply (garbled or truncated "
                "on the line) or a measurement overflow; check the connection and read again",
            )
        if abs(amps) >= compliance * (1 - COMPLIANCE_MARGIN):
            raise InstrumentError(
                self._inst.smu.name,
                f"device ({row}, {col}) of array {self.name!r} reads {amps:g} A, at the current "
                f"compliance {compliance:g} A: its conductance exceeds {compliance / volts:g} S or the "
                "routing shorts HI to LO; check the wiring, or raise current_compliance in the bench limits",
            )
        return amps / volts

    def _apply_pulses(self, counts: IntArray, pulse: PulsePair) -> None:
        self._latest[counts != 0] = np.nan  # before anything is sent: a failure may leave them moved
        inst = self._inst
        self.operations["pulse_calls"] += 1
        with self._pulse_write(self.pulse_groups(counts)) as progress:
            for group in progress.groups:
                # A Ctrl-C during a group is held until the group is done (hil.interrupts).
                with critical():
                    progress.start(group)
                    inst.router.connect(self._pulse_route(group))
                    progress.stage = WriteStage.CONFIGURING
                    sign = 1 if group.count > 0 else -1
                    one = pulse.for_sign(sign)  # each polarity its own level and width
                    inst.prepare_pulse(one.amplitude, one.width, sign)
                    inst.pulser.output_on()
                    progress.stage = WriteStage.FIRING
                    inst.pulser.fire(abs(group.count))
                    progress.finish()
                    self.operations["pulse_groups"] += 1
                    inst.pulser.output_off()
            inst.router.release()

    def _pulse_route(self, group: PulseGroup) -> frozenset[Crosspoint]:
        """Every gate of the group to the generator's output, their sources to its reference."""
        out, ref = self._wiring["pulse_out"], self._wiring["pulse_ref"]
        gates = {(out, int(self._pads["gate"][r, c])) for r, c in group.devices}
        return frozenset(gates | {(ref, int(self._pads["source"][r, c])) for r, c in group.devices})

    @contextmanager
    def _pulse_write(self, groups: Sequence[PulseGroup]) -> Iterator[WriteProgress]:
        """Track a pulse write over `groups`. On any error the bench is made safe first; an
        Exception then becomes a PartialWriteError saying how far the write came, while
        KeyboardInterrupt and SystemExit go on as they are. Nothing is retried."""
        progress = WriteProgress(tuple(groups))
        try:
            yield progress
        except Exception as exc:
            self._inst.locate(exc)
            failures = [f"{what}: {error}" for what, error in self._inst.make_safe()]
            raise PartialWriteError(self.name, progress, exc, failures) from exc
        except BaseException:
            self._inst.make_safe()
            raise

    # ------------------------------------------------------------------ pulse-read trains
    @property
    def instrument_trains(self) -> bool:
        """True if pulse_read_train runs inside the instruments: the bench has a trigger cable
        from the SMU to the pulse generator ([triggers] smu_to_pulser) and both drivers can use it."""
        inst = self._inst
        return (
            self._config.smu_to_pulser is not None
            and inst.smu.supports_triggered_reads
            and inst.pulser.supports_external_trigger
        )

    def _pulse_read_train(self, row: int, col: int, count: int, sign: int, pulse: PulsePair) -> FloatArray:
        """pulse_read_train (arguments and pulse checked by the base class).

        With a trigger cable (instrument_trains) the device's gate is routed to the generator
        and its drain and source to the SMU at once (pulse_ref shares the source pad), the
        generator is armed on its external trigger and the SMU's trigger model runs every cycle
        (trigger out, [timing] train_gap, one reading into its buffer), fetched once at the end: a
        few dozen transactions whatever `count`. A pulse whose end (the generator's trigger
        latency plus its width) plus its settling ([timing] pulse_settle, at least its width)
        does not fit in train_gap is refused with LimitError before anything is sent. Without
        the cable, the base class's cycles of apply_pulses and read (same results, ~2 x count x
        their transactions).

        An error after the sequence started raises PartialWriteError (stage "firing": an
        unknown number of the pulses reached the device; read it before writing again), after
        the bench was made safe. Nothing is retried.
        """
        if not self.instrument_trains:
            self._latest[row, col] = np.nan  # before anything is sent: a failure may leave it moved
            return super()._pulse_read_train(row, col, count, sign, pulse)
        one = pulse.for_sign(sign)  # the train fires the pulse of its polarity only
        self._check_train_gap(one)
        self._latest[row, col] = np.nan
        return self._instrument_train(row, col, count, sign, one)

    def _check_train_gap(self, pulse: Pulse) -> None:
        """LimitError unless the pulse has ended and settled before the train's reading starts."""
        timing = self._config.timing
        end = self._inst.pulser.trigger_latency + pulse.width
        needed = end + timing.pulse_margin(pulse.width)
        if needed > timing.train_gap:
            raise LimitError(
                f"a {pulse.width:g} s pulse ends {end:g} s after the SMU's trigger and needs "
                f"{timing.pulse_margin(pulse.width):g} s more to settle: {needed:g} s, more than the "
                f"{timing.train_gap:g} s from trigger to reading in a pulse-read train ([timing] "
                "train_gap); nothing was sent. Raise train_gap or use a shorter pulse"
            )

    def _instrument_train(self, r: int, c: int, n: int, sign: int, pulse: Pulse) -> FloatArray:
        inst = self._inst
        w = self._wiring
        gate, drain, source = (int(self._pads[t][r, c]) for t in ("gate", "drain", "source"))
        points = frozenset(
            {(w["pulse_out"], gate), (w["pulse_ref"], source), (w["smu_hi"], drain), (w["smu_lo"], source)}
        )
        group = PulseGroup(sign * n, ((r, c),))
        self.operations["pulse_trains"] += 1
        with self._pulse_write((group,)) as progress:
            with critical():
                progress.start(group)
                inst.router.connect(points)
                progress.stage = WriteStage.CONFIGURING
                inst.prepare_read()
                inst.prepare_pulse(pulse.amplitude, pulse.width, sign)
                inst.pulser.arm_external_trigger()
                inst.smu.configure_triggered_reads(
                    n, self._config.smu_to_pulser, self._config.timing.train_gap
                )
                inst.smu.output_on()
                inst.pulser.output_on()
                progress.stage = WriteStage.FIRING
                amps = self._train_readings(n)
                inst.pulser.output_off()
                inst.smu.output_off()
                progress.finish()
            inst.router.release()
        self.operations["device_reads"] += n
        volts = self.read_voltage
        g = np.array([self._conductance(a, volts, r, c) for a in amps])
        self._latest[r, c] = g[-1]
        return g

    def _train_readings(self, n: int) -> list[float]:
        """Run the armed train and return its `n` currents (amperes). The SMU replies once the
        train has run, so when that reply cannot be read, every pulse has fired and the
        readings sit in the SMU's buffer: they are fetched again from there, retried as a read,
        and nothing fires twice. Any other fault goes on (whether the pulses fired is unknown)."""
        smu = self._inst.smu
        try:
            return smu.run_triggered_reads()
        except UnreadableReply as exc:
            garbled = exc
        return self._inst.unchanging(
            f"fetch of a train's {n} readings on array {self.name!r}",
            lambda: self._inst.smu.fetch_triggered_reads(n),
            failed=garbled,
        )

    # ------------------------------------------------------------------ alternating pairs
    @property
    def instrument_pairs(self) -> bool:
        """True if alternating_pairs runs inside the instruments: the bench has both trigger
        cables from the SMU, to the pulse generator ([triggers] smu_to_pulser) and to the switch
        matrix (smu_to_switch), the SMU and the generator can alternate (supports_alternating)
        and the matrix can scan."""
        inst, config = self._inst, self._config
        return (
            config.smu_to_pulser is not None
            and config.smu_to_switch is not None
            and inst.smu.supports_alternating
            and inst.pulser.supports_alternating
            and inst.matrix.supports_scans
            and self._pairs_per_sequence(1) > 0  # one read after each pulse fits a sequence
        )

    def alternating_pairs_seconds(self, pairs: int, *, read_every: int) -> float:
        """Instrument time of alternating_pairs(pairs, read_every=...), seconds, from the bench's
        [timing], the matrix's settling time and the readings' NPLC at MAINS_HZ. Inside the
        instruments: per pair two train_gaps; per whole-array read (two every read_every pairs)
        one scan step to the pulse routing and one per device, each waiting for its relays
        (matrix_settle with the Channel Ready cable, else scan_delay), and one reading per
        device; the matrix opening at the end of each SMU sequence. Otherwise the default's
        calls: per pulse the routing and the opening, per read its scan or device-by-device
        reads. Source delays, trigger latencies and the pulses themselves (microseconds) are
        left out."""
        n, every = self._check_pairs(pairs, read_every)
        timing, settle = self._config.timing, matrix_settle_time(self._config)
        reading = self._inst.nplc / MAINS_HZ
        devices = self.shape[0] * self.shape[1]
        reads = 2 * (n // every)
        step = settle if self._config.switch_ready is not None else timing.scan_delay
        if self.instrument_pairs:
            sequences = -(-n // self._pairs_per_sequence(every))  # each ends opening the matrix
            return (
                2 * n * timing.train_gap
                + reads * ((devices + 1) * step + devices * reading)
                + sequences * settle
            )
        per_read = devices * (step + reading) if self.instrument_scans else devices * (settle + reading)
        return 2 * n * 2 * settle + reads * (per_read + settle)

    def _alternating_pairs(
        self, pairs: int, read_every: int, pulses: PulsePair
    ) -> tuple[FloatArray, FloatArray]:
        """alternating_pairs (arguments and pulses checked by the base class).

        With instrument_pairs the whole call is one sequence run by the SMU's trigger model
        (docs/hardware-backend.md): the SMU's pulse line, driven as a level, falls before each
        up pulse and rises before each down pulse, and the generator pulses up on falling edges
        and down on rising ones (arm_alternating); for each whole-array read the SMU steps the
        matrix's scan from the pulse routing through every device's read routing and back,
        taking one reading per device into its buffer, fetched once at the end: a fixed number
        of transactions whatever `pairs`. A pulse of either polarity whose end and settling do
        not fit in [timing] train_gap is refused with LimitError before anything is sent.
        Otherwise the base class's apply_pulses and read calls.

        An error after the sequence started raises PartialWriteError (stage "firing": an
        unknown number of the pairs reached the devices; read them before writing again), after
        the bench was made safe. Nothing is retried but the final fetch, as a read.
        """
        if not self.instrument_pairs:
            return super()._alternating_pairs(pairs, read_every, pulses)
        for pulse in (pulses.up, pulses.down):
            self._check_train_gap(pulse)
        self._latest[:] = np.nan  # before anything is sent: a failure may leave them moved
        return self._instrument_pairs(pairs, read_every, pulses)

    def _pairs_sequence(self, pairs: int, read_every: int) -> AlternatingSequence:
        """The SMU's sequence for alternating_pairs on this array over the bench's cables."""
        config = self._config
        cable, ready = config.smu_to_switch, config.switch_ready
        assert cable is not None and config.smu_to_pulser is not None  # instrument_pairs
        return AlternatingSequence(
            pairs=pairs,
            read_every=read_every,
            devices=self.shape[0] * self.shape[1],
            pulse_line=config.smu_to_pulser,
            switch_line=cable.smu,
            wait_line=None if ready is None else ready.smu,
            gap=config.timing.train_gap,
            settle=config.timing.scan_delay,
        )

    def _pairs_per_sequence(self, read_every: int) -> int:
        """Most pairs one SMU sequence holds: as many whole-array reads (two per read_every
        pairs) as its buffer takes readings in one sequence (max_triggered_reads)."""
        devices = self.shape[0] * self.shape[1]
        return self._inst.smu.max_triggered_reads // (2 * devices) * read_every

    def _instrument_pairs(
        self, pairs: int, read_every: int, pulses: PulsePair
    ) -> tuple[FloatArray, FloatArray]:
        """The pairs as one SMU sequence, or several in turn when the readings do not fit one;
        each a PulseGroup of its pairs in the PartialWriteError of a fault."""
        rows, cols = np.indices(self.shape).reshape(2, -1)
        everyone = tuple(zip(rows.tolist(), cols.tolist(), strict=True))
        most = self._pairs_per_sequence(read_every)
        groups = [PulseGroup(min(most, pairs - done), everyone) for done in range(0, pairs, most)]
        self.operations["pair_calls"] += 1
        reads: list[FloatArray] = []
        with self._pulse_write(groups) as progress:
            for group in groups:
                # A Ctrl-C during a sequence is held until it is done (hil.interrupts).
                with critical():
                    amps = self._pairs_run(progress, group, read_every, pulses)
                reads.append(self._pairs_conductances(amps, everyone))
        g = np.concatenate(reads)
        self._latest[:] = g[-1, 1]
        return g[:, 0], g[:, 1]

    def _pairs_run(
        self, progress: WriteProgress, group: PulseGroup, read_every: int, pulses: PulsePair
    ) -> list[float]:
        """One SMU sequence of group.count pairs on every device; its currents (amperes), read
        after read, each read device after device. Ends with the outputs off, every crosspoint open."""
        inst = self._inst
        sequence = self._pairs_sequence(group.count, read_every)
        # The scan: the pulse routing, then each device's read routing; one pass per read.
        steps = (self._pulse_route(group), *(self._read_route(r, c) for r, c in group.devices))
        progress.start(group)  # routing: the scan's start opens every crosspoint
        progress.stage = WriteStage.CONFIGURING
        inst.prepare_read()
        inst.prepare_scan(steps, passes=sequence.reads)
        inst.smu.configure_alternating(sequence)
        inst.arm_alternating(pulses)
        inst.pulser.output_on()
        inst.router.forget()
        inst.matrix.start_scan()
        progress.stage = WriteStage.FIRING
        amps = self._train_readings(sequence.readings)
        inst.pulser.output_off()
        inst.smu.output_off()
        inst.matrix.check_scan(len(steps), sequence.reads)
        progress.finish()
        inst.router.release()
        self.operations["device_reads"] += sequence.readings
        return amps

    def _pairs_conductances(self, amps: list[float], everyone: tuple[tuple[int, int], ...]) -> FloatArray:
        """Siemens, shape (reads // 2, 2, rows, cols): after the up and after the down pulse."""
        volts = self.read_voltage
        reads = len(amps) // len(everyone)
        at = everyone * reads  # the readings' devices, read after read
        g = np.array([self._conductance(a, volts, r, c) for a, (r, c) in zip(amps, at, strict=True)])
        return g.reshape(reads // 2, 2, *self.shape)

    @staticmethod
    def pulse_groups(counts: IntArray) -> list[PulseGroup]:
        """Devices grouped by signed count: positive counts first, then negative, each by |count|.

        One polarity after the other, so the generator changes polarity at most once per call.
        """
        values = sorted({int(v) for v in np.unique(counts) if v != 0}, key=lambda v: (v < 0, abs(v)))
        groups = []
        for v in values:
            r, c = np.nonzero(counts == v)
            groups.append(PulseGroup(v, tuple(zip(r.tolist(), c.tolist(), strict=True))))
        return groups

    def _close(self) -> None:
        failures = self._inst.make_safe()
        if failures:
            raise SafeStateError(failures)

    def _detach(self) -> None:
        """Mark closed without touching the instruments (the bench shuts them down itself)."""
        self._closed = True
