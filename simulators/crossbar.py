"""SimulatedCrossbar: a numpy crossbar of protonic (or other analog) devices, a hil.CrossbarBackend.

Physics (see simulators.config and docs/simulator.md): per-device step models in normalised
state, a pulse-response factor m(V, t) with a threshold, device-to-device variation drawn once
from the seed, cycle-to-cycle noise per pulse, read noise on read() and output noise on VMMs.

Randomness: one np.random.SeedSequence per array, split into independent streams for the
device draws, the pulses' noise, the measurements' noise and the update bit streams. The same
seed therefore gives the same devices and, for the same calls, the same run; reading more or
less often does not change what the pulses do.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hil.backend import Capabilities, CrossbarBackend, DeviceKind, FloatArray, IntArray
from hil.faults import UsageFault
from hil.jumptable import JumpTable
from hil.pulses import Pulse, PulsePair, SafetyLimits, as_pulse_pair
from hil.stepmodels import TableSteps, model_class
from hil.update import UpdateOutcome, UpdateScales
from simulators import kernels
from simulators.config import DeviceConfig
from simulators.devices import DeviceParameters, draw_devices, symmetry_states
from simulators.fastpath import Bursts, Direction, apply_bursts, burst_constants, coincidences, normals
from simulators.kernels import KernelDirections
from simulators.presets import preset

Seed = int | np.random.SeedSequence | None
Factors = tuple[float, float]
"""(m⁺, m⁻): the pulse factors of the up and the down pulse (DeviceConfig.pulse_factors)."""

ENGINES = ("fast", "numpy", "reference")
"""How pulses are applied: "fast" (closed forms for bursts, fused stochastic update: the compiled
kernels of simulators.kernels when numba is installed, else the numpy code of simulators.fastpath),
"numpy" (the fast engine's numpy code, never compiled; same random numbers and results as "fast"
up to float32 rounding of the exponent) or "reference" (one vector step per pulse, the contract's
default update)."""


def default_limits(config: DeviceConfig) -> SafetyLimits:
    """Bench-like limits that allow the config's nominal pulse: up to max(10 V, v_ref), 1 ns to 1 ms
    (or wider to include t_ref), reads and VMM inputs up to the config's read voltage."""
    return SafetyLimits(
        max_pulse_amplitude=max(10.0, config.v_ref),
        min_pulse_width=min(1e-9, config.t_ref),
        max_pulse_width=max(1e-3, config.t_ref),
        max_read_voltage=config.read_voltage,
    )


# Peak memory per device while an array is built, read, multiplied and pulsed (numpy's
# allocations traced by tracemalloc on a 1000 x 1000 array: 145 bytes), with a margin for the
# compiled kernels' scratch space. docs/simulator.md, "Memory".
BYTES_PER_DEVICE = 160


class SimulatorMemoryError(UsageFault, MemoryError):
    """An array would not fit in this machine's memory; nothing was allocated."""


def check_memory(shape: tuple[int, int], available: int | None = None) -> None:
    """Refuse, before allocating, an array whose estimated peak exceeds the memory available.

    available: bytes (default: the operating system's estimate of memory available now).
    """
    need = int(shape[0]) * int(shape[1]) * BYTES_PER_DEVICE
    free = available_memory() if available is None else available
    if free is not None and need > free:
        raise SimulatorMemoryError(
            f"a simulated {shape[0]} x {shape[1]} array needs about {_bytes(need)} of memory "
            f"({BYTES_PER_DEVICE} bytes per device) and this machine has {_bytes(free)} available; "
            "choose a smaller shape (nothing was allocated)"
        )


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux: MemAvailable), None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def _bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def seed_sequence(seed: Seed) -> np.random.SeedSequence:
    """A SeedSequence from a non-negative integer, an existing SeedSequence, or None (fresh entropy)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, a numpy SeedSequence or None, got {seed!r}")
    return np.random.SeedSequence(int(seed))


class SimulatedCrossbar(CrossbarBackend):
    """A rows x cols array of simulated devices.

    config: the device population (simulators.config.DeviceConfig); table: the jump table of
    the "table" model (required for it, refused otherwise); seed: chip seed (int >= 0, a
    SeedSequence, or None for fresh entropy, recorded in describe()); limits: default
    default_limits(config); engine: one of ENGINES (the two agree in distribution, not
    draw for draw). Positive pulse counts raise the conductance.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        config: DeviceConfig,
        seed: Seed = 0,
        limits: SafetyLimits | None = None,
        table: JumpTable | None = None,
        engine: str = "fast",
    ):
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        if not isinstance(config, DeviceConfig):
            raise TypeError(f"config must be a simulators.config.DeviceConfig, got {type(config).__name__}")
        if config.step.draws_from_table != (table is not None):
            raise ValueError(
                "the 'table' model needs a JumpTable (use SimulatedCrossbar.from_jump_table) and the "
                f"other models take none; got model {config.model!r} and table={type(table).__name__}"
            )
        if table is not None and not isinstance(table, JumpTable):
            raise TypeError(f"table must be a hil.jumptable.JumpTable, got {type(table).__name__}")
        limits = default_limits(config) if limits is None else limits
        if not isinstance(limits, SafetyLimits):
            raise TypeError(f"limits must be a hil.SafetyLimits, got {type(limits).__name__}")
        if not config.read_voltage <= limits.max_read_voltage < config.v_threshold:
            raise ValueError(
                f"limits.max_read_voltage {limits.max_read_voltage:g} V must lie in [read_voltage "
                f"{config.read_voltage:g} V, v_threshold {config.v_threshold:g} V): reads at the read "
                "voltage must be allowed and no read may write"
            )
        self._seed = seed_sequence(seed)
        # Children built by hand rather than with spawn(), which would advance a caller's
        # SeedSequence and give a second array built from it other devices.
        devices_ss, pulses_ss, measure_ss, streams_ss = (
            np.random.SeedSequence(self._seed.entropy, spawn_key=(*self._seed.spawn_key, k)) for k in range(4)
        )
        super().__init__(shape, limits, seed=int(streams_ss.generate_state(1, np.uint64)[0]))
        check_memory(self.shape)
        self._config = config
        self._table = table
        self._dev, self._x = draw_devices(
            config, self.shape[0] * self.shape[1], np.random.default_rng(devices_ss)
        )
        self._pulse_rng = np.random.default_rng(pulses_ss)
        self._measure_rng = np.random.default_rng(measure_ss)
        self._engine = engine
        self._g: NDArray[np.floating] | None = None  # conductances for VMMs; None after a write
        # Burst constants by pulse factors (m⁺, m⁻), and the same laid out for the kernels.
        self._bursts: dict[Factors, tuple[Direction, Direction] | None] = {}
        self._kernel_bursts: dict[Factors, KernelDirections] = {}
        self._compiled = engine == "fast" and kernels.AVAILABLE
        # Single-vector VMMs of this array run as one compiled call (_small_vmm), and so does a
        # planned update with its plan inside the kernel (_planned_update).
        self._small = self._compiled and self._x.size < kernels.SMALL_VMM
        self._fused_update = self._compiled and self._x.size < kernels.PARALLEL_DEVICES
        r = config.ranges
        self._read_sigma = config.noise.read_noise * (r.g_max - r.g_min)  # siemens
        self._vmm_sigma = config.noise.vmm_noise * r.read_voltage * (r.g_max - r.g_min)  # amperes
        self._last_pulse: PulsePair | None = None  # the last pulses written and their factors
        self._last_m: Factors = (0.0, 0.0)
        # The last pulses planned_update fired and their compiled kernel's constants (None: the
        # default path serves them); dropped with the burst constants.
        self._fused: tuple[PulsePair | None, KernelDirections | None] = (None, None)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_preset(
        cls,
        name: str,
        shape: tuple[int, int],
        seed: Seed = 0,
        limits: SafetyLimits | None = None,
        engine: str = "fast",
        **overrides: Any,
    ) -> SimulatedCrossbar:
        """An array of preset `name` (see simulators.presets), DeviceConfig fields overridden."""
        return cls(shape, preset(name, **overrides), seed=seed, limits=limits, engine=engine)

    @classmethod
    def from_jump_table(
        cls,
        table: JumpTable,
        shape: tuple[int, int],
        seed: Seed = 0,
        limits: SafetyLimits | None = None,
        engine: str = "fast",
        **overrides: Any,
    ) -> SimulatedCrossbar:
        """Devices whose every pulse draws ΔG from `table` (see table_config for the defaults)."""
        return cls(
            shape, table_config(table, **overrides), seed=seed, limits=limits, table=table, engine=engine
        )

    # ------------------------------------------------------------------ description
    @property
    def device_kind(self) -> DeviceKind:
        return DeviceKind.IDEAL if self._is_ideal() else DeviceKind.PROTONIC

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            physical_vmm=True,
            native_stochastic_update=True,
            parallel_pulses=True,
            fused_vmm_difference=True,
            fused_update=self._fused_update,
        )

    @property
    def conductance_range(self) -> tuple[float, float]:
        return float(self._config.g_min), float(self._config.g_max)

    @property
    def read_voltage(self) -> float:
        return float(self._config.read_voltage)

    @property
    def config(self) -> DeviceConfig:
        return self._config

    @property
    def table(self) -> JumpTable | None:
        return self._table

    @property
    def engine(self) -> str:
        """The engine: "fast", "numpy" or "reference" (see ENGINES)."""
        return self._engine

    @property
    def compiled(self) -> bool:
        """True when bursts and stochastic updates run in the compiled kernels (engine "fast" with numba)."""
        return self._compiled

    @property
    def nominal_pulse(self) -> Pulse:
        """The pulse at which the config's step sizes hold (pulse factor m = 1)."""
        return self._config.nominal_pulse

    def pulse_factor(self, pulse: Pulse, sign: int = 1) -> float:
        """m(V, t) of this device population for polarity sign (+1 up, -1 down): 0 at or below
        that polarity's threshold, 1 at nominal_pulse."""
        return self._config.pulse_factor(_as_pulse(pulse), sign)

    def describe(self) -> dict[str, object]:
        d = super().describe()
        d["simulator"] = {
            "config": self._config.to_dict(),
            "seed": {"entropy": self._seed.entropy, "spawn_key": list(self._seed.spawn_key)},
            "nominal_pulse": {
                "amplitude_V": self.nominal_pulse.amplitude,
                "width_s": self.nominal_pulse.width,
            },
            "engine": self._engine,
            "compiled": self._compiled,
            "threads": kernels.threads() if self._compiled else 1,  # on arrays of PARALLEL_DEVICES and up
            "stuck_devices": int(np.sum(self._dev.stuck)),
            "jump_table": None if self._table is None else _table_summary(self._table),
        }
        return d

    # ------------------------------------------------------------------ simulator-only access
    @property
    def conductance(self) -> FloatArray:
        """The true state (rows, cols) in siemens, without read noise (a copy)."""
        return (self._dev.g_min + self._x * self._dev.span).reshape(self.shape)

    def set_conductance(self, g: ArrayLike) -> None:
        """Force the state to g siemens (scalar or (rows, cols)); a chip cannot do this.

        Every value must lie within its device's own bounds (device_parameters()); nothing is
        clamped. Stuck devices are set too (and stay there).
        """
        self._check_open()
        ga = np.asarray(g, dtype=np.float64)
        try:
            ga = np.broadcast_to(ga, self.shape).ravel()
        except ValueError:
            raise ValueError(
                f"set_conductance: expected a scalar or shape {self.shape}, got {ga.shape}"
            ) from None
        if not np.all(np.isfinite(ga)):
            raise ValueError("set_conductance: values contain NaN or inf")
        x = (ga - self._dev.g_min) / self._dev.span
        eps = 1e-12  # round-off of the G <-> x conversion, not a tolerance on the request
        outside = (x < -eps) | (x > 1.0 + eps)
        if np.any(outside):
            k = int(np.flatnonzero(outside)[0])
            raise ValueError(
                f"set_conductance: {int(np.sum(outside))} value(s) outside their device's bounds, e.g. "
                f"{ga[k]:g} S for device {divmod(k, self.shape[1])} with bounds "
                f"[{self._dev.g_min[k]:g}, {self._dev.g_max[k]:g}] S"
            )
        self._x = np.clip(x, 0.0, 1.0)
        self._g = None

    def device_parameters(self) -> DeviceParameters:
        """Per-device bounds, step sizes and stuck flags that the variation drew, shaped like the array."""
        return self._dev.reshaped(self.shape)

    def symmetry_points(self, pulses: Pulse | PulsePair | None = None) -> FloatArray:
        """G_sym per device (siemens) under `pulses`, where the mean up step of the up pulse equals
        the mean down step of the down pulse; NaN where not unique.

        pulses: a Pulse (both polarities) or a PulsePair; None is the nominal pulse (m⁺ = m⁻ = 1).
        The factors scale the step sizes, a± -> a± m±: soft bounds give
        (a⁺m⁺ G_max + a⁻m⁻ G_min) / (a⁺m⁺ + a⁻m⁻); linear step: closed form; power step: numeric
        root; table: the crossing of the binned mean steps. NaN for stuck devices, for constant
        symmetric steps (every state), where no crossing lies within the bounds and where
        neither pulse moves the state. Equal factors (one pulse, both polarities responding
        alike) leave the point where the nominal pulse puts it.
        """
        dev = self._dev
        if pulses is not None:
            m_up, m_down = self._config.pulse_factors(as_pulse_pair(pulses))
            if m_up == m_down == 0.0:
                return np.full(self.shape, np.nan)
            dev = dataclasses.replace(dev, step_up=dev.step_up * m_up, step_down=dev.step_down * m_down)
        x = symmetry_states(self._config, dev, self._table)
        return (self._dev.g_min + x * self._dev.span).reshape(self.shape)

    def expected_step(self, pulse: Pulse | PulsePair) -> tuple[FloatArray, FloatArray]:
        """(up, down): magnitude of the mean conductance change of one up pulse and of one down
        pulse at the current state, siemens (a Pulse serves both polarities).

        Before clipping at the bounds; 0 for stuck devices and sub-threshold pulses.
        """
        m_up, m_down = self._config.pulse_factors(as_pulse_pair(pulse))
        if self._table is None:
            up, down = self._config.step.rates(self._x)
            up, down = self._dev.step_up * up * self._dev.span, self._dev.step_down * down * self._dev.span
        else:
            g = self._dev.g_min + self._x * self._dev.span
            up = self._dev.step_up * self._table.mean_at(g, 1)
            down = -self._dev.step_down * self._table.mean_at(g, -1)
        moving = ~self._dev.stuck
        return (up * moving * m_up).reshape(self.shape), (down * moving * m_down).reshape(self.shape)

    # ------------------------------------------------------------------ snapshots (simulators.snapshot)
    def chip_state(self) -> dict[str, Any]:
        """What evolves or was drawn: normalised states "x" (copy), the per-device parameters
        "devices" and the random streams' states "rngs" (JSON-ready dicts)."""
        rngs = {"pulse": self._pulse_rng, "measure": self._measure_rng, "stream": self._stream_rng}
        return {
            "x": self._x.copy(),
            "devices": self._dev,
            "rngs": {k: r.bit_generator.state for k, r in rngs.items()},
        }

    def set_chip_state(self, state: dict[str, Any]) -> None:
        """Put back what chip_state() returned; derived caches are rebuilt on use."""
        self._x, self._dev = np.array(state["x"], dtype=np.float64), state["devices"]
        for name, rng in (
            ("pulse", self._pulse_rng),
            ("measure", self._measure_rng),
            ("stream", self._stream_rng),
        ):
            rng.bit_generator.state = state["rngs"][name]
        self._g = None
        self._bursts.clear()
        self._kernel_bursts.clear()
        self._fused = (None, None)

    # ------------------------------------------------------------------ primitives
    def _read(self, rows: IntArray, cols: IntArray) -> FloatArray:
        flat = rows * self.shape[1] + cols
        g = self._dev.g_min[flat] + self._x[flat] * self._dev.span[flat]
        return g + self._read_noise(flat)

    def _read_all(self) -> FloatArray:
        if not self._compiled:
            return self.conductance + self._read_noise(None)
        g = np.empty(self._x.size)
        key = int(self._measure_rng.bit_generator.random_raw())
        kernels.noisy_read(self._dev.g_min, self._dev.g_max, self._x, self._read_sigma, key, g)
        g.shape = self._shape  # in place: a reshape would build a second array object
        return g

    def _read_noise(self, flat: IntArray | None) -> FloatArray:
        """Read noise (siemens) of devices flat (None: all, shaped like the array). The fast and
        numpy engines draw it as the bursts do (one key from the measurement stream, the normal
        deviate of each device index, simulators.fastpath.normals); the reference engine from
        numpy's normal sampler."""
        shape = self.shape if flat is None else flat.shape
        if self._engine == "reference":
            return self._read_sigma * self._measure_rng.standard_normal(shape)
        key = int(self._measure_rng.bit_generator.random_raw())
        index = np.arange(self._x.size).reshape(shape) if flat is None else flat
        return self._read_sigma * normals(key, index).astype(np.float64)

    def _vmm(self, v: FloatArray) -> FloatArray:
        if self._small and v.ndim == 1:  # the common case without the general path's call
            out = np.empty(self._shape[1])
            kernels.small_vmm(v, *self._vmm_terms(), False, out)
            return out
        return self._noisy_product(v, False)

    def _vmm_transposed(self, v: FloatArray) -> FloatArray:
        return self._noisy_product(v, True)

    def _vmm_difference(self, reference: CrossbarBackend, v: FloatArray, transposed: bool) -> FloatArray:
        """Both products in one call when the reference is simulated too: the same numbers as the
        two VMMs (each array adds its own output noise from its own stream)."""
        if not isinstance(reference, SimulatedCrossbar):
            return super()._vmm_difference(reference, v, transposed)
        if self._small_vmm(v) and reference._small_vmm(v):
            out = np.empty(self._shape[0 if transposed else 1])
            pair = (self._vmm_terms(), reference._vmm_terms())
            kernels.small_vmm_difference(v, *pair, transposed, out)
            return out
        return self._noisy_product(v, transposed) - reference._noisy_product(v, transposed)

    def _small_vmm(self, v: FloatArray) -> bool:
        """True if this VMM runs as one compiled call: one vector on a small array."""
        return self._small and v.ndim == 1

    def _vmm_terms(self) -> tuple[NDArray[np.floating], float, int]:
        """(conductances, noise sigma, noise key) of one VMM: the key is drawn here, none for a
        noise-free VMM (which adds nothing)."""
        key = int(self._measure_rng.bit_generator.random_raw()) if self._vmm_sigma > 0.0 else 0
        return self._conductance_matrix(), self._vmm_sigma, key

    def _noisy_product(self, v: FloatArray, transposed: bool) -> FloatArray:
        """v @ G (transposed: v @ G.T) plus this array's output noise, float64 amperes.

        The noise of output k is sigma z_k, z_k = simulators.fastpath.normals(key, k) with one key
        from the measurement stream per call (the reference engine: numpy's normal sampler). The
        product is taken in G's precision (float32 when the VMM is noisy) by numpy, or accumulated
        in float64 by one compiled call for a single vector on a small array."""
        if self._small_vmm(v):
            out = np.empty(self._shape[0 if transposed else 1])
            kernels.small_vmm(v, *self._vmm_terms(), transposed, out)
            return out
        g = self._conductance_matrix()
        product = v.astype(g.dtype, copy=False) @ (g.T if transposed else g)
        if self._vmm_sigma == 0.0:
            return np.asarray(product, dtype=np.float64)
        if self._engine == "reference":
            current = self._measure_rng.standard_normal(product.shape)
        else:
            key = int(self._measure_rng.bit_generator.random_raw())
            current = normals(key, np.arange(product.size).reshape(product.shape)).astype(np.float64)
        current *= self._vmm_sigma  # sigma z + I: the same sum as I + sigma z, without a temporary
        current += product
        return current

    def _conductance_matrix(self) -> NDArray[np.floating]:
        """The state in siemens for VMMs, kept between writes (a read-only array).

        float32 when the VMM has output noise: its 6e-8 relative rounding is far below any noise
        level a preset uses (1e-2), and it halves the memory a VMM streams through; float64 when
        the VMM is noise-free, so that noiseless models stay exact."""
        if self._g is None:
            if self._compiled and self._vmm_sigma > 0.0:
                g = np.empty(self.shape, np.float32)
                kernels.conductances(self._dev.g_min, self._dev.g_max, self._x, g.reshape(-1))
            else:
                g = (self._dev.g_min + self._x * self._dev.span).reshape(self.shape)
                g = g.astype(np.float32) if self._vmm_sigma > 0.0 else g
            g.flags.writeable = False
            self._g = g
        return self._g

    def _pulse_factor(self, pulses: PulsePair) -> Factors:
        """(m⁺, m⁻) of validated pulses, remembered for the last pair (a PulsePair is immutable)."""
        if pulses is not self._last_pulse:
            self._last_m = self._config.pulse_factors(pulses)
            self._last_pulse = pulses
        return self._last_m

    def _apply_pulses(self, counts: IntArray, pulse: PulsePair) -> None:
        self._g = None
        m = self._pulse_factor(pulse)
        if m == (0.0, 0.0):
            return  # at or below the thresholds nothing moves
        # Single pulses have no burst to shorten: the per-pulse step itself, draw for draw.
        most = int(np.max(np.abs(counts)))
        directions = self._burst_directions(m) if most > 1 else None
        if directions is None:
            self._apply_pulses_per_pulse(counts, m)
        elif self._compiled:
            kd = self._kernel_directions(m, directions)
            kernels.apply_counts(counts, self._x, kd, self._noise_key(), most)
        else:
            self._apply_bursts(Bursts.from_dense(counts), directions)

    def _stochastic_update(self, p: FloatArray, q: FloatArray, bl: int, pulse: PulsePair) -> IntArray | None:
        if self._engine == "reference":
            return super()._stochastic_update(p, q, bl, pulse)
        # Fused: count the coincidences (packed popcounts), apply them as bursts.
        self._g = None
        stream_key = int(self._stream_rng.bit_generator.random_raw())
        m = self._pulse_factor(pulse)
        moves = m != (0.0, 0.0)
        directions = self._burst_directions(m) if moves else None
        if self._compiled and directions is not None:
            kd = self._kernel_directions(m, directions)
            return kernels.stochastic_update(p, q, bl, stream_key, self._x, kd, self._noise_key())
        counts, bursts = coincidences(p, q, bl, stream_key)
        if not moves:
            return counts  # the streams fired, below the thresholds nothing moves
        if directions is None:
            self._apply_pulses_per_pulse(counts, m)
        else:
            self._apply_bursts(bursts, directions)
        return counts

    def _within(self, v: FloatArray, bound: float) -> bool:
        if self._compiled and v.ndim == 1:
            return kernels.within(v, bound)
        return super()._within(v, bound)

    def _abs_maxima(self, x: FloatArray, d: FloatArray) -> tuple[float, float]:
        if self._compiled:  # x and d are vectors: planned_update checked their shapes
            return kernels.abs_maxima(x, d)
        return super()._abs_maxima(x, d)

    def _planned_update(
        self, x: FloatArray, d: FloatArray, scales: UpdateScales, pulse: PulsePair
    ) -> UpdateOutcome:
        """On a small array with the compiled kernels: the plan's probabilities inside the update
        kernel, the same streams and pulses as the default's plan and _stochastic_update."""
        kd = self._fused_directions(pulse)
        if kd is None:
            return super()._planned_update(x, d, scales, pulse)
        self._g = None
        stream_key = int(self._stream_rng.bit_generator.random_raw())
        pulses = kernels.planned_update(x, d, scales, (stream_key, self._noise_key()), self._x, kd)
        return UpdateOutcome(True, scales.bl, scales.clipped, pulses)

    def _fused_directions(self, pulse: PulsePair) -> KernelDirections | None:
        """The compiled small-array update's constants for these pulses, remembered for the last
        pulses; None where the default path serves them (no compiled kernels, a large array, a
        pulse that moves nothing, no closed form)."""
        if pulse is not self._fused[0]:
            m = self._pulse_factor(pulse)
            directions = self._burst_directions(m) if self._fused_update and m != (0.0, 0.0) else None
            self._fused = (pulse, None if directions is None else self._kernel_directions(m, directions))
        return self._fused[1]

    def _burst_directions(self, m: Factors) -> tuple[Direction, Direction] | None:
        """Closed-form constants at pulse factors (m⁺, m⁻) (the up direction's at m⁺, the down
        direction's at m⁻); None for the reference engine and where none holds."""
        if self._engine == "reference" or self._table is not None:
            return None
        if m not in self._bursts:
            if len(self._bursts) >= 8:  # a protocol sweeping amplitudes should not grow this forever
                self._bursts.clear()
            self._bursts[m] = self._burst_constants(m)
        return self._bursts[m]

    def _burst_constants(self, m: Factors) -> tuple[Direction, Direction] | None:
        m_up, m_down = m
        up = burst_constants(self._config, self._dev, m_up)
        if m_down == m_up or up is None:
            return up
        down = burst_constants(self._config, self._dev, m_down)
        return None if down is None else (up[0], down[1])

    def _kernel_directions(self, m: Factors, directions: tuple[Direction, Direction]) -> KernelDirections:
        if m not in self._kernel_bursts:
            if len(self._kernel_bursts) >= 8:
                self._kernel_bursts.clear()
            self._kernel_bursts[m] = KernelDirections.from_directions(*directions, self._x.size)
        return self._kernel_bursts[m]

    def _noise_key(self) -> int:
        """One 64-bit key per call for the bursts' normal deviates (simulators.fastpath.normals)."""
        return int(self._pulse_rng.bit_generator.random_raw())

    def _apply_bursts(self, bursts: Bursts, directions: tuple[Direction, Direction]) -> None:
        key = self._noise_key()
        up, down = directions
        apply_bursts(self._x, bursts.up_index, bursts.up_count, up, key)
        apply_bursts(self._x, bursts.down_index, bursts.down_count, down, key)

    def _apply_pulses_per_pulse(self, counts: IntArray, m: Factors) -> None:
        """Reference implementation: pulse k reaches every device with |n| > k, one vector step each."""
        n = np.abs(counts).ravel()
        idx = np.flatnonzero((n > 0) & ~self._dev.stuck)
        if idx.size == 0:
            return
        idx = idx[np.argsort(-n[idx], kind="stable")]  # most pulses first: active devices are a prefix
        remaining = n[idx]
        up = counts.ravel()[idx] > 0
        for k in range(int(remaining[0])):
            active = int(np.searchsorted(-remaining, -k, side="left"))  # devices with > k pulses
            sel = idx[:active]
            self._x[sel] = np.clip(self._x[sel] + self._draw_steps(sel, up[:active], m), 0.0, 1.0)

    # ------------------------------------------------------------------ internals
    def _draw_steps(self, sel: IntArray, up: np.ndarray, m: Factors) -> FloatArray:
        """Signed normalised change of one pulse on devices sel (polarity up: True for the up
        pulse, factor m⁺, else the down pulse, m⁻), noise included."""
        x = self._x[sel]
        if self._table is None:
            rate_up, rate_down = self._config.step.rates(x)
            step = np.where(up, self._dev.step_up[sel] * rate_up, -self._dev.step_down[sel] * rate_down)
        else:
            g = self._dev.g_min[sel] + x * self._dev.span[sel]
            dg = self._table.sample(g, np.where(up, 1, -1), self._pulse_rng.random(sel.size))
            step = dg * np.where(up, self._dev.step_up[sel], self._dev.step_down[sel]) / self._dev.span[sel]
        s = self._config.noise.c2c_noise
        if s > 0:
            step = step * (1.0 + s * self._pulse_rng.standard_normal(sel.size))
        m_up, m_down = m
        return step * (m_up if m_up == m_down else np.where(up, m_up, m_down))

    def _is_ideal(self) -> bool:
        c = self._config
        quiet = c.c2c_noise == c.read_noise == c.vmm_noise == 0.0
        no_variation = c.dtod_bounds == c.dtod_step == c.dtod_imbalance == c.stuck_fraction == 0.0
        constant = c.step.burst_gammas() == (0.0, 0.0) and c.step.step_up == c.step.step_down
        return quiet and no_variation and constant


def table_config(table: JumpTable, **overrides: Any) -> DeviceConfig:
    """DeviceConfig of the table model: bounds at the table's G range, steps as measured.

    Defaults (DeviceConfig's): no variation, no extra cycle-to-cycle noise (the table holds the
    device's spread), read noise = the table's read_noise (a table without one holds its
    measurement's read noise in its steps: none is added), no VMM noise, start mid-range;
    nominal pulse = the table's pulse (so m = 1 there) or, without one, the default pulse
    response. Override any DeviceConfig field.
    """
    if not isinstance(table, JumpTable):
        raise TypeError(f"table must be a hil.jumptable.JumpTable, got {type(table).__name__}")
    if "model" in overrides and not model_class(overrides["model"]).draws_from_table:
        raise ValueError("from_jump_table builds the 'table' model; use from_preset for the others")
    base = DeviceConfig()
    fields: dict[str, Any] = {
        "model": TableSteps.name,
        "g_min": float(table.g_edges[0]),
        "g_max": float(table.g_edges[-1]),
        "step_up": 1.0,
        "step_down": 1.0,
    }
    if table.read_noise is not None:  # DeviceConfig's read noise is a fraction of the range
        fields["read_noise"] = table.read_noise / float(table.g_edges[-1] - table.g_edges[0])
    if table.pulse is not None:
        fields["v_ref"] = table.pulse.amplitude
        fields["t_ref"] = table.pulse.width
        if "v_threshold" not in overrides and table.pulse.amplitude <= base.pulse_response.v_threshold:
            raise ValueError(
                f"the table's pulse {table.pulse} is not above the default threshold "
                f"{base.pulse_response.v_threshold:g} V; pass v_threshold (volts) below its amplitude"
            )
    return base.with_overrides(**{**fields, **overrides})


def _as_pulse(pulse: Pulse) -> Pulse:
    if not isinstance(pulse, Pulse):
        raise TypeError(f"expected a hil.Pulse(amplitude=volts, width=seconds), got {pulse!r}")
    return pulse


def _table_summary(table: JumpTable) -> dict[str, object]:
    return {
        "g_range_S": [float(table.g_edges[0]), float(table.g_edges[-1])],
        "n_bins": table.n_bins,
        "n_quantiles": int(table.levels.size),
        "up_samples": int(table.up_counts.sum()),
        "down_samples": int(table.down_counts.sum()),
        "pulse": None
        if table.pulse is None
        else {"amplitude_V": table.pulse.amplitude, "width_s": table.pulse.width},
    }
