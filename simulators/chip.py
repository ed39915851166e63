"""SimulatedChip: a hil.bench.Bench whose named arrays are SimulatedCrossbars of one device population.

Each array's seed is np.random.SeedSequence(chip seed, spawn_key = the UTF-8 bytes of its
name): the same (seed, name) gives the same devices whatever order arrays are asked for in,
and different names give independent devices.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hil.backend import BackendClosedError
from hil.bench import Bench
from hil.jumptable import JumpTable
from hil.pulses import Pulse, SafetyLimits
from simulators import presets, snapshot
from simulators.config import DeviceConfig
from simulators.crossbar import ENGINES, SimulatedCrossbar, default_limits, seed_sequence, table_config


class SimulatedChip(Bench):
    """Named arrays of one simulated device population, created on first use.

    preset: a name from simulators.presets.PRESETS; seed: non-negative integer (or None for
    fresh entropy, recorded in describe()); limits: for every array (default: the config's
    simulators.crossbar.default_limits); engine: the arrays' engine (simulators.crossbar.ENGINES);
    overrides: DeviceConfig fields.
    """

    def __init__(
        self,
        preset: str = "protonic-asymmetric",
        seed: int | None = 0,
        limits: SafetyLimits | None = None,
        engine: str = "fast",
        **overrides: Any,
    ):
        self._init(presets.preset(preset, **overrides), None, seed, limits, preset, engine)

    @classmethod
    def from_jump_table(
        cls,
        table: JumpTable,
        seed: int | None = 0,
        limits: SafetyLimits | None = None,
        engine: str = "fast",
        **overrides: Any,
    ) -> SimulatedChip:
        """A chip of table-driven devices (see simulators.crossbar.table_config for the defaults)."""
        chip = cls.__new__(cls)
        chip._init(table_config(table, **overrides), table, seed, limits, None, engine)
        return chip

    def _init(
        self,
        config: DeviceConfig,
        table: JumpTable | None,
        seed: int | None,
        limits: SafetyLimits | None,
        preset_name: str | None,
        engine: str,
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        if isinstance(seed, np.random.SeedSequence):
            raise TypeError("SimulatedChip takes an integer seed (or None), not a SeedSequence")
        self._seed = seed_sequence(seed)
        self._config = config
        self._table = table
        self._limits = default_limits(config) if limits is None else limits
        self._preset = preset_name
        self._engine = engine
        self._arrays: dict[str, SimulatedCrossbar] = {}
        self._pending: dict[str, dict[str, Any]] = {}  # restored states of arrays not asked for yet
        self._closed = False

    @property
    def config(self) -> DeviceConfig:
        return self._config

    @property
    def nominal_pulse(self) -> Pulse:
        """The pulse at which the config's step sizes hold (every array's nominal_pulse)."""
        return self._config.nominal_pulse

    @property
    def seed(self) -> int:
        """The chip's seed (the drawn entropy when it was created with seed=None)."""
        return int(self._seed.entropy)

    @property
    def arrays(self) -> dict[str, SimulatedCrossbar]:
        """The arrays created so far, by name (a copy of the mapping)."""
        return dict(self._arrays)

    def array(self, name: str, shape: tuple[int, int]) -> SimulatedCrossbar:
        """The array `name`; created with `shape` on first use, which later calls must repeat."""
        if self._closed:
            raise BackendClosedError("SimulatedChip is closed; create a new one")
        if not isinstance(name, str) or not name:
            raise ValueError(f"array name must be a non-empty string, got {name!r}")
        existing = self._arrays.get(name)
        if existing is not None:
            if tuple(shape) != existing.shape:
                raise ValueError(
                    f"array {name!r} exists with shape {existing.shape}; asked for {tuple(shape)}"
                )
            return existing
        seed = np.random.SeedSequence(self._seed.entropy, spawn_key=tuple(name.encode("utf-8")))
        array = SimulatedCrossbar(
            tuple(shape), self._config, seed=seed, limits=self._limits, table=self._table, engine=self._engine
        )
        pending = self._pending.pop(name, None)
        if pending is not None:
            snapshot.restore(array, pending, name)
        self._arrays[name] = array
        return array

    def chip_state(self) -> bytes:
        """Every array's devices, states and random streams (simulators.snapshot), as bytes."""
        return snapshot.snapshot(self._arrays)

    def restore_chip_state(self, state: bytes) -> None:
        """Continue from chip_state()'s bytes: arrays that exist take their state now, the
        others when they are first asked for (with the shape they had)."""
        states = snapshot.read_snapshot(state)
        for name, array_state in states.items():
            if name in self._arrays:
                snapshot.restore(self._arrays[name], array_state, name)
            else:
                self._pending[name] = array_state

    def describe(self) -> dict[str, object]:
        return {
            "bench": "simulated-chip",
            "preset": self._preset,
            "seed": self.seed,
            "array_seeds": "np.random.SeedSequence(seed, spawn_key=tuple(name.encode('utf-8')))",
            "config": self._config.to_dict(),
            "jump_table": self._table is not None,
            "engine": self._engine,
            "limits": dict(self._limits.__dict__),
            "arrays": {name: list(a.shape) for name, a in self._arrays.items()},
        }

    def close(self) -> None:
        """Close every array. Idempotent."""
        if self._closed:
            return
        errors = []
        for array in self._arrays.values():
            try:
                array.close()
            except Exception as exc:  # close the others anyway, then report
                errors.append(exc)
        self._closed = True
        if errors:
            raise errors[0]
