"""Jump table of a set of devices: the distribution of ΔG per pulse against the starting G.

Protocol (IBM Almaden, Burr 2015 / Sidler 2016; CrossSim's recipe): repeat `n_cycles` times
{`n_up` up pulses, then `n_down` down pulses}, on the chosen devices only, reading them after
every pulse. Each step ΔG = G_after − G_before belongs to the conductance it started from,
G_before (convention "start"). The steps of all chosen devices and cycles are pooled and
binned over the conductance range they cover; per bin and direction the table keeps the
sorted changes as quantiles (the CDF), the median, the spread and the sample count.

Two ways to run the cycles. Pulse by pulse: all chosen devices get each pulse together, then
all are read (two backend calls per pulse). Trains: each device in turn runs its up train and
its down train as backend.pulse_read_train calls, which a bench with instrument-side trains
(backend.instrument_trains) runs in a fixed number of transactions whatever the train's length.

Read noise: each ΔG is a difference of two reads, so read noise σ_r adds σ_r·√2 to the
spread. The table keeps σ_r apart: it is estimated from the steps themselves (the lag-one
covariance of successive steps, hil.jumptable.read_noise_from_steps), the spread of every bin
is deconvolved by it and the table stores it, so a device simulated from the table adds it
back to its reads and not to its steps. The repeated reads before the first pulse give a
second, independent estimate (`read_noise`, reported beside it as a check). The binning G is
itself read with noise σ_r, which smears the table along G by σ_r (small against the range).

Resuming (docs/run-store.md): every "jump" point records one applied pulse and the read after
it (every "jump_train" point one train and its reads), so a stopped run continues after its
last recorded pulse (train), and no recorded pulse is applied again. The resumed run reads the
devices once more before their next pulse and that read, not the last one before the stop,
starts the next step: whatever the devices did while the run stood still (relaxation) belongs
to no pulse. A train that failed part-way (an unknown number of its pulses applied, its reads
lost) is recorded as "jump_train_lost" and never sent again: its steps stay without reads.
The points and the plan are written and read back as protocols.records.jumptable's records.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from hil.backend import CrossbarBackend, FloatArray, IntArray
from hil.interrupts import critical
from hil.jumptable import JumpTable, ReadNoise, read_noise_from_steps
from hil.progress import ProgressCallback
from hil.pulses import Pulse, PulsePair, as_pulse_pair, pulse_state, single_pulse
from hil.recording import Checkpoint, Recorder
from hil.results import to_jsonable
from protocols.checks import positive_int
from protocols.records.jumptable import (
    SCOPE,
    Jump,
    JumpPlan,
    JumpResume,
    JumpStart,
    JumpTrain,
    JumpTrainLost,
    RecordedPulses,
    Train,
    recorded_trains,
    resume_rows,
)

__all__ = [
    "SCOPE",
    "JumpTableResult",
    "NoTableError",
    "check_settings",
    "measure_jump_table",
    "table_from_reads",
]
CONVENTION = "start"
# Kernel width (fraction of the table's range) over which the mean step and the step variance
# are smoothed across bins (hil.jumptable.JumpTable.from_samples): a bin of a default table
# holds a few dozen steps per device, whose mean scatters by more than the mean changes from
# bin to bin, while the slope of the mean sets how a table device relaxes to its symmetry point.
SMOOTHING = 0.15
CONVENTION_TEXT = "each step's dG is assigned to the conductance read before the pulse (G_start)"


class NoTableError(ValueError):
    """The measurement ran but its steps cannot make a table; the raw reads ride along."""

    def __init__(self, message: str, g: FloatArray, direction: IntArray, devices: IntArray):
        super().__init__(message)
        self.g, self.direction, self.devices = g, direction, devices


@dataclass(frozen=True)
class JumpTableResult:
    """Outcome of measure_jump_table.

    table: the hil.jumptable.JumpTable built from all chosen devices' steps, pooled.
    devices: (n_devices, 2) (row, col) of the chosen devices, in the order of the traces.
    g: (n_pulses + 1, n_devices) siemens, g[0] read before the first pulse, g[k] after pulse k
        (of that device: with trains the devices run their pulses one after another); NaN after
        the pulses of a train lost to an error (nothing read, see measure_jump_table).
    direction: (n_pulses,) +1 for an up pulse, −1 for a down pulse.
    cycle: (n_pulses,) cycle index of each pulse.
    read_noise: (n_devices,) siemens, std of `noise_reads` repeated reads before any pulse
        (NaN if noise_reads < 2).
    convention: "start": ΔG belongs to the conductance before the pulse.
    resumed_at: (n_resumes,) pulse counts k at which a resumed run read devices again;
        resume_reads (n_resumes, n_devices) siemens, those reads, which start step k in place of
        g[k]. With trains a resumed run reads each device again just before its own next train,
        so in a row the devices not read then repeat g[k] (their step k starts where it did).
    parameters["trains"]: True if the cycles ran as pulse-read trains.
    """

    table: JumpTable
    devices: IntArray
    g: FloatArray
    direction: IntArray
    cycle: IntArray
    read_noise: FloatArray
    pulse: Pulse | PulsePair
    convention: str = CONVENTION
    parameters: dict[str, Any] = field(default_factory=dict)
    resumed_at: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    resume_reads: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))

    def samples(self, device: int | None = None) -> tuple[FloatArray, FloatArray, IntArray]:
        """(g_start, dg, direction) of every step with its reads, flat; of one device (index into
        devices) or all. Steps without reads (NaN in g: a lost train) are left out."""
        return _samples(self.g, self.direction, self.resumed_at, self.resume_reads, device)

    def device_table(self, device: int, **kwargs: Any) -> JumpTable:
        """The table of one device alone, deconvolved by that device's own read noise (kwargs as
        JumpTable.from_samples: n_bins, g_range, smoothing, ...; default as the pooled table)."""
        if not 0 <= device < self.devices.shape[0]:
            raise IndexError(f"device index {device} outside 0..{self.devices.shape[0] - 1}")
        kwargs.setdefault("pulse", single_pulse(self.pulse))
        kwargs.setdefault("smoothing", self.table.smoothing)
        kwargs.setdefault("read_noise", self.step_read_noise(device))
        return JumpTable.from_samples(*self.samples(device), **kwargs)

    def step_read_noise(self, device: int | None = None) -> ReadNoise | None:
        """σ_r from the steps (hil.jumptable.read_noise_from_steps) of one device (index into
        devices) or pooled over all; None if the trains are too short to give one."""
        cols = slice(None) if device is None else [device]
        reads = self.resume_reads[:, cols] if self.resume_reads.size else self.resume_reads
        return _step_read_noise(self.g[:, cols], self.direction, self.resumed_at, reads)

    def summary(self) -> dict[str, Any]:
        """JSON-ready key numbers and the table's per-bin median, spread and counts."""
        t = self.table
        per_direction = {}
        _, dg, direction = self.samples()
        for name, sign, counts in (("up", 1, t.up_counts), ("down", -1, t.down_counts)):
            steps = dg[direction == sign]
            per_direction[name] = {
                "n_samples": int(steps.size),
                "mean_dG_S": float(np.mean(steps)) if steps.size else None,
                "median_dG_S": t.median(sign),
                "spread_dG_S": t.spread(sign),
                "counts": counts,
            }
        return to_jsonable(
            {
                "protocol": "jump_table",
                "pulse": pulse_state(self.pulse),
                "parameters": self.parameters,
                "convention": self.convention,
                "convention_text": CONVENTION_TEXT,
                "devices": self.devices,
                "n_pulses_per_device": int(self.direction.size),
                "resumed_at_pulse": self.resumed_at,
                "g_observed_S": [float(np.nanmin(self.g)), float(np.nanmax(self.g))],
                "read_noise_S": {
                    "from_steps": t.read_noise,
                    "from_steps_stderr": t.read_noise_se,
                    "per_device": self.read_noise,  # from the repeated reads
                    "median": float(np.median(self.read_noise)),
                    "deconvolved": t.read_noise is not None,
                },
                "smoothing": t.smoothing,
                "bins": {"edges_S": t.g_edges, "centers_S": t.centers},
                **per_direction,
            }
        )

    def save(self, out_dir: str | Path) -> list[Path]:
        """Write jump_table.npz (the table) and jump_traces.npz (raw reads); returns the paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        table_path = out / "jump_table.npz"
        self.table.save(table_path)
        traces = out / "jump_traces.npz"
        np.savez_compressed(
            traces,
            g=self.g,
            direction=self.direction,
            cycle=self.cycle,
            devices=self.devices,
            read_noise=self.read_noise,
            convention=np.array(self.convention),
        )
        return [table_path, traces]


def measure_jump_table(
    backend: CrossbarBackend,
    pulse: Pulse | PulsePair,
    devices: ArrayLike,
    *,
    n_cycles: int = 5,
    n_up: int = 200,
    n_down: int | None = None,
    n_bins: int = 50,
    n_quantiles: int = 101,
    g_range: tuple[float, float] | None = None,
    noise_reads: int = 10,
    progress: ProgressCallback | None = None,
    recorder: Recorder | None = None,
    resume_from: Checkpoint | None = None,
    trains: bool | None = None,
    smoothing: float | None = SMOOTHING,
) -> JumpTableResult:
    """Measure up/down pulse trains with a read after every pulse and build a jump table.

    backend: the array; only the chosen devices are pulsed and read.
    pulse: the write pulse (volts, seconds) or a PulsePair (each train fires its polarity's, the
        table's pulse is then None); checked against the limits before anything is read or written.
    devices: boolean (rows, cols) mask or a sequence of (row, col) pairs (no repeats).
    n_cycles: number of {up train, down train} cycles.
    n_up, n_down: pulses per up train and per down train (n_down None: same as n_up). Make the
        trains long enough to sweep the range; an asymmetric device may need a longer one way.
    n_bins, n_quantiles, g_range (siemens; None: the reads' range), smoothing: JumpTable.
        from_samples's; the table is deconvolved by the steps' read noise (JumpTable.read_noise).
    noise_reads: reads before pulsing, a check of the read noise (0: skip, else at least 2).
    trains: False: pulse by pulse, every chosen device gets each pulse at once and all are read
        after it (two backend calls per pulse). True: per cycle, each device in turn (in the
        order of `devices`) runs one up train of n_up and one down train of n_down cycles as
        backend.pulse_read_train calls (a train longer than hil.backend.MAX_TRAIN is split), so
        the devices are pulsed one after another, not simultaneously: a device waits while the
        others run their trains, and whatever it does meanwhile (relaxation) joins its next step,
        as between the cycles of a pulse-by-pulse run. None (default): trains when the backend
        runs them in its instruments (backend.instrument_trains), which costs a fixed number of
        transactions per train instead of two calls per pulse; when resuming, as the stopped run
        did. The result has the same shape and meaning either way.
    progress: progress(done, total) after every pulse (pulses per device) or train (pulses
        summed over the devices).
    recorder: optional hil.recording.Recorder (e.g. a hil.store.Run); records the plan as a
        checkpoint (scope "jump_table") and the first reads ("jump_start") before the first
        pulse, then each pulse ("jump") or train ("jump_train", one store commit per train) with
        its reads as it is measured; the points are listed in protocols.records.jumptable.
    resume_from: the Checkpoint of a stopped run of this measurement (hil.store.RunStore.
        load_checkpoint); the call must repeat its devices, pulse and train settings. Pulses
        already recorded are not applied again and their reads are kept; pass the resumed run
        (RunStore.resume_run) as recorder so that new points append to it. A checkpoint without
        a jump-table plan starts the measurement from the beginning. A lost train is not sent
        again: the resumed run reads its device afresh and goes on with the next train, so the
        lost train's steps have no reads (NaN in g) and the next step starts at the fresh read.
    """
    plan, binning = _checked_plan(
        backend,
        pulse,
        devices,
        n_cycles=n_cycles,
        n_up=n_up,
        n_down=n_down,
        noise_reads=noise_reads,
        binning=_Binning(n_bins, n_quantiles, g_range, smoothing),
        trains=trains,
        resume_from=resume_from,
    )
    g = np.full((plan.n_pulses + 1, len(plan.devices)), np.nan)
    resumed = _recorded_progress(resume_from, plan, g)
    start, read_noise, restarts = resumed if resumed is not None else _begin(backend, plan, g, recorder)
    cycles = _Cycles(
        backend=backend,
        plan=plan,
        g=g,
        restarts=restarts,
        resumed=resumed is not None,
        recorder=recorder,
        progress=progress,
    )
    (_run_trains if plan.trains else _run_pulses)(cycles, start)
    return _result(backend, plan, binning, g=g, read_noise=read_noise, restarts=restarts)


def check_settings(
    backend: CrossbarBackend, pulse: Pulse | PulsePair, devices: ArrayLike, **settings: Any
) -> JumpPlan:
    """The plan measure_jump_table(backend, pulse, devices, **settings) would run (its defaults
    apply); raises what it would raise for a setting out of range, before anything is read or
    written, so that a caller can refuse it before it creates a run."""
    bound = inspect.signature(measure_jump_table).bind(backend, pulse, devices, **settings)
    bound.apply_defaults()
    a = bound.arguments
    plan, _ = _checked_plan(
        backend,
        pulse,
        devices,
        n_cycles=a["n_cycles"],
        n_up=a["n_up"],
        n_down=a["n_down"],
        noise_reads=a["noise_reads"],
        binning=_Binning(a["n_bins"], a["n_quantiles"], a["g_range"], a["smoothing"]),
        trains=a["trains"],
        resume_from=a["resume_from"],
    )
    return plan


@dataclass(frozen=True)
class _Binning:
    """How the steps are binned into the table (JumpTable.from_samples)."""

    n_bins: int
    n_quantiles: int
    g_range: tuple[float, float] | None
    smoothing: float | None = SMOOTHING


def _checked_plan(
    backend: CrossbarBackend,
    pulse: Pulse | PulsePair,
    devices: ArrayLike,
    *,
    n_cycles: int,
    n_up: int,
    n_down: int | None,
    noise_reads: int,
    binning: _Binning,
    trains: bool | None,
    resume_from: Checkpoint | None,
) -> tuple[JumpPlan, _Binning]:
    """The plan and binning of measure_jump_table's arguments; raises before anything is read or
    written if one is out of range. trains None: as the stopped run, else as the backend runs best."""
    as_pulse_pair(pulse)  # TypeError naming both accepted types
    pairs = _pairs(devices, backend.shape)
    n_cycles = positive_int(n_cycles, "n_cycles")
    n_up = positive_int(n_up, "n_up")
    n_down = n_up if n_down is None else positive_int(n_down, "n_down")
    whole = isinstance(noise_reads, int | np.integer) and not isinstance(noise_reads, bool)
    if not whole or noise_reads < 0 or noise_reads == 1:  # one read has no spread
        raise ValueError(f"noise_reads must be 0 (skip) or a whole number >= 2, got {noise_reads!r}")
    # The table's own checks run after the measurement; bad settings must fail before it.
    binning = _checked_binning(binning)
    if trains is not None and not isinstance(trains, bool):
        raise TypeError(
            f"trains must be True, False or None (trains when the backend runs them), got {trains!r}"
        )
    # A train that raises is never sent again, so a pulse the backend refuses must fail here.
    backend.limits.check_pulse(pulse)
    if trains is None:
        stopped = JumpPlan.from_checkpoint(resume_from)
        trains = stopped.trains if stopped is not None else bool(backend.instrument_trains)
    plan = JumpPlan(
        devices=tuple((int(r), int(c)) for r, c in pairs),
        n_cycles=n_cycles,
        n_up=n_up,
        n_down=n_down,
        noise_reads=int(noise_reads),
        pulse=pulse,
        trains=trains,
    )
    return plan, binning


def _checked_binning(binning: _Binning) -> _Binning:
    n_bins = positive_int(binning.n_bins, "n_bins")
    n_quantiles = binning.n_quantiles
    if isinstance(n_quantiles, bool) or not isinstance(n_quantiles, int | np.integer) or n_quantiles < 2:
        raise ValueError(f"n_quantiles must be a whole number >= 2, got {n_quantiles!r}")
    if binning.g_range is not None:
        low, high = (float(v) for v in binning.g_range)
        if not (np.isfinite(low) and np.isfinite(high) and 0 <= low < high):
            raise ValueError(
                f"g_range must be (low, high) siemens with 0 <= low < high, got {binning.g_range!r}"
            )
    smoothing = binning.smoothing
    if smoothing is not None and not (isinstance(smoothing, float | int) and 0 < smoothing <= 10):
        raise ValueError(f"smoothing must be a fraction of the range in (0, 10] or None, got {smoothing!r}")
    return _Binning(n_bins, n_quantiles, binning.g_range, smoothing)


def _begin(
    backend: CrossbarBackend, plan: JumpPlan, g: FloatArray, recorder: Recorder | None
) -> tuple[int, FloatArray, dict[tuple[int, int], float]]:
    """Checkpoint the plan and read the untouched devices (noise_reads times, or once) into g[0].
    Returns (pulses done: 0, the read noise (n_devices,) siemens (NaN if not measured), no
    restarts), as _recorded_progress does for a stopped run."""
    if recorder is not None:
        recorder.checkpoint(plan.to_state(), scope=SCOPE)
    pairs = plan.pairs
    if plan.noise_reads >= 2:
        repeated = np.asarray([backend.read(pairs) for _ in range(plan.noise_reads)])
        read_noise = repeated.std(axis=0, ddof=1)
        g[0] = repeated[-1]
    else:
        read_noise = np.full(len(pairs), np.nan)
        g[0] = backend.read(pairs)
    if recorder is not None:
        JumpStart(g=g[0], read_noise=read_noise).write(recorder)
    return 0, read_noise, {}


def _result(
    backend: CrossbarBackend,
    plan: JumpPlan,
    binning: _Binning,
    *,
    g: FloatArray,
    read_noise: FloatArray,
    restarts: dict[tuple[int, int], float],
) -> JumpTableResult:
    """The result of the reads g; NoTableError if their steps make no table."""
    direction = plan.directions()
    at, reads = resume_rows(g, restarts)
    try:
        table = table_from_reads(
            g,
            direction,
            at,
            reads,
            n_bins=binning.n_bins,
            g_range=binning.g_range,
            n_quantiles=binning.n_quantiles,
            pulse=single_pulse(plan.pulse),  # a table keeps one pulse; a pair's are in the records
            smoothing=binning.smoothing,
        )
    except ValueError as exc:
        raise NoTableError(
            f"no jump table could be built from the measured steps ({exc}); did the devices move "
            "(stuck devices, a pulse below the write threshold, a g_range they never visited)? "
            "The reads are attached to this error as .g, .direction and .devices",
            g,
            direction,
            plan.pairs,
        ) from exc
    return JumpTableResult(
        table=table,
        devices=plan.pairs,
        g=g,
        direction=direction,
        cycle=plan.cycles(),
        read_noise=read_noise,
        pulse=plan.pulse,
        parameters={
            "n_cycles": plan.n_cycles,
            "n_up": plan.n_up,
            "n_down": plan.n_down,
            "n_bins": binning.n_bins,
            "n_quantiles": binning.n_quantiles,
            "g_range_S": binning.g_range,
            "smoothing": binning.smoothing,
            "noise_reads": plan.noise_reads,
            "trains": plan.trains,
            "backend": backend.describe(),
        },
        resumed_at=at,
        resume_reads=reads,
    )


@dataclass(frozen=True)
class _Cycles:
    """What running the cycles needs: the plan, the reads so far g (filled in as measured), the
    reads that start steps after a resume (filled in too), and where to report."""

    backend: CrossbarBackend
    plan: JumpPlan
    g: FloatArray
    restarts: dict[tuple[int, int], float]
    resumed: bool
    recorder: Recorder | None
    progress: ProgressCallback | None


def _run_pulses(run: _Cycles, start: int) -> None:
    """Pulses start.. of the plan, all chosen devices at once, a read of them all after each."""
    backend, pairs, g, recorder = run.backend, run.plan.pairs, run.g, run.recorder
    direction = run.plan.directions()
    if run.resumed and start < direction.size:
        fresh = backend.read(pairs)  # replaces a read of a resume that pulsed nothing
        run.restarts.update({(start, d): float(v) for d, v in enumerate(fresh)})
        if recorder is not None:
            JumpResume(step=start, g=fresh).write(recorder)
    up_counts = np.zeros(backend.shape, dtype=np.int64)
    up_counts[pairs[:, 0], pairs[:, 1]] = 1
    for k in range(start, direction.size):
        sign = int(direction[k])
        # A pulse and its read are recorded together: Ctrl-C waits for both (hil.interrupts).
        with critical():
            backend.apply_pulses(sign * up_counts, run.plan.pulse)
            g[k + 1] = backend.read(pairs)
            if recorder is not None:
                Jump(step=k + 1, direction=sign, g=g[k + 1]).write(recorder)
        if run.progress is not None:
            run.progress(k + 1, direction.size)


def _run_trains(run: _Cycles, start: int) -> None:
    """Trains start.. of the plan's schedule, one pulse_read_train call each."""
    schedule = run.plan.schedule()
    total = sum(t.count for t in schedule)
    done = sum(t.count for t in schedule[:start])
    read_again: set[int] = set()
    for t in schedule[start:]:
        if run.resumed and t.device not in read_again:
            # The device stood still (or a lost train left it anywhere): its next step starts here.
            _read_again(run, t)
            read_again.add(t.device)
        _train(run, t)
        done += t.count
        if run.progress is not None:
            run.progress(done, total)


def _read_again(run: _Cycles, t: Train) -> None:
    """Read device t.device before train t of a resumed run: that read starts its next step."""
    fresh = run.backend.read(run.plan.pairs[[t.device]])
    run.restarts[(t.first, t.device)] = float(fresh[0])
    if run.recorder is not None:
        JumpResume(step=t.first, g=fresh, device=t.device).write(run.recorder)


def _train(run: _Cycles, t: Train) -> None:
    """Run train t and record it, or record it lost if it raises (and re-raise)."""
    device = run.plan.devices[t.device]
    # A train and its record belong together: Ctrl-C waits for both (hil.interrupts).
    with critical():
        try:
            reads = run.backend.pulse_read_train(device, t.count, t.sign, run.plan.pulse)
        except BaseException as exc:
            # Some of its pulses may have reached the device: a resume must not send it again.
            if run.recorder is not None:
                lost = JumpTrainLost(
                    step=t.first + 1,
                    device=t.device,
                    direction=t.sign,
                    count=t.count,
                    error=f"{type(exc).__name__}: {exc}",
                )
                lost.write(run.recorder)
            raise
        run.g[t.first + 1 : t.first + 1 + t.count, t.device] = reads
        if run.recorder is not None:
            JumpTrain(step=t.first + 1, device=t.device, direction=t.sign, g=reads).write(run.recorder)


def table_from_reads(
    g: FloatArray,
    direction: IntArray,
    resumed_at: IntArray,
    resume_reads: FloatArray,
    *,
    n_bins: int,
    g_range: tuple[float, float] | None,
    n_quantiles: int,
    pulse: Pulse | None,
    smoothing: float | None = SMOOTHING,
) -> JumpTable:
    """The jump table of every step with its reads (JumpTable.from_samples; ValueError if none),
    deconvolved by the read noise of the steps (none if the trains are too short to show it).

    g, direction, resumed_at, resume_reads: as in JumpTableResult (siemens); steps without reads
    (NaN in g) are left out.
    """
    g_start, dg, signs = _samples(g, direction, resumed_at, resume_reads)
    return JumpTable.from_samples(
        g_start,
        dg,
        signs,
        n_bins=n_bins,
        g_range=g_range,
        n_quantiles=n_quantiles,
        pulse=pulse,
        smoothing=smoothing,
        read_noise=_step_read_noise(g, direction, resumed_at, resume_reads),
    )


def _step_read_noise(
    g: FloatArray, direction: IntArray, resumed_at: IntArray, resume_reads: FloatArray
) -> ReadNoise | None:
    """read_noise_from_steps of the reads g; a step after a resume starts at a fresh read, which
    breaks the chain of shared reads. None (the table keeps the read noise) with too few steps."""
    try:
        return read_noise_from_steps(_steps(g, resumed_at, resume_reads)[1], direction, breaks=resumed_at)
    except ValueError:
        return None


def _samples(
    g: FloatArray,
    direction: IntArray,
    resumed_at: IntArray,
    resume_reads: FloatArray,
    device: int | None = None,
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Flat (g_start, dg, direction) of every step with its reads, of one device or all."""
    g_start, dg = _steps(g, resumed_at, resume_reads)
    if device is not None:
        g_start, dg = g_start[:, [device]], dg[:, [device]]
    signs = np.broadcast_to(direction[:, None], dg.shape)
    ok = np.isfinite(g_start) & np.isfinite(dg)
    return g_start[ok], dg[ok], signs[ok].astype(np.int64)


def _steps(g: FloatArray, resumed_at: IntArray, resume_reads: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(g_start, dg) of every pulse: each step starts at the read before its pulse, which after a
    resume is the read the resumed run took."""
    g_start = g[:-1].copy()
    if resumed_at.size:
        inside = resumed_at < g_start.shape[0]
        g_start[resumed_at[inside]] = resume_reads[inside]
    return g_start, g[1:] - g_start


def _recorded_progress(
    checkpoint: Checkpoint | None, plan: JumpPlan, g: FloatArray
) -> tuple[int, FloatArray, dict[tuple[int, int], float]] | None:
    """What a stopped run measured: fills g with its reads and returns (pulses done, or trains
    done for a train run; read noise; reads that start steps after earlier resumes, by (pulse
    count, device index)); None if nothing was pulsed yet."""
    recorded = JumpPlan.from_checkpoint(checkpoint)
    if checkpoint is None or recorded is None:
        return None
    stored, wanted = recorded.to_dict(), plan.to_dict()
    if stored != wanted:
        differs = sorted(k for k in wanted if stored.get(k) != wanted[k])
        raise ValueError(
            f"run {checkpoint.run} measured a different jump table (differs in: {', '.join(differs)}); "
            f"resume it with the settings it was started with: {stored}"
        )
    if plan.trains:
        trains = recorded_trains(plan, checkpoint.points, f"run {checkpoint.run}")
        if trains is None:
            return None
        g[:] = trains.g
        return trains.trains_done, trains.read_noise, dict(trains.restarts)
    recorded_pulses = RecordedPulses.read(checkpoint.points)
    if recorded_pulses.start is None:
        return None  # stopped during the noise reads: nothing was pulsed yet
    done = len(recorded_pulses.jumps)
    if not recorded_pulses.in_order or done > g.shape[0] - 1:
        raise ValueError(
            f"run {checkpoint.run}: its jump points are not the pulses 1..{done} of this plan; "
            "the run cannot be resumed (start a new run)"
        )
    g[: done + 1] = recorded_pulses.reads()
    return done, recorded_pulses.start.read_noise, recorded_pulses.restarts()


def _pairs(devices: ArrayLike, shape: tuple[int, int]) -> IntArray:
    """Chosen devices as (n, 2) (row, col) pairs, row-major for a mask."""
    sel = np.asarray(devices)
    if sel.dtype == np.bool_:
        if sel.shape != shape:
            raise ValueError(f"device mask: expected shape {shape}, got {sel.shape}")
        pairs = np.argwhere(sel)
    elif sel.ndim == 2 and sel.shape[1] == 2 and np.issubdtype(sel.dtype, np.integer):
        pairs = sel.astype(np.int64)
        if np.any((pairs < 0) | (pairs >= np.asarray(shape))):
            raise IndexError(f"device index outside the {shape[0]} x {shape[1]} array")
        if len(np.unique(pairs, axis=0)) != len(pairs):
            raise ValueError("devices lists a (row, col) pair more than once; list each device once")
    else:
        raise ValueError(
            "devices must be a boolean mask of the array's shape or a sequence of integer (row, col) "
            f"pairs; got an array of shape {sel.shape} and dtype {sel.dtype}"
        )
    if len(pairs) == 0:
        raise ValueError("devices selects no device; choose at least one")
    return pairs.astype(np.int64)
