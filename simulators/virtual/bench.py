"""VirtualBench: the four virtual instruments of one chip, each served on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from hil.backend import CrossbarBackend
from simulators import snapshot
from simulators.crossbar import SimulatedCrossbar
from simulators.virtual.keithley707b import DIGITAL_LINES as MATRIX_LINES
from simulators.virtual.keithley707b import Keithley707B
from simulators.virtual.keithley2450 import DIGITAL_LINES, Keithley2450
from simulators.virtual.keysight33500b import Keysight33500B
from simulators.virtual.relay_matrix import RelayMatrix
from simulators.virtual.server import LineServer, VirtualInstrument
from simulators.virtual.wiring import DEFAULT_ROWS, PinMap, VirtualChip, rows_from_wiring

if TYPE_CHECKING:
    from hil.benchconfig import BenchConfig


_warm = False


def warm_kernels() -> None:
    """Compile (or load from numba's cache) the simulator's burst kernel before any server
    answers: a first compile takes seconds, longer than a client's VISA timeout, and would
    otherwise happen inside the first pulse a client sends. Once per process."""
    global _warm
    if _warm:
        return
    import numpy as np

    from simulators.crossbar import SimulatedCrossbar

    with SimulatedCrossbar.from_preset("protonic-asymmetric", (1, 2), seed=0) as probe:
        probe.apply_pulses(np.array([[2, -3]]), probe.nominal_pulse)  # bursts go through the kernel
    _warm = True


class VirtualBench:
    """SMU (Keithley 2450), pulse generator (Keysight 33500B), switch matrix (Keithley 707B)
    and serial relay matrix, all wired to one VirtualChip; optionally a trigger cable from the
    2450's digital I/O line `smu_to_pulser` to the 33500B's Ext Trig input, one from the
    2450's line `smu_to_switch[0]` to the 707B's digital I/O line `smu_to_switch[1]`, and one
    back from the 707B's line `switch_ready[0]` (its Channel Ready output, once a driver sets
    it) to the 2450's line `switch_ready[1]`.

    state_seed: the instruments start in a randomised state other software could have left
    (another measure function, trigger slopes, delays, counts, expected loads, digital lines
    that fire; each instrument's randomise()), drawn from this seed; None: the *RST state.

    Both matrices connect the same bench terminals (rows, in `rows` order) to the same chip
    pads (columns); a connection exists if either matrix closes it.

    Use as a context manager; `addresses` gives the VISA resource names and the pyserial URL.
    Fault switches live on each instrument's `faults` (see server.Faults), plus
    `smu.force_compliance` and `chip.stuck`.
    """

    def __init__(
        self,
        chip: VirtualChip,
        rows: Sequence[str | None] = DEFAULT_ROWS,
        matrix_slots: int | None = None,
        smu_to_pulser: int | None = None,
        smu_to_switch: tuple[int, int] | None = None,
        switch_ready: tuple[int, int] | None = None,
        state_seed: int | None = 0,
    ):
        self.chip = chip
        self.rows = tuple(rows)
        self.smu = Keithley2450(chip)
        self.pulse_generator = Keysight33500B(chip)
        self.switch_matrix = Keithley707B(chip, self.rows, slots=matrix_slots)
        #: the 2450's digital I/O line cabled to the 33500B's Ext Trig input (None: no cable)
        self.smu_to_pulser = smu_to_pulser
        #: (2450 line, 707B line) of the cable from the SMU to the matrix (None: no cable)
        self.smu_to_switch = None if smu_to_switch is None else (int(smu_to_switch[0]), int(smu_to_switch[1]))
        if smu_to_pulser is not None:
            self._check_smu_line(smu_to_pulser)
            self.smu.trigger_links[smu_to_pulser] = self.pulse_generator.external_trigger
        if self.smu_to_switch is not None:
            smu_line, switch_line = self.smu_to_switch
            self._check_smu_line(smu_line)
            if not 1 <= switch_line <= MATRIX_LINES:
                raise ValueError(f"the 707B has digital I/O lines 1 to {MATRIX_LINES}, got {switch_line}")
            if smu_line == smu_to_pulser:
                raise ValueError(f"2450 line {smu_line} is already cabled to the 33500B (smu_to_pulser)")
            self.smu.trigger_links[smu_line] = partial(self.switch_matrix.digital_trigger, switch_line)
        #: (707B line, 2450 line) of the cable from the matrix's Channel Ready output (None: no cable)
        self.switch_ready = None if switch_ready is None else (int(switch_ready[0]), int(switch_ready[1]))
        if self.switch_ready is not None:
            switch_line, smu_line = self.switch_ready
            self._check_smu_line(smu_line)
            if smu_line in self.smu.trigger_links:
                raise ValueError(f"2450 line {smu_line} is already cabled as a trigger output")
            self.switch_matrix.output_links[switch_line] = partial(self.smu.digital_input, smu_line)
        if state_seed is not None:
            rng = np.random.default_rng(state_seed)
            for instrument in (self.smu, self.pulse_generator, self.switch_matrix):
                instrument.randomise(rng)
        self.relay_matrix = RelayMatrix(chip, self.rows)
        self._servers = {name: LineServer(inst, name) for name, inst in self.instruments.items()}

    @staticmethod
    def _check_smu_line(line: int) -> None:
        if not 1 <= line <= DIGITAL_LINES:
            raise ValueError(f"the 2450 has digital I/O lines 1 to {DIGITAL_LINES}, got {line}")

    @classmethod
    def from_bench_config(
        cls, config: BenchConfig, arrays: Mapping[str, CrossbarBackend], state_seed: int | None = 0
    ) -> VirtualBench:
        """The virtual twin of a bench file: its pin map and matrix rows, with `arrays` (one
        backend per [arrays.NAME], of the region's shape) standing in for the chip. A
        keithley707b matrix gets the number of cards of the file's `slots` option, and [triggers]
        smu_to_pulser, smu_to_switch and switch_ready become the trigger cables. state_seed: as
        for the constructor."""
        for name, region in config.arrays.items():
            if name not in arrays or arrays[name].shape != region.shape:
                raise ValueError(f"array {name!r} needs a backend of shape {region.shape}")
        chip = VirtualChip(arrays, PinMap.from_bench_config(config))
        matrix = config.instruments.get("matrix")
        slots = None
        if matrix is not None and matrix.driver == "keithley707b":
            slots = matrix.options.get("slots")
        return cls(
            chip,
            rows_from_wiring(config.wiring),
            matrix_slots=slots,
            smu_to_pulser=config.smu_to_pulser,
            smu_to_switch=config.smu_to_switch,
            switch_ready=None
            if config.switch_ready is None
            else (config.switch_ready.switch, config.switch_ready.smu),
            state_seed=state_seed,
        )

    @property
    def instruments(self) -> dict[str, VirtualInstrument]:
        return {
            "smu": self.smu,
            "pulse_generator": self.pulse_generator,
            "switch_matrix": self.switch_matrix,
            "relay_matrix": self.relay_matrix,
        }

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        """Open every server on a free port chosen by the OS."""
        if any(getattr(a, "compiled", False) for a in self.chip.arrays.values()):
            warm_kernels()
        started = []
        try:
            for server in self._servers.values():
                server.start()
                started.append(server)
        except BaseException:
            for server in started:
                server.stop()
            raise
        return self

    def stop(self) -> None:
        """Close every connection and server thread. Idempotent."""
        errors = []
        for server in self._servers.values():
            try:
                server.stop()
            except RuntimeError as err:
                errors.append(str(err))
        if errors:
            raise RuntimeError("; ".join(errors))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ addresses and switches
    def row(self, terminal: str) -> int:
        """The 1-based matrix row wired to `terminal` (e.g. SMU_HI -> 1 with the default rows)."""
        try:
            return self.rows.index(terminal) + 1
        except ValueError:
            raise ValueError(f"no matrix row is wired to {terminal}; rows are {self.rows}") from None

    def port(self, name: str) -> int:
        return self._servers[name].port

    @property
    def addresses(self) -> dict[str, str]:
        """VISA resource names (pyvisa-py: TCPIP SOCKET) and the relay matrix's pyserial URL."""
        out = {
            name: f"TCPIP0::127.0.0.1::{self.port(name)}::SOCKET"
            for name in ("smu", "pulse_generator", "switch_matrix")
        }
        out["relay_matrix"] = f"socket://127.0.0.1:{self.port('relay_matrix')}"
        return out

    @property
    def latency(self) -> float:
        """Seconds added to every transaction on every instrument."""
        return self.smu.faults.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if not seconds >= 0:
            raise ValueError(f"latency must be >= 0 seconds, got {seconds!r}")
        for inst in self.instruments.values():
            inst.faults.latency = float(seconds)

    @property
    def time_scale(self) -> float:
        """Wall seconds every instrument stays busy per second of instrument time its commands
        take (readings, delays, bursts, relay settling; simulators.virtual.timing): 0 (default)
        replies at once, 1.0 in real time."""
        return self.smu.clock.scale

    @time_scale.setter
    def time_scale(self, scale: float) -> None:
        if not 0 <= scale < float("inf"):
            raise ValueError(f"time_scale must be finite and >= 0 (1.0 = real time), got {scale!r}")
        for inst in self.instruments.values():
            inst.clock.scale = float(scale)

    @property
    def conductance_range(self) -> tuple[float, float]:
        """Nominal (G_min, G_max) in siemens shared by the chip's arrays (what a bench user would
        state for the devices); ValueError if the arrays differ."""
        ranges = {tuple(b.conductance_range) for b in self.chip.arrays.values()}
        if len(ranges) != 1:
            raise ValueError(f"the chip's arrays have different conductance ranges: {sorted(ranges)}")
        ((g_min, g_max),) = ranges
        return float(g_min), float(g_max)

    # ------------------------------------------------------------------ the chip's state (no SCPI)
    def chip_state(self, bit_streams: Mapping[str, dict[str, Any]] | None = None) -> bytes | None:
        """The simulated chip behind the instruments as bytes (simulators.snapshot), with the
        controller's bit streams by array name beside it; None if an array is not simulated.

        A side channel of the process that serves the instruments, never a message to them: a
        real instrument has no such command, and a real chip keeps its own state. Taken under
        the chip's lock, so that no pulse an instrument is delivering is half in it."""
        arrays = self.chip.arrays
        if not all(isinstance(a, SimulatedCrossbar) for a in arrays.values()):
            return None
        with self.chip._lock:  # the lock every instrument takes to touch the chip
            return snapshot.snapshot(arrays, bit_streams)

    def restore_chip_state(self, state: bytes) -> dict[str, dict[str, Any]]:
        """Put the chip back as chip_state() took it (SnapshotError, before anything changes, if
        an array is missing or of another shape); returns the controller's bit streams it carried."""
        states = snapshot.read_snapshot(state)
        for name, array_state in states.items():
            array = self.chip.arrays.get(name)
            if not isinstance(array, SimulatedCrossbar):
                raise snapshot.SnapshotError(f"the virtual chip has no simulated array {name!r} to restore")
            if tuple(array_state["shape"]) != array.shape:
                raise snapshot.SnapshotError(
                    f"array {name!r} was {tuple(array_state['shape'])} when its state was stored, "
                    f"not {array.shape}"
                )
        with self.chip._lock:  # the lock every instrument takes to touch the chip
            for name, array_state in states.items():
                snapshot.restore(self.chip.arrays[name], array_state, name)
        return snapshot.read_bit_streams(state)

    def describe(self) -> dict[str, object]:
        """JSON-ready: instruments and their addresses (when running), matrix rows, the chip."""
        running = all(s.running for s in self._servers.values())
        return {
            "kind": "virtual",
            "instruments": {
                name: {"model": type(inst).__name__, **({"address": self.addresses[name]} if running else {})}
                for name, inst in self.instruments.items()
            },
            "matrix_rows": list(self.rows),
            "triggers": {
                "smu_to_pulser": self.smu_to_pulser,
                "smu_to_switch": self.smu_to_switch,
                "switch_ready": self.switch_ready,
            },
            "chip": self.chip.describe(),
        }
