"""The stored points of a jump-table measurement (protocols.jumptable) and its plan.

Points, in the order a run writes them (siemens; step = pulse count of the device):

    jump_start       step 0: g (n_devices,) the read before the first pulse, read_noise
                     (n_devices,) the std of the repeated reads before it (NaN: not measured)
    jump             pulse by pulse, step k >= 1: direction of pulse k, g (n_devices,) the reads
                     after it
    jump_train       trains: step = first pulse of the train + 1, device (index into the plan's
                     devices), direction, g (count,) the device's read after each pulse
    jump_train_lost  a train that raised part-way: as jump_train without reads, with count and
                     error
    jump_resume      step k: g the reads a resumed run took before pulse k + 1, which start
                     step k; pulse by pulse all devices (n_devices,), with trains one device
                     (device, g (1,))

The plan is the checkpoint of scope SCOPE, {"protocol": "jump_table", "plan": {...}}, written
before the first read. Runs recorded before trains existed have no "trains" in their plan
(they ran pulse by pulse), and runs recorded before "jump_start" existed start at "jump" 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Self

import numpy as np

from hil.backend import MAX_TRAIN, FloatArray, IntArray
from hil.pulses import Pulse, PulsePair, pulse_from_state, pulse_state
from hil.recording import Checkpoint, Point
from hil.store import RunStore
from protocols.records.base import Record

SCOPE = "jump_table"  # checkpoint scope of the plan


@dataclass(frozen=True, eq=False)
class JumpStart(Record):
    """The reads before the first pulse (g) and the read noise (std of repeated reads)."""

    KIND: ClassVar[str] = "jump_start"
    ARRAYS: ClassVar[tuple[str, ...]] = ("g", "read_noise")
    g: FloatArray
    read_noise: FloatArray
    step: int = 0


@dataclass(frozen=True, eq=False)
class Jump(Record):
    """Pulse `step` (1-based) of a pulse-by-pulse run and the reads of all devices after it."""

    KIND: ClassVar[str] = "jump"
    ARRAYS: ClassVar[tuple[str, ...]] = ("g",)
    step: int
    direction: int
    g: FloatArray


@dataclass(frozen=True, eq=False)
class JumpResume(Record):
    """Reads a resumed run took before pulse step + 1; they start step `step`. device: the
    device index of a train run (g of that device alone), None pulse by pulse (all devices)."""

    KIND: ClassVar[str] = "jump_resume"
    ARRAYS: ClassVar[tuple[str, ...]] = ("g",)
    step: int
    g: FloatArray
    device: int | None = None


@dataclass(frozen=True, eq=False)
class JumpTrain(Record):
    """One pulse-read train of device index `device`: g[i] read after its pulse step + i."""

    KIND: ClassVar[str] = "jump_train"
    ARRAYS: ClassVar[tuple[str, ...]] = ("g",)
    step: int
    device: int
    direction: int
    g: FloatArray

    @property
    def first(self) -> int:
        """0-based pulse number of the train's first pulse."""
        return self.step - 1

    @property
    def count(self) -> int:
        return int(np.size(self.g))


@dataclass(frozen=True, eq=False)
class JumpTrainLost(Record):
    """A train that raised part-way: an unknown number of its `count` pulses applied, no reads."""

    KIND: ClassVar[str] = "jump_train_lost"
    step: int
    device: int
    direction: int
    count: int
    error: str

    @property
    def first(self) -> int:
        return self.step - 1


@dataclass(frozen=True)
class Train:
    """One pulse_read_train call of a train run: `count` pulses of polarity `sign` on chosen device
    `device` (index into devices), its pulses first .. first + count - 1 (0-based), so that its
    reads are g[first + 1 : first + 1 + count, device]."""

    device: int
    sign: int
    first: int
    count: int


@dataclass(frozen=True)
class JumpPlan:
    """What a jump-table run pulses: devices ((row, col) pairs), cycles of n_up up pulses then
    n_down down pulses, the pulse (volts, seconds), noise_reads before the first pulse, and
    whether each device runs its cycles as pulse-read trains."""

    devices: tuple[tuple[int, int], ...]
    n_cycles: int
    n_up: int
    n_down: int
    noise_reads: int
    pulse: Pulse | PulsePair
    trains: bool

    @property
    def pairs(self) -> IntArray:
        """(n_devices, 2) (row, col) of the devices."""
        return np.asarray(self.devices, dtype=np.int64).reshape(-1, 2)

    @property
    def n_pulses(self) -> int:
        """Pulses per device."""
        return self.n_cycles * (self.n_up + self.n_down)

    def directions(self) -> IntArray:
        """(n_pulses,) +1 for an up pulse, -1 for a down pulse."""
        one_cycle = np.concatenate(
            [np.ones(self.n_up, dtype=np.int64), -np.ones(self.n_down, dtype=np.int64)]
        )
        return np.tile(one_cycle, self.n_cycles)

    def cycles(self) -> IntArray:
        """(n_pulses,) cycle index of each pulse."""
        return np.repeat(np.arange(self.n_cycles, dtype=np.int64), self.n_up + self.n_down)

    def schedule(self) -> list[Train]:
        """The trains in the order they run: per cycle, per device, up then down, each split into
        calls of at most MAX_TRAIN pulses."""
        trains = []
        for c in range(self.n_cycles):
            begin = c * (self.n_up + self.n_down)
            for d in range(len(self.devices)):
                for sign, first, n in ((1, begin, self.n_up), (-1, begin + self.n_up, self.n_down)):
                    trains += [
                        Train(d, sign, first + s, min(MAX_TRAIN, n - s)) for s in range(0, n, MAX_TRAIN)
                    ]
        return trains

    def to_dict(self) -> dict[str, Any]:
        """The plan as stored (JSON-ready)."""
        plan = asdict(self)
        plan["devices"] = [list(pair) for pair in self.devices]
        plan["pulse"] = pulse_state(self.pulse)
        return plan

    def to_state(self) -> dict[str, Any]:
        """The checkpoint state of scope SCOPE."""
        return {"protocol": "jump_table", "plan": self.to_dict()}

    @classmethod
    def from_dict(cls, plan: Mapping[str, Any]) -> Self:
        """A stored plan; one without "trains" (recorded before trains existed) ran pulse by pulse."""
        return cls(
            devices=tuple((int(r), int(c)) for r, c in plan["devices"]),
            n_cycles=int(plan["n_cycles"]),
            n_up=int(plan["n_up"]),
            n_down=int(plan["n_down"]),
            noise_reads=int(plan["noise_reads"]),
            pulse=pulse_from_state(plan["pulse"]),
            trains=bool(plan.get("trains", False)),
        )

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None) -> Self | None:
        """The plan of a checkpoint state of scope SCOPE; None if it holds none."""
        plan = None if state is None else state.get("plan")
        return None if plan is None else cls.from_dict(plan)

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint | None) -> Self | None:
        return None if checkpoint is None else cls.from_state(checkpoint.state(SCOPE))

    @classmethod
    def from_store(cls, store: RunStore, run: str | int) -> Self | None:
        """The plan of stored run `run` of a hil.store.RunStore; None if it has none."""
        return cls.from_state(store.last_checkpoint(run, SCOPE))


@dataclass(frozen=True)
class RecordedPulses:
    """What a pulse-by-pulse run recorded, in order: its last jump_start (None for runs recorded
    before it existed), its jump points and its jump_resume points."""

    start: JumpStart | None
    jumps: tuple[Jump, ...]
    resumes: tuple[JumpResume, ...]

    @classmethod
    def read(cls, points: Iterable[Point]) -> Self:
        points = list(points)
        starts = JumpStart.read(points)
        return cls(starts[-1] if starts else None, tuple(Jump.read(points)), tuple(JumpResume.read(points)))

    @property
    def in_order(self) -> bool:
        """The jump points are the pulses 1, 2, ... with none missing."""
        return [j.step for j in self.jumps] == list(range(1, len(self.jumps) + 1))

    def reads(self) -> FloatArray:
        """(reads, n_devices) siemens: the jump_start read (if any), then the read after each pulse."""
        g = [np.atleast_1d(j.g) for j in self.jumps]
        if self.start is not None:
            g.insert(0, np.atleast_1d(self.start.g))
        return np.array(g, dtype=np.float64)

    def directions(self) -> IntArray:
        """(pulses,) direction of each recorded pulse."""
        return np.array([j.direction for j in self.jumps], dtype=np.int64)

    def restarts(self) -> dict[tuple[int, int], float]:
        """{(pulse count k, device index): the read that starts step k}, from the resumes."""
        return {(int(r.step), d): float(v) for r in self.resumes for d, v in enumerate(np.atleast_1d(r.g))}


@dataclass(frozen=True)
class RecordedTrains:
    """What a train run (plan "trains": true) recorded, laid out as measure_jump_table's result.

    g: (n_pulses + 1, n_devices) siemens, NaN where nothing was read (trains not run yet, or lost).
    direction: (n_pulses,) of the whole plan. read_noise: (n_devices,) siemens.
    trains_done: how many of the plan's trains ran (lost ones included); reached: (n_devices,)
        pulses each device has been through. lost: (device index, first pulse, count) of each
        lost train. restarts: {(pulse count k, device index): read in siemens that starts step k}.
    """

    g: FloatArray
    direction: IntArray
    read_noise: FloatArray
    trains_done: int
    n_trains: int
    reached: IntArray
    lost: tuple[tuple[int, int, int], ...]
    restarts: dict[tuple[int, int], float]

    def resume_rows(self) -> tuple[IntArray, FloatArray]:
        """(resumed_at, resume_reads) as in protocols.jumptable.JumpTableResult."""
        return resume_rows(self.g, self.restarts)


def recorded_trains(plan: JumpPlan, points: Iterable[Point], run: str = "the run") -> RecordedTrains | None:
    """Read back the points of a train run of `plan`; None if it recorded no jump_start (stopped
    before its first pulse). Raises ValueError if the trains recorded are not the plan's, in its
    order."""
    points = list(points)
    starts = JumpStart.read(points)
    if not starts:
        return None
    schedule = plan.schedule()
    g = np.full((plan.n_pulses + 1, len(plan.devices)), np.nan)
    g[0] = starts[-1].g
    ran = _read(points, (JumpTrain, JumpTrainLost))
    lost = []
    reached = np.zeros(len(plan.devices), dtype=np.int64)
    for i, r in enumerate(ran):
        t = schedule[i] if i < len(schedule) else None
        got = (int(r.device), int(r.direction), r.first, int(r.count))
        if t is None or got != (t.device, t.sign, t.first, t.count):
            raise ValueError(
                f"{run}: its train {i + 1} (device index, direction, first pulse, count) {got} is not the "
                "plan's train in order; the run's trains cannot be read back (start a new run)"
            )
        if isinstance(r, JumpTrain):
            g[t.first + 1 : t.first + 1 + t.count, t.device] = r.g
        else:
            lost.append((t.device, t.first, t.count))
        reached[t.device] = t.first + t.count
    # A later read of the same device before the same train replaces the earlier one.
    restarts = {(int(r.step), int(r.device)): float(np.ravel(r.g)[0]) for r in JumpResume.read(points)}
    return RecordedTrains(
        g=g,
        direction=plan.directions(),
        read_noise=np.asarray(starts[-1].read_noise, dtype=np.float64),
        trains_done=len(ran),
        n_trains=len(schedule),
        reached=reached,
        lost=tuple(lost),
        restarts=restarts,
    )


def resume_rows(g: FloatArray, restarts: dict[tuple[int, int], float]) -> tuple[IntArray, FloatArray]:
    """(resumed_at, resume_reads) from {(pulse count k, device index): fresh read}; a device not
    read again at k keeps g[k] in its column."""
    at = np.array(sorted({k for k, _ in restarts}), dtype=np.int64)
    reads = g[at].copy()
    row = {k: i for i, k in enumerate(at.tolist())}
    for (k, d), value in restarts.items():
        reads[row[k], d] = value
    return at, reads


def _read(points: list[Point], kinds: tuple[type[Record], ...]) -> list[Any]:
    """The records of any of `kinds` among points, in their order."""
    by_kind = {k.KIND: k for k in kinds}
    return [by_kind[p.kind].from_row(p) for p in points if p.kind in by_kind]
