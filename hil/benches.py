"""Opening a bench by name: the one call `hil` and scripts share.

    with open_bench("sim", preset="protonic-asymmetric", seed=0) as bench: ...
    with open_bench("virtual", seed=0) as bench: ...
    with open_bench("lab.toml", conductance_range=(1e-6, 20e-6)) as bench: ...
    with open_bench("virtual", arrays={"L0.W_main": (5, 8), "L0.W_ref": (5, 8)}) as bench: ...

"sim" is a simulated chip; "virtual" starts the shipped virtual bench (virtual instruments on
loopback, a simulated chip behind them) and drives it through the real drivers; a path
ending in .toml connects the instruments that bench file names.

Why the implementations are named by module path rather than imported: the simulated chip
and the virtual instruments live in simulators/, the instrument bench in drivers/, and both
import hil. An import of either from here would make the contract package depend on its own
implementations and close a cycle in the import graph. So this module names each class or
function it needs as "module:attribute", as drivers.registry names the drivers, and imports
it only when a bench of that kind is opened: hil stays below drivers and simulators in the
static import graph (tests/test_imports.py checks it), and `import hil` loads neither.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hil.backend import CrossbarBackend
from hil.bench import Bench
from hil.pulses import Pulse

if TYPE_CHECKING:
    from hil.benchconfig import BenchConfig

SIMULATED_CHIP = "simulators.chip:SimulatedChip"
HARDWARE_BENCH = "drivers.bench:HardwareBench"
KNOWN_DRIVERS = "drivers.registry:known_drivers"
START_VIRTUAL_BENCH = "simulators.virtual.launch:start_virtual_bench"
VIRTUAL_BENCHES = "simulators.virtual.launch:BENCHES"
VIRTUAL_BENCH_FILE = "virtual-bench-iris.toml"
VIRTUAL_LAYOUT = "simulators.virtual.layout:carrying"

# The simulated devices' nominal pulse (6 V x 5 ns) is shorter than a 33500B can make (16 ns);
# 4.75 V x 20 ns moves them as much (pulse factor 0.997; docs/hardware-backend.md).
VIRTUAL_PULSE = Pulse(4.75, 20e-9)


class BenchArgumentError(ValueError):
    """An argument of open_bench is wrong: `argument` names it, `problem` says what to do.

    The message reads "ARGUMENT PROBLEM"; the command line puts its option in front instead.
    """

    def __init__(self, argument: str, problem: str):
        super().__init__(f"{argument} {problem}")
        self.argument = argument
        self.problem = problem


@dataclass(frozen=True)
class BenchOptions:
    """What open_bench passes to the kind of bench it opens.

    preset: simulated device preset (a name or a preset file; sim and virtual).
    seed: seed of the simulated chip and of the arrays' stochastic-update bit streams.
    conductance_range: the devices' nominal (G_min, G_max) in siemens (a bench file needs it).
    vmm_reads: "fresh" or "after_write", the VMM read policy on instruments.
    latency: seconds the virtual instruments add to every transaction.
    arrays: name -> (rows, cols) the bench must carry: "virtual" builds its chip to hold them
        beside the shipped bench's own arrays; "sim" makes any array asked for; a bench file
        has the arrays it names (bench_array_shapes lists them before opening it).
    """

    preset: str = "protonic-asymmetric"
    seed: int = 0
    conductance_range: tuple[float, float] | None = None
    vmm_reads: str = "fresh"
    latency: float = 0.0
    arrays: Mapping[str, tuple[int, int]] | None = None


def open_bench(
    spec: str | Path,
    *,
    preset: str = BenchOptions.preset,
    seed: int = BenchOptions.seed,
    conductance_range: tuple[float, float] | None = BenchOptions.conductance_range,
    vmm_reads: str = BenchOptions.vmm_reads,
    latency: float = BenchOptions.latency,
    arrays: Mapping[str, tuple[int, int]] | None = BenchOptions.arrays,
) -> Bench:
    """The bench `spec` names: "sim", "virtual" or the path of a bench TOML file.

    See BenchOptions for the keywords. Raises BenchArgumentError (a ValueError) naming the
    argument when spec or conductance_range cannot open a bench; nothing is connected then.
    Close the bench (or use it in a with block) to leave the hardware safe.
    """
    options = BenchOptions(preset, seed, conductance_range, vmm_reads, latency, arrays)
    kind = BENCH_KINDS.get(str(spec))
    return kind(options) if kind is not None else _open_bench_file(Path(spec), options)


def virtual_bench_file() -> Path:
    """The shipped virtual bench: SMU, pulse generator and relay matrix, with the 4 x 4 A_main
    and the arrays of SHD on Iris (network 4-4-3)."""
    return _load(VIRTUAL_BENCHES) / VIRTUAL_BENCH_FILE


def _open_simulated(options: BenchOptions) -> Bench:
    return _load(SIMULATED_CHIP)(preset=options.preset, seed=options.seed)


def _open_virtual(options: BenchOptions) -> Bench:
    if not options.arrays:
        return VirtualBenchSession(virtual_bench_file(), options)
    from hil.benchconfig import load_bench_config

    config = _load(VIRTUAL_LAYOUT)(load_bench_config(virtual_bench_file()), options.arrays)
    return VirtualBenchSession(config, options)


def bench_array_shapes(spec: str | Path) -> dict[str, tuple[int, int]] | None:
    """The arrays a bench file names, name -> (rows, cols), read without connecting anything;
    None for "sim" and "virtual", which make the arrays they are asked for. Raises
    BenchArgumentError (or the file's BenchConfigError) as open_bench does."""
    if str(spec) in BENCH_KINDS:
        return None
    from hil.benchconfig import load_bench_config

    config = load_bench_config(_bench_file(Path(spec)), _load(KNOWN_DRIVERS)())
    return {name: region.shape for name, region in config.arrays.items()}


def _bench_file(path: Path) -> Path:
    if path.suffix != ".toml":
        raise BenchArgumentError("spec", f"takes sim, virtual or a bench file (*.toml); got {str(path)!r}")
    if not path.is_file():
        raise BenchArgumentError(
            "spec", f"names no bench file {path}; write one (docs/tutorial.md) or use sim or virtual"
        )
    return path


def _open_bench_file(path: Path, options: BenchOptions) -> Bench:
    _bench_file(path)
    if options.conductance_range is None:
        raise BenchArgumentError(
            "conductance_range",
            "is needed with a bench file: the devices' nominal conductance range for the weight "
            "mapping, GMIN,GMAX in siemens, e.g. 1e-6,20e-6",
        )
    from hil.benchconfig import load_bench_config

    config = load_bench_config(path, _load(KNOWN_DRIVERS)())
    return _hardware_bench(config, options)


def _hardware_bench(config: Any, options: BenchOptions) -> Bench:
    return _load(HARDWARE_BENCH)(
        config, conductance_range=options.conductance_range, seed=options.seed, vmm_reads=options.vmm_reads
    )


class VirtualBenchSession(Bench):
    """The instrument bench on virtual instruments started for it; closing closes both, bench first.

    The virtual devices are those of the simulated chip of options.preset and options.seed;
    their conductance range is the simulator's, so options.conductance_range is not needed.
    """

    def __init__(self, config_path: Path | BenchConfig, options: BenchOptions):
        self.virtual, config = _load(START_VIRTUAL_BENCH)(
            config_path, preset=options.preset, seed=options.seed, latency=options.latency
        )
        try:
            simulated = replace(options, conductance_range=self.virtual.conductance_range)
            self.hardware = _hardware_bench(config, simulated)
        except BaseException:
            self.virtual.stop()
            raise
        self._arrays: dict[str, CrossbarBackend] = {}
        self._bit_streams: dict[str, dict[str, Any]] = {}  # restored, for arrays not yet asked for

    @property
    def nominal_pulse(self) -> Pulse:
        return VIRTUAL_PULSE

    @property
    def identities(self) -> Mapping[str, str]:
        return self.hardware.identities

    def array(self, name: str, shape: tuple[int, int]) -> CrossbarBackend:
        array = self._arrays[name] = self.hardware.array(name, shape)
        if name in self._bit_streams:
            array.restore_bit_stream_state(self._bit_streams.pop(name))
        return array

    def chip_state(self) -> bytes | None:
        """The simulated chip behind the virtual instruments and the controller's bit streams,
        asked of the process serving them (a side channel, not a message to the instruments)."""
        streams = {name: a.bit_stream_state() for name, a in self._arrays.items()}
        return self.virtual.chip_state({**self._bit_streams, **streams})

    def restore_chip_state(self, state: bytes) -> None:
        for name, stream in self.virtual.restore_chip_state(state).items():
            if name in self._arrays:
                self._arrays[name].restore_bit_stream_state(stream)
            else:
                self._bit_streams[name] = stream

    def describe(self) -> dict[str, object]:
        return {**self.hardware.describe(), "bench": "virtual", "virtual": self.virtual.describe()}

    def transactions(self) -> dict[str, dict[str, int]]:
        return self.hardware.transactions()

    def on_retry(self, listener: Callable[[dict[str, Any]], None]) -> None:
        self.hardware.on_retry(listener)

    def close(self) -> None:
        try:
            self.hardware.close()
        finally:
            self.virtual.stop()


# Names open_bench takes besides a bench file's path.
BENCH_KINDS: dict[str, Callable[[BenchOptions], Bench]] = {"sim": _open_simulated, "virtual": _open_virtual}


def _load(target: str) -> Any:
    """The attribute a "module:attribute" path names, importing its module."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)
