"""What a jump-table run measured, as traces a fit or a replay reads: PulseTraces.

A trace is the reads G_0, G_1, ... of a device, G_{k+1} read after pulse k of polarity
d_k = +1 (up) or -1 (down) (protocols.jumptable). traces_from_run rebuilds them from a stored
run through the jump table's record schema (protocols.records.jumptable), whether it was
measured pulse by pulse or in trains; protocols.fitting fits them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from hil.backend import FloatArray, IntArray
from hil.pulses import Pulse, pulse_from_state, single_pulse
from hil.recording import Point
from hil.store import RunInfo, RunStore
from protocols.records.jumptable import JumpPlan, RecordedPulses, recorded_trains

MIN_PULSES_PER_DIRECTION = 20  # below this a 6-parameter fit per device is not worth reporting


@dataclass(frozen=True, eq=False)
class PulseTraces:
    """Reads after every pulse of devices driven by one pulse sequence (siemens, all devices alike).

    g: (n_pulses + 1, n_devices) reads in siemens; g[k + 1] read after pulse k, g[0] before pulse 0.
    direction: (n_pulses,) +1 for an up pulse, -1 for a down pulse.
    devices: (n_devices, 2) (row, col) of each trace, or None if unknown.
    read_noise: (n_devices,) siemens, std of repeated reads without pulses (NaN: not measured).
    pulse: the write pulse, if known (the fitted step sizes hold at this pulse).
    resumed_at: (m,) pulse indices k whose step starts from a fresh read (a resumed measurement)
        instead of g[k]; resume_reads: (m, n_devices) those reads, siemens. What happened between
        g[k] and that read (e.g. relaxation while the run stood still) belongs to no pulse.
    """

    g: FloatArray
    direction: IntArray
    devices: IntArray | None = None
    read_noise: FloatArray | None = None
    pulse: Pulse | None = None
    resumed_at: IntArray | None = None
    resume_reads: FloatArray | None = None

    def __post_init__(self) -> None:
        g = np.asarray(self.g, dtype=np.float64)
        if g.ndim == 1:
            g = g[:, None]
        if g.ndim != 2:
            raise ValueError(
                f"traces: g must be (n_pulses + 1, n_devices) reads in siemens, got shape {g.shape}"
            )
        d = np.asarray(self.direction)
        if d.ndim != 1 or d.size != g.shape[0] - 1:
            raise ValueError(
                f"traces: direction must be (n_pulses,) = ({g.shape[0] - 1},), one per pulse between "
                f"the {g.shape[0]} reads, got shape {d.shape}"
            )
        if not np.all(np.isin(d, (-1, 1))):
            raise ValueError("traces: direction must hold only +1 (up pulse) and -1 (down pulse)")
        if not np.all(np.isfinite(g)):
            bad = np.argwhere(~np.isfinite(g))[0]
            raise ValueError(
                f"traces: g contains NaN or inf (first at read {bad[0]}, device {bad[1]}); "
                "drop or re-measure the broken trace before fitting"
            )
        n_up, n_down = int(np.sum(d == 1)), int(np.sum(d == -1))
        if min(n_up, n_down) < MIN_PULSES_PER_DIRECTION:
            raise ValueError(
                f"traces too short: {n_up} up and {n_down} down pulses; fitting needs at least "
                f"{MIN_PULSES_PER_DIRECTION} of each (measure longer trains or more cycles)"
            )
        devices = None
        if self.devices is not None:
            devices = np.asarray(self.devices, dtype=np.int64)
            if devices.shape != (g.shape[1], 2):
                raise ValueError(
                    f"traces: devices must be ({g.shape[1]}, 2) (row, col) pairs, got shape {devices.shape}"
                )
        noise = np.full(g.shape[1], np.nan)
        if self.read_noise is not None:
            noise = np.asarray(self.read_noise, dtype=np.float64)
            if noise.shape != (g.shape[1],):
                raise ValueError(
                    f"traces: read_noise must be ({g.shape[1]},) siemens per device, got shape {noise.shape}"
                )
        if self.pulse is not None and not isinstance(self.pulse, Pulse):
            raise TypeError(f"traces: pulse must be a hil.Pulse or None, got {self.pulse!r}")
        at = np.zeros(0, dtype=np.int64) if self.resumed_at is None else np.asarray(self.resumed_at)
        reads = np.zeros((0, g.shape[1])) if self.resume_reads is None else np.asarray(self.resume_reads)
        if at.ndim != 1 or reads.shape != (at.size, g.shape[1]):
            raise ValueError(
                f"traces: resumed_at must be (m,) pulse indices and resume_reads (m, {g.shape[1]}) siemens; "
                f"got shapes {at.shape} and {reads.shape}"
            )
        integer = at.size == 0 or np.issubdtype(at.dtype, np.integer)
        if not integer or np.any((at < 0) | (at >= d.size)) or np.any(np.diff(at) <= 0):
            raise ValueError(
                f"traces: resumed_at must be increasing whole pulse indices in [0, {d.size}), got {at}"
            )
        if not np.all(np.isfinite(reads)):
            raise ValueError("traces: resume_reads contains NaN or inf")
        object.__setattr__(self, "resumed_at", at.astype(np.int64))
        object.__setattr__(self, "resume_reads", reads.astype(np.float64))
        object.__setattr__(self, "g", g)
        object.__setattr__(self, "direction", d.astype(np.int64))
        object.__setattr__(self, "devices", devices)
        object.__setattr__(self, "read_noise", noise)

    @property
    def n_devices(self) -> int:
        return int(self.g.shape[1])

    def steps(self) -> tuple[FloatArray, FloatArray, np.ndarray]:
        """(g_start, dg, linked): (n_pulses, n_devices) siemens read before each pulse and its change;
        linked[k] is True where step k starts at the read that ended step k - 1 (they share it)."""
        g_start = self.g[:-1].copy()
        g_start[self.resumed_at] = self.resume_reads
        linked = np.ones(self.direction.size, dtype=bool)
        linked[0] = False
        linked[self.resumed_at] = False
        return g_start, self.g[1:] - g_start, linked

    @classmethod
    def from_jump_table(cls, result: Any) -> PulseTraces:
        """The traces of a protocols.jumptable.JumpTableResult (reads, directions, devices, σ_r,
        pulse, resumes)."""
        return cls(
            result.g,
            result.direction,
            result.devices,
            result.read_noise,
            single_pulse(result.pulse),  # a fit models one pulse: none for a pair of two
            result.resumed_at,
            result.resume_reads,
        )


def traces_from_run(store: RunStore, run: str | int) -> PulseTraces:
    """Rebuild PulseTraces from a jump-table run in a hil.store.RunStore.

    measure_jump_table records a "jump_start" point (g: the read before the first pulse,
    read_noise: σ_r per device from repeated reads), a "jump" point per pulse (step k >= 1,
    direction, g = reads after pulse k) and a "jump_resume" point (step k, g) where a resumed
    run read the devices again before pulse k + 1. Without a jump_start point (runs recorded
    before it existed) the traces start at the read after pulse 1 and σ_r comes from the
    summary of a completed run, if any. Devices and pulse come from the run's params
    ("devices", "pulse", as `hil run jump-table` stores them) when present. An aborted run's
    points are fitted as far as they go.

    A train run (plan "trains": true; "jump_train" points, see protocols.jumptable) is read
    back with protocols.records.jumptable.recorded_trains. Its devices ran one after another, so a
    stopped run is fitted over the pulses every device went through. A device that lost a
    train to an error (an unknown number of pulses, no reads) has a gap no step model can
    bridge: it is left out, with a warning naming it.
    """
    info = store.run(run)
    points = list(store.points(run))
    plan = JumpPlan.from_store(store, info.id)
    if plan is not None and plan.trains:
        return _traces_from_trains(info, plan, points)
    recorded = RecordedPulses.read(points)
    if not recorded.jumps:
        raise ValueError(
            f"run {info.uid} ({info.protocol}) has no 'jump' points: fitting needs a jump-table run "
            "(`hil run jump-table`) recorded in a run store"
        )
    if not recorded.in_order:
        raise ValueError(
            f"run {info.uid}: its jump points are not the pulses 1..{len(recorded.jumps)} in order; "
            "the trace has gaps"
        )
    g, direction = recorded.reads(), recorded.directions()
    noise = None
    if recorded.start is not None:
        noise = np.atleast_1d(recorded.start.read_noise).astype(np.float64)
    else:  # no read before pulse 1: the first pulse has no step
        direction = direction[1:]
        per_device = ((info.summary or {}).get("read_noise_S") or {}).get("per_device")
        if per_device is not None:
            noise = np.array([np.nan if v is None else v for v in per_device], dtype=np.float64)
    # Pulse index k of a step in these traces is pulse k + offset of the run.
    offset = 0 if recorded.start is not None else 1
    resumes = {
        int(r.step) - offset: np.atleast_1d(r.g)
        for r in recorded.resumes
        if 0 <= int(r.step) - offset < len(direction)
    }
    devices = info.params.get("devices")
    devices = None if devices is None else np.asarray(devices, dtype=np.int64).reshape(-1, 2)
    if devices is not None and devices.shape[0] != g.shape[1]:
        raise ValueError(
            f"run {info.uid}: params list {devices.shape[0]} devices but the points hold {g.shape[1]} reads"
        )
    pulse = info.params.get("pulse")
    pulse = single_pulse(pulse_from_state(pulse)) if isinstance(pulse, dict) else None
    if noise is not None and noise.shape != (g.shape[1],):
        noise = None  # a summary of another selection: σ_r is then estimated from the traces alone
    return PulseTraces(
        g=g,
        direction=direction,
        devices=devices,
        read_noise=noise,
        pulse=pulse,
        resumed_at=np.array(sorted(resumes), dtype=np.int64),
        resume_reads=np.array([resumes[k] for k in sorted(resumes)]).reshape(len(resumes), g.shape[1]),
    )


def _traces_from_trains(info: RunInfo, plan: JumpPlan, points: list[Point]) -> PulseTraces:
    """PulseTraces of a train run: devices that lost a train left out, the pulses all others reached."""
    recorded = recorded_trains(plan, points, f"run {info.uid}")
    if recorded is None or recorded.trains_done == 0:
        raise ValueError(f"run {info.uid} ({info.protocol}) recorded no pulse-read train yet: nothing to fit")
    devices = plan.pairs
    gaps = sorted({device for device, _, _ in recorded.lost})
    keep = np.array([d for d in range(devices.shape[0]) if d not in gaps], dtype=np.int64)
    if gaps:
        named = ", ".join(f"({r}, {c})" for r, c in devices[gaps].tolist())
        if keep.size == 0:
            raise ValueError(f"run {info.uid}: every device ({named}) lost a train to an error; none to fit")
        warnings.warn(
            f"run {info.uid}: device(s) {named} lost a train to an error (an unknown number of its "
            f"pulses applied, no reads); left out of the fit, which uses the other {keep.size}",
            stacklevel=3,
        )
    n_pulses = int(recorded.reached[keep].min())
    at, reads = recorded.resume_rows()
    inside = at < n_pulses
    stored = info.params.get("pulse")
    pulse = single_pulse(pulse_from_state(stored) if isinstance(stored, dict) else plan.pulse)
    return PulseTraces(
        g=recorded.g[: n_pulses + 1][:, keep],
        direction=recorded.direction[:n_pulses],
        devices=devices[keep],
        read_noise=recorded.read_noise[keep],
        pulse=pulse,
        resumed_at=at[inside],
        resume_reads=reads[inside][:, keep],
    )
