"""Jump table of a set of devices: the distribution of ΔG per pulse against the starting G.

Protocol (IBM Almaden, Burr 2015 / Sidler 2016; CrossSim's recipe): repeat `n_cycles` times
{`n_up` up pulses, then `n_down` down pulses}, on the chosen devices only, reading them after
every pulse. Each step ΔG = G_after − G_before belongs to the conductance it started from,
G_before (convention "start"). The steps of all chosen devices and cycles are pooled and
binned over the conductance range they cover; per bin and direction the table keeps the
sorted changes as quantiles (the CDF), the median, the spread and the sample count.

What the table contains besides the device: each ΔG is a difference of two reads, so read
noise σ_r adds σ_r·√2 to the spread and the binning G is itself read with noise σ_r. The
protocol measures σ_r first (repeated reads without pulses) and reports it so the two can
be compared: a spread not well above σ_r·√2 says the table is mostly read noise.

Resuming (docs/run-store.md): every "jump" point records one applied pulse and the read after
it, so a stopped run continues after its last recorded pulse, and no recorded pulse is applied
again. The resumed run reads the devices once more before its first pulse and that read, not
the last one before the stop, starts the next step: whatever the devices did while the run
stood still (relaxation) belongs to no pulse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from hil.backend import CrossbarBackend, FloatArray, IntArray
from hil.interrupts import critical
from hil.jumptable import JumpTable
from hil.progress import ProgressCallback
from hil.pulses import Pulse
from hil.recording import Checkpoint, Recorder
from hil.results import to_jsonable
from protocols.checks import positive_int

SCOPE = "jump_table"  # checkpoint scope of this protocol
CONVENTION = "start"
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
    g: (n_pulses + 1, n_devices) siemens, g[0] read before the first pulse, g[k] after pulse k.
    direction: (n_pulses,) +1 for an up pulse, −1 for a down pulse.
    cycle: (n_pulses,) cycle index of each pulse.
    read_noise: (n_devices,) siemens, std of `noise_reads` repeated reads before any pulse
        (NaN if noise_reads < 2).
    convention: "start": ΔG belongs to the conductance before the pulse.
    resumed_at: (n_resumes,) pulse counts at which the run was resumed; resume_reads
        (n_resumes, n_devices) siemens, the read taken then, which starts the next step in place
        of g[resumed_at].
    """

    table: JumpTable
    devices: IntArray
    g: FloatArray
    direction: IntArray
    cycle: IntArray
    read_noise: FloatArray
    pulse: Pulse
    convention: str = CONVENTION
    parameters: dict[str, Any] = field(default_factory=dict)
    resumed_at: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    resume_reads: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))

    def samples(self, device: int | None = None) -> tuple[FloatArray, FloatArray, IntArray]:
        """(g_start, dg, direction) of every step, flat; of one device (index into devices) or all."""
        g_start, dg = _steps(self.g, self.resumed_at, self.resume_reads)
        if device is not None:
            g_start, dg = g_start[:, [device]], dg[:, [device]]
        direction = np.broadcast_to(self.direction[:, None], dg.shape)
        return g_start.ravel(), dg.ravel(), direction.ravel().astype(np.int64)

    def device_table(self, device: int, **kwargs: Any) -> JumpTable:
        """The table of one device alone (kwargs as JumpTable.from_samples: n_bins, g_range, ...)."""
        if not 0 <= device < self.devices.shape[0]:
            raise IndexError(f"device index {device} outside 0..{self.devices.shape[0] - 1}")
        kwargs.setdefault("pulse", self.pulse)
        return JumpTable.from_samples(*self.samples(device), **kwargs)

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
                "pulse": {"amplitude_V": self.pulse.amplitude, "width_s": self.pulse.width},
                "parameters": self.parameters,
                "convention": self.convention,
                "convention_text": CONVENTION_TEXT,
                "devices": self.devices,
                "n_pulses_per_device": int(self.direction.size),
                "resumed_at_pulse": self.resumed_at,
                "g_observed_S": [float(np.min(self.g)), float(np.max(self.g))],
                "read_noise_S": {
                    "per_device": self.read_noise,
                    "median": float(np.median(self.read_noise)),
                },
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
            traces, g=self.g, direction=self.direction, cycle=self.cycle, devices=self.devices,
            read_noise=self.read_noise, convention=np.array(self.convention),
        )  # fmt: skip
        return [table_path, traces]


def measure_jump_table(
    backend: CrossbarBackend,
    pulse: Pulse,
    devices: ArrayLike,
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
) -> JumpTableResult:
    """Measure up/down pulse trains with a read after every pulse and build a jump table.

    backend: the array; only the chosen devices are pulsed and read.
    pulse: the write pulse (volts, seconds), the same for up and down trains.
    devices: boolean (rows, cols) mask or a sequence of (row, col) pairs (no repeats).
    n_cycles: number of {up train, down train} cycles.
    n_up, n_down: pulses per up train and per down train (n_down None: same as n_up). Make the
        trains long enough to sweep the range; an asymmetric device may need a longer one way.
    n_bins, n_quantiles, g_range: passed to JumpTable.from_samples; g_range (siemens) None bins
        the whole range of starting conductances visited by the chosen devices.
    noise_reads: reads of the untouched devices before pulsing, to estimate read noise (0: skip,
        else at least 2).
    progress: progress(pulses_done, total_pulses), called after every pulse.
    recorder: optional hil.recording.Recorder (e.g. a hil.store.Run); records the plan as a
        checkpoint (scope "jump_table"), a "jump_start" point (g, read_noise) before the first
        pulse and a "jump" point with the direction and the reads after every pulse, then
        "jump_resume" (g) where a resumed run reads the devices again.
    resume_from: the Checkpoint of a stopped run of this measurement (hil.store.RunStore.
        load_checkpoint); the call must repeat its devices, pulse and train settings. Pulses
        already recorded are not applied again and their reads are kept; pass the resumed run
        (RunStore.resume_run) as recorder so that new points append to it. A checkpoint without
        a jump-table plan starts the measurement from the beginning.
    """
    if not isinstance(pulse, Pulse):
        raise TypeError(f"pulse must be a hil.Pulse(amplitude=volts, width=seconds), got {pulse!r}")
    pairs = _pairs(devices, backend.shape)
    n_cycles = positive_int(n_cycles, "n_cycles")
    n_up = positive_int(n_up, "n_up")
    n_down = n_up if n_down is None else positive_int(n_down, "n_down")
    whole = isinstance(noise_reads, int | np.integer) and not isinstance(noise_reads, bool)
    if not whole or noise_reads < 0 or noise_reads == 1:  # one read has no spread
        raise ValueError(f"noise_reads must be 0 (skip) or a whole number >= 2, got {noise_reads!r}")
    # The table's own checks run after the measurement; bad settings must fail before it.
    n_bins = positive_int(n_bins, "n_bins")
    if isinstance(n_quantiles, bool) or not isinstance(n_quantiles, int | np.integer) or n_quantiles < 2:
        raise ValueError(f"n_quantiles must be a whole number >= 2, got {n_quantiles!r}")
    if g_range is not None:
        low, high = (float(v) for v in g_range)
        if not (np.isfinite(low) and np.isfinite(high) and 0 <= low < high):
            raise ValueError(f"g_range must be (low, high) siemens with 0 <= low < high, got {g_range!r}")

    rows, cols = pairs[:, 0], pairs[:, 1]
    up_counts = np.zeros(backend.shape, dtype=np.int64)
    up_counts[rows, cols] = 1
    one_cycle = np.concatenate([np.ones(n_up, dtype=np.int64), -np.ones(n_down, dtype=np.int64)])
    direction = np.tile(one_cycle, n_cycles)
    cycle = np.repeat(np.arange(n_cycles, dtype=np.int64), n_up + n_down)
    plan = {
        "devices": pairs.tolist(),
        "n_cycles": n_cycles,
        "n_up": n_up,
        "n_down": n_down,
        "noise_reads": int(noise_reads),
        "pulse": {"amplitude_V": pulse.amplitude, "width_s": pulse.width},
    }

    g = np.empty((direction.size + 1, len(pairs)))
    resumed = _recorded_progress(resume_from, plan, g)
    resumed_at: list[int] = []
    resume_reads: list[FloatArray] = []
    if resumed is None:
        if recorder is not None:
            recorder.checkpoint({"protocol": "jump_table", "plan": plan}, scope=SCOPE)
        if noise_reads >= 2:
            repeated = np.asarray([backend.read(pairs) for _ in range(noise_reads)])
            read_noise = repeated.std(axis=0, ddof=1)
            g[0] = repeated[-1]
        else:
            read_noise = np.full(len(pairs), np.nan)
            g[0] = backend.read(pairs)
        if recorder is not None:
            recorder.record("jump_start", 0, g=g[0], read_noise=read_noise)
        start = 0
    else:
        start, read_noise, restarts = resumed
        if start < direction.size:
            restarts[start] = backend.read(pairs)  # replaces a read of a resume that pulsed nothing
            if recorder is not None:
                recorder.record("jump_resume", start, g=restarts[start])
        for k, read in sorted(restarts.items()):
            resumed_at.append(k)
            resume_reads.append(read)
    for k in range(start, direction.size):
        sign = direction[k]
        # A pulse and its read are recorded together: Ctrl-C waits for both (hil.interrupts).
        with critical():
            backend.apply_pulses(sign * up_counts, pulse)
            g[k + 1] = backend.read(pairs)
            if recorder is not None:
                recorder.record("jump", k + 1, direction=int(sign), g=g[k + 1])
        if progress is not None:
            progress(k + 1, direction.size)

    at = np.asarray(resumed_at, dtype=np.int64)
    reads = np.asarray(resume_reads).reshape(len(resumed_at), len(pairs))
    g_start, dg = _steps(g, at, reads)
    try:
        table = JumpTable.from_samples(
            g_start.ravel(),
            dg.ravel(),
            np.broadcast_to(direction[:, None], dg.shape).ravel(),
            n_bins=n_bins,
            g_range=g_range,
            n_quantiles=n_quantiles,
            pulse=pulse,
        )
    except ValueError as exc:
        raise NoTableError(
            f"no jump table could be built from the measured steps ({exc}); did the devices move "
            "(stuck devices, a pulse below the write threshold, a g_range they never visited)? "
            "The reads are attached to this error as .g, .direction and .devices",
            g,
            direction,
            pairs,
        ) from exc
    return JumpTableResult(
        table=table,
        devices=pairs,
        g=g,
        direction=direction,
        cycle=cycle,
        read_noise=read_noise,
        pulse=pulse,
        parameters={
            "n_cycles": n_cycles,
            "n_up": n_up,
            "n_down": n_down,
            "n_bins": n_bins,
            "n_quantiles": n_quantiles,
            "g_range_S": g_range,
            "noise_reads": noise_reads,
            "backend": backend.describe(),
        },
        resumed_at=at,
        resume_reads=reads,
    )


def _steps(g: FloatArray, resumed_at: IntArray, resume_reads: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(g_start, dg) of every pulse: each step starts at the read before its pulse, which after a
    resume is the read the resumed run took."""
    g_start = g[:-1].copy()
    if resumed_at.size:
        inside = resumed_at < g_start.shape[0]
        g_start[resumed_at[inside]] = resume_reads[inside]
    return g_start, g[1:] - g_start


def _recorded_progress(
    checkpoint: Checkpoint | None, plan: dict[str, Any], g: FloatArray
) -> tuple[int, FloatArray, dict[int, FloatArray]] | None:
    """What a stopped run measured: fills g[: done + 1] and returns (pulses done, read noise,
    reads taken at earlier resumes by pulse count); None if nothing was pulsed yet."""
    if checkpoint is None:
        return None
    state = checkpoint.state(SCOPE)
    if state is None:
        return None
    recorded = state.get("plan") or {}
    wanted = to_jsonable(plan)
    if recorded != wanted:
        differs = sorted(k for k in wanted if recorded.get(k) != wanted[k])
        raise ValueError(
            f"run {checkpoint.run} measured a different jump table (differs in: {', '.join(differs)}); "
            f"resume it with the settings it was started with: {recorded}"
        )
    starts = checkpoint.of_kind("jump_start")
    if not starts:
        return None  # stopped during the noise reads: nothing was pulsed yet
    steps = [p.step for p in checkpoint.of_kind("jump")]
    done = len(steps)
    if steps != list(range(1, done + 1)) or done > g.shape[0] - 1:
        raise ValueError(
            f"run {checkpoint.run}: its jump points are not the pulses 1..{done} of this plan; "
            "the run cannot be resumed (start a new run)"
        )
    g[0] = starts[-1].arrays["g"]
    for p in checkpoint.of_kind("jump"):
        g[p.step] = p.arrays["g"]
    restarts = {int(p.step): p.arrays["g"] for p in checkpoint.of_kind("jump_resume")}
    return done, starts[-1].arrays["read_noise"], restarts


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
