"""Symmetry point of every device of an array, by strictly alternating up/down pulses.

Physics (soft bounds, ΔG⁺ = a⁺(G_max − G), ΔG⁻ = a⁻(G − G_min)): one up+down pair moves a
device on average by −(a⁺ + a⁻)(G − G_sym), so equal numbers of up and down pulses pull every
device to its own symmetry point G_sym = (a⁺G_max + a⁻G_min)/(a⁺ + a⁻), where an up step equals
a down step (zero-shifting, Kim et al. arXiv:1907.10228). Strict alternation matters: a random
order leaves a common random-walk offset of several steps.

Protocol: read; then repeat {+1 pulse on every device, read, −1 pulse on every device, read},
run as trains of pairs (CrossbarBackend.alternating_pairs: a bench may sequence a train in its
instruments), the reads taken on every read_every-th pair.
A read after an up pulse sits about half a step above the point, a read after a down pulse
about half a step below, so each pair contributes the midpoint of its two reads. The estimate
is the mean of the midpoints over the last window of `window` pairs.

Exact offset of the midpoint: in the noiseless limit the device settles on two states G_d < G_u
with up(G_d) = down(G_u) = δ, and their midpoint is G_sym + δ(a⁺ − a⁻)/(2(a⁺ + a⁻)): a bias
below half a step in magnitude (it vanishes for equal a⁺ = a⁻). Only the sum a⁺ + a⁻ shows
in alternating data, so this bias cannot be removed here; it is stated, not hidden.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hil.backend import MAX_TRAIN, CrossbarBackend, FloatArray
from hil.progress import ProgressCallback
from hil.pulses import Pulse, PulsePair, as_pulse_pair, pulse_state
from hil.recording import Checkpoint, Recorder
from hil.results import to_jsonable
from protocols.checks import positive_int
from protocols.records.symmetry import SCOPE, Pair, Start, SymmetryPlan, Window

BoolArray = NDArray[np.bool_]

# A device counts as responsive when its mean step exceeds this many standard errors of that
# mean: a stuck device's step estimate is zero plus read noise, and 4 standard errors leave a
# false "responsive" rate of 3e-5 per device.
RESPONSIVE_Z = 4.0
# Default drift test (tolerance=None): the change of the windowed mean must lie within 3
# standard errors of that change (no drift detectable) or within one step.
DRIFT_Z = 3.0
# Pairs per alternating_pairs call at most on a backend that sequences them in its instruments
# (a train is at least one read interval): long enough that a train's set-up and fetch are a
# small share of its pairs, short enough that a stop loses little (a lost train is pulsed again).
TRAIN_PAIRS = 100
# Automatic sampling (find_symmetry_point with window and read_every None): the first read
# interval (pairs), the reads per window, and the relaxation time in read intervals below which
# the interval doubles. A read every quarter relaxation time costs under 1 % of the standard
# error and a window of 32 reads then spans 8 relaxation times (at least 4 with the doubling's
# factor 2), enough for the drift test; 32 down steps also make a device's step stand out
# against read noise of half a step (about 7 standard errors) where 16 would not reliably
# (docs/protocols/symmetry-point.md, "Automatic sampling").
READ_START = 4
WINDOW_READS = 32
TAU_READS = 4
# Default precision with automatic sampling: standard error per device, fraction of the range.
PRECISION = 0.0025
MAX_PAIRS = 100_000  # default budget, pairs


@dataclass(frozen=True)
class SymmetryPointResult:
    """Outcome of find_symmetry_point. Arrays are (rows, cols) unless stated; siemens.

    g_sym: estimated symmetry point, mean of the post-up/post-down midpoints over the last window.
    g_sym_std: standard error of g_sym, corrected for the correlation of successive pairs.
    step: mean step of one pulse near the point: the signed change between adjacent post-down
        and post-up reads, up and down alike, averaged over the window. Its expectation is the
        step δ of the up/down oscillation, δ = s/(1 − q t/(q + t)) for a step s at the point
        whose up and down steps change by q and t per unit of the normalised state (soft bounds:
        q t/(q + t) = s/range, 0.1 % for the protonic presets); noise adds no bias
        (docs/protocols/symmetry-point.md, "Step").
    step_std: standard error of step (read noise of shared reads included); None where the
        result was rebuilt from records that do not hold it.
    pairs_used: up+down pairs every device received.
    converged: the device passed the drift test (sticky once passed) and is responsive.
    responsive: the step is significantly above zero (False for stuck or saturated devices).
    relaxation_pairs: 1/(a⁺ + a⁻), the pairs it takes to close 63 % of a distance to the point
        (fitted per device; inf where no restoring force showed). A window shorter than this
        cannot converge: windowed means of a device still on its way would barely differ.
    history: "g_start" (rows, cols), "g_up" and "g_down" (reads, rows, cols) reads after the
        up and the down pulse of each pair read ("read_pairs" (reads,) their pair numbers:
        every pair, or every read_every-th); "window_end" (windows,) pair count at each window's end,
        "window_mean", "window_sem", "window_step", "window_relaxation" (windows, rows, cols).
    """

    g_sym: FloatArray
    g_sym_std: FloatArray
    step: FloatArray
    pairs_used: int
    converged: BoolArray
    responsive: BoolArray
    relaxation_pairs: FloatArray
    history: dict[str, np.ndarray]
    pulse: Pulse | PulsePair
    max_pairs: int
    window: int
    tolerance: float | None
    parameters: dict[str, Any] = field(default_factory=dict)
    step_std: FloatArray | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready key numbers and per-device results (nested lists, siemens)."""
        ok = self.responsive
        g = self.g_sym[ok]
        return to_jsonable(
            {
                "protocol": "symmetry_point",
                "pulse": pulse_state(self.pulse),
                "parameters": {
                    "max_pairs": self.max_pairs,
                    "window_pairs": self.window,
                    "tolerance_S": self.tolerance,
                    "tolerance_rule": (
                        "change of windowed mean <= tolerance"
                        if self.tolerance is not None
                        else f"change of windowed mean <= max(step, {DRIFT_Z:g} standard errors)"
                    )
                    + ", window >= relaxation_pairs",
                    **self.parameters,
                },
                "shape": list(self.g_sym.shape),
                "pairs_used": self.pairs_used,
                "pulses_per_device": 2 * self.pairs_used,
                "n_devices": int(self.g_sym.size),
                "n_converged": int(np.sum(self.converged)),
                "n_unresponsive": int(np.sum(~ok)),
                "all_converged": bool(np.all(self.converged)),
                "g_sym_S": _stats(g),
                "g_sym_std_S": _stats(self.g_sym_std[ok]),
                "step_S": _stats(self.step[ok]),
                "relaxation_pairs": _stats(self.relaxation_pairs[ok & np.isfinite(self.relaxation_pairs)]),
                "per_device": {
                    "g_sym_S": self.g_sym,
                    "g_sym_std_S": self.g_sym_std,
                    "step_S": self.step,
                    "converged": self.converged,
                    "responsive": self.responsive,
                    "relaxation_pairs": self.relaxation_pairs,
                    **({} if self.step_std is None else {"step_std_S": self.step_std}),
                },
            }
        )

    def save(self, path: str | Path) -> Path:
        """Write every array (estimates and the full read history) to one .npz file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path,
            g_sym=self.g_sym,
            g_sym_std=self.g_sym_std,
            step=self.step,
            converged=self.converged,
            responsive=self.responsive,
            relaxation_pairs=self.relaxation_pairs,
            pairs_used=self.pairs_used,
            **{f"history_{k}": v for k, v in self.history.items()},
        )
        return path


def find_symmetry_point(
    backend: CrossbarBackend,
    pulse: Pulse | PulsePair,
    max_pairs: int = MAX_PAIRS,
    tolerance: float | None = None,
    window: int | None = None,
    *,
    read_every: int | None = None,
    precision: float | None = None,
    progress: ProgressCallback | None = None,
    recorder: Recorder | None = None,
    resume_from: Checkpoint | None = None,
) -> SymmetryPointResult:
    """Drive every device to its symmetry point with alternating pulses and estimate it.

    backend: the array; every device is pulsed, all in parallel, in trains of pairs (one
        alternating_pairs call per train: per read interval, or up to TRAIN_PAIRS pairs and
        whole read intervals where the backend sequences trains in its instruments).
    pulse: the write pulse (volts, seconds), the same for up and down, or a PulsePair (up, down).
    max_pairs: budget of up+down pairs per device; the run stops at the last window end within it.
    tolerance: siemens. A device converges once its windowed mean changes by at most this
        between two successive windows. None: at most max(one step, 3 standard errors of the
        change), i.e. no drift is detectable or it is below one step.
    window, read_every: pairs per averaging window, and read the array after the up and the down
        pulse of every read_every-th pair only. Both None (default): automatic sampling: reads
        every READ_START pairs, windows of WINDOW_READS reads, both doubled at a window end while
        the fitted relaxation time (median over responsive devices) exceeds TAU_READS read
        intervals. read_every alone: window = WINDOW_READS * read_every; window alone: every pair
        is read. read_every must divide window and leave two reads in it. Reading every quarter
        to whole relaxation time costs 1-4 % of the standard error (docs/protocols/
        symmetry-point.md); with read_every > 1 the step comes from the read pairs' down steps.
    precision: siemens. Once every responsive device has converged, keep averaging (over every
        pair since the window before convergence) until every standard error is at most this.
        None: PRECISION of the conductance range with automatic sampling, else stop at convergence.
    progress: progress(pairs_done, total), called after every train (see backend); total is the
        budget (with a fixed window, max_pairs rounded down to whole windows).
    recorder: optional hil.recording.Recorder (e.g. a hil.store.Run); records the plan as a
        checkpoint and the read before the first pulse, then a "pair" point with the two reads
        after every pair read and a "window" point after every window (protocols.records.symmetry).
    resume_from: the Checkpoint of a stopped run of this search (hil.store.RunStore.
        load_checkpoint), with the same settings; its pairs are replayed through the estimator
        and the sampling decisions without pulsing, and the search goes on from the next pair.
        Pass the resumed run as recorder. A train's reads are recorded when it returns: after a
        train cut short the resume pulses again from the pair after the last recorded one.

    Convergence is tested at the end of each window, from the second window of one read interval
    on: a responsive device converges when the drift test passes and the window spans at least
    its relaxation time (then the drift between windows is at least 63 % of any remaining
    distance, so a small drift means a small distance). Once converged a device stays
    converged. The run ends when every responsive device has converged (and, with a precision,
    reached it), or at the budget.
    """
    plan = check_settings(
        backend,
        pulse,
        max_pairs=max_pairs,
        tolerance=tolerance,
        window=window,
        read_every=read_every,
        precision=precision,
    )
    started = time.monotonic()
    search = _Search(backend, plan, recorder=recorder)
    done = search.restore(resume_from) if resume_from is not None else search.begin()
    total = plan.max_pairs if plan.window is None else (plan.max_pairs // plan.window) * plan.window
    while not done and search.next_end <= plan.max_pairs:
        done = search.train(search.train_end(instrument=backend.instrument_pairs))
        if progress is not None:
            progress(search.pairs, total)
    parameters = {
        "read_every_pairs": search.k,
        "sampling": "automatic" if plan.window is None else "fixed",
        "precision_S": plan.precision,
        "averaged_pairs": search.averaged_pairs(),
        "trains": search.trains,
        "wall_time_s": time.monotonic() - started,
        "instrument_time_estimate_s": search.instrument_seconds,
        "backend": backend.describe(),
    }
    return search.result(max_pairs=plan.max_pairs, parameters=parameters)


def budget_seconds(backend: CrossbarBackend, plan: SymmetryPlan) -> tuple[float, float] | None:
    """The backend's estimate of the instrument time of the whole budget, seconds, as (least,
    most): with a fixed read interval both are that interval's; with automatic sampling from the
    largest interval the budget allows (two windows of WINDOW_READS reads in it) to the first, READ_START.
    None where the backend has no instrument time (a simulator). The run itself usually ends
    earlier, once every device has converged and reached the precision."""
    if plan.read_every is not None:
        intervals = [plan.read_every]
    else:
        widest = max(READ_START, plan.max_pairs // (2 * WINDOW_READS))
        intervals = [min(READ_START * 2 ** int(np.log2(widest / READ_START)), MAX_TRAIN), READ_START]
    costs = []
    for k in intervals:
        train = max(k, (min(TRAIN_PAIRS, MAX_TRAIN) // k) * k)
        seconds = backend.alternating_pairs_seconds(train, read_every=k)
        if seconds is None:
            return None
        costs.append(seconds * plan.max_pairs / train)
    return min(costs), max(costs)


def train_pairs(window: int, read_every: int, *, instrument: bool) -> int:
    """Pairs per alternating_pairs call: one read interval, or on a backend that sequences trains
    in its instruments (instrument=True) the most whole read intervals up to TRAIN_PAIRS pairs
    that tile the window (so a window ends with a train)."""
    reads = window // read_every
    most = max(1, min(TRAIN_PAIRS, MAX_TRAIN) // read_every) if instrument else 1
    return read_every * max(r for r in range(1, min(most, reads) + 1) if reads % r == 0)


def check_settings(
    backend: CrossbarBackend,
    pulse: Pulse | PulsePair,
    *,
    max_pairs: int,
    tolerance: float | None,
    window: int | None,
    read_every: int | None = None,
    precision: float | None = None,
) -> SymmetryPlan:
    """The plan of a search with these settings; raises, before anything is read or written, if
    a setting cannot give an estimate or the pulse is outside the backend's limits."""
    as_pulse_pair(pulse)  # TypeError naming both accepted types
    max_pairs = positive_int(max_pairs, "max_pairs")
    window, read_every = _sampling(window, read_every)
    per_window = window if window is not None else WINDOW_READS * READ_START
    if max_pairs < 2 * per_window:
        raise ValueError(
            f"max_pairs ({max_pairs}) must allow two windows of {per_window} pairs to test "
            f"convergence; raise max_pairs to at least {2 * per_window} or shorten the window"
        )
    for name, value in (("tolerance", tolerance), ("precision", precision)):
        if value is not None and not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number of siemens > 0 or None, got {value!r}")
    if precision is None and window is None:
        g_min, g_max = backend.conductance_range
        precision = PRECISION * (g_max - g_min)
    pulses = as_pulse_pair(pulse)
    backend.limits.check_pulse(pulses)
    return SymmetryPlan(backend.shape, pulses, max_pairs, window, tolerance, read_every, precision)


def _sampling(window: int | None, read_every: int | None) -> tuple[int | None, int | None]:
    """(window, read_every) of a plan: both None (automatic) or both whole numbers; raises if
    they cannot give an estimate."""
    if window is None and read_every is None:
        return None, None
    if window is None:
        read_every = positive_int(read_every, "read_every")
        window = WINDOW_READS * read_every
    window = positive_int(window, "window")
    if window < 2:
        raise ValueError(f"window must be at least 2 pairs (a standard error needs two), got {window}")
    read_every = positive_int(1 if read_every is None else read_every, "read_every")
    read_every = positive_int(read_every, "read_every")
    if read_every > MAX_TRAIN:
        raise ValueError(f"read_every ({read_every}) must be at most {MAX_TRAIN} pairs (one train)")
    if window % read_every or window // read_every < 2:
        raise ValueError(
            f"read_every ({read_every}) must divide the window ({window} pairs) and leave at least "
            "two reads in it; pick a divisor of the window, at most half of it"
        )
    return window, read_every


class _Search:
    """The reads and window estimates of one alternating-pulse run, train by train.

    Sampling state: k the read interval and w the window (pairs) of the current stage, which
    began at pair stage_start with read number stage_read0; an automatic search doubles both
    (a new stage) until k is at least a quarter of the relaxation time. stretch_read0: the first
    read the estimate averages over once every device has converged (None before)."""

    def __init__(self, backend: CrossbarBackend, plan: SymmetryPlan, *, recorder: Recorder | None):
        self.backend, self.plan, self.recorder = backend, plan, recorder
        self.pulse, self.tolerance = plan.pulse, plan.tolerance
        self.adapting = plan.window is None
        self.k = READ_START if plan.read_every is None else plan.read_every
        self.w = WINDOW_READS * self.k if plan.window is None else plan.window
        self.stage_start, self.stage_read0, self.stage_windows = 0, 0, 0
        self.next_end = self.w
        self.stretch_read0: int | None = None
        self.read_pairs: list[int] = []
        self.g_start = np.full(backend.shape, np.nan)
        self.g_up: list[FloatArray] = []
        self.g_down: list[FloatArray] = []
        self.windows: dict[str, list[Any]] = {
            key: [] for key in ("end", "mean", "sem", "step", "relaxation", "step_sem")
        }
        self.converged = np.zeros(backend.shape, dtype=bool)
        self.responsive = np.zeros(backend.shape, dtype=bool)
        self.relaxation = _Relaxation(backend.shape)
        self.midpoints: list[FloatArray] = []
        self.pairs = 0
        self.trains = 0  # alternating_pairs calls made by this process (not the replayed ones)
        # the backend's estimate of the instrument time of those calls, seconds; None without one
        self.instrument_seconds: float | None = None

    def begin(self) -> bool:
        """Store the plan, read every device before the first pulse; False (nothing converged)."""
        if self.recorder is not None:
            self.recorder.checkpoint(self.plan.to_state(), scope=SCOPE)
        self.g_start = self.backend.read()
        if self.recorder is not None:
            Start(g=self.g_start).write(self.recorder)
        return False

    def restore(self, checkpoint: Checkpoint) -> bool:
        """Replay a stopped run's pairs and windows without pulsing; True if it had converged."""
        stopped = SymmetryPlan.from_checkpoint(checkpoint)
        start = Start.read(checkpoint.points)
        if stopped is None or not start:
            raise ValueError(
                f"run {checkpoint.run} stored no symmetry-point plan and start read, so it cannot be "
                "resumed (it stopped before its first pulse, or was recorded before resumes were "
                "possible): start a new run"
            )
        if stopped != self.plan:
            raise ValueError(
                f"run {checkpoint.run} searched with other settings ({stopped}); resume it with the "
                "settings it was started with"
            )
        self.g_start = start[0].g
        stored_windows = {w.step for w in Window.read(checkpoint.points)}
        done = False
        for recorded in Pair.read(checkpoint.points):
            self._take(recorded.step, recorded.g_up, recorded.g_down)
            if recorded.step == self.next_end:  # a stop can fall between a pair and its window
                done = self.end_window(recorded.step, record=recorded.step not in stored_windows)
        return done

    def train_end(self, *, instrument: bool) -> int:
        """The last pair of the next train: trains tile the stage's windows from its start."""
        length = train_pairs(self.w, self.k, instrument=instrument)
        end = self.stage_start + ((self.pairs - self.stage_start) // length + 1) * length
        return min(end, self.next_end)

    def train(self, end: int) -> bool:
        """Pairs self.pairs + 1 ... end as one alternating_pairs call (end - self.pairs a multiple
        of k, not past the window's end); records every read pair when the train has returned.
        True when the train ended a window and the search is done."""
        k = self.k
        seconds = self.backend.alternating_pairs_seconds(end - self.pairs, read_every=k)
        if seconds is not None:
            self.instrument_seconds = (self.instrument_seconds or 0.0) + seconds
        g_up, g_down = self.backend.alternating_pairs(end - self.pairs, read_every=k, pulses=self.pulse)
        self.trains += 1
        for i, pairs in enumerate(range(self.pairs + k, end + 1, k)):
            self._take(pairs, g_up[i], g_down[i])
            if self.recorder is not None:
                Pair(step=pairs, g_up=g_up[i], g_down=g_down[i]).write(self.recorder)
        self.pairs = end
        return end == self.next_end and self.end_window(end)

    def _take(self, pairs: int, g_up: FloatArray, g_down: FloatArray) -> None:
        """The reads of pair number `pairs`, measured now or replayed from a stopped run."""
        self.g_up.append(g_up)
        self.g_down.append(g_down)
        self.read_pairs.append(pairs)
        self.pairs = pairs
        self.midpoints.append((g_up + g_down) / 2.0)
        if len(self.midpoints) == 3:
            self.relaxation.add(*self.midpoints)
            self.midpoints.pop(0)

    def end_window(self, pairs: int, *, record: bool = True) -> bool:
        """Estimate over the window ending at pair `pairs` (or the stretch since convergence),
        test convergence and precision; True when the search is done."""
        windows = self.windows
        mean, sem, tau, step, step_sem = self._estimates()
        self.responsive = step > RESPONSIVE_Z * step_sem
        grow = self.adapting and self._too_short(tau)
        if self.stage_windows:  # in the stretch too: a device that shows its step late converges
            change = np.abs(mean - windows["mean"][-1])
            limit = self._drift_limit(step, sem)
            self.converged |= self.responsive & (change <= limit) & (tau <= self.w)
        self.converged &= self.responsive
        for key, value in zip(windows, (pairs, mean, sem, step, tau, step_sem), strict=True):
            windows[key].append(value)
        if record and self.recorder is not None:
            window = Window(step=pairs, mean=mean, sem=sem, step_size=step, converged=self.converged.copy())
            window.write(self.recorder)
        self.stage_windows += 1
        self.next_end = pairs + self.w
        if grow:
            self._next_stage(pairs)
            return False
        if self.stage_windows < 2 or not np.all(self.converged | ~self.responsive):
            return False
        if self.stretch_read0 is None:  # from here on the estimate averages over a growing stretch
            self.stretch_read0 = len(self.g_up) - self.w // self.k
            self.adapting = False
        precision = self.plan.precision
        return precision is None or bool(np.all(sem[self.responsive] <= precision))

    def _too_short(self, tau: FloatArray) -> bool:
        """True when the read interval is below a quarter of the relaxation time (the median over
        responsive devices) and doubling the sampling leaves two windows within the budget."""
        doubled = 2 * self.w
        if (
            not self.responsive.any()
            or 2 * self.k > MAX_TRAIN
            or self.next_end + 2 * doubled > self.plan.max_pairs
        ):
            return False
        return bool(np.median(tau[self.responsive]) > TAU_READS * self.k)

    def _next_stage(self, pairs: int) -> None:
        """Double the read interval and the window from pair `pairs` on. The relaxation fit (its
        samples k pairs apart) is refitted from every read so far at a multiple of the new k:
        each stage starts at a multiple of it and read at its divisors, so these are k apart from
        pair k on, and they hold the approach, which pins the relaxation down best."""
        self.k, self.w = 2 * self.k, 2 * self.w
        self.stage_start, self.stage_read0, self.stage_windows = pairs, len(self.g_up), 0
        self.next_end = pairs + self.w
        self.relaxation = _Relaxation(self.backend.shape)
        self.midpoints = []
        for i, read in enumerate(self.read_pairs):
            if read % self.k == 0:
                self.midpoints.append((self.g_up[i] + self.g_down[i]) / 2.0)
                if len(self.midpoints) == 3:
                    self.relaxation.add(*self.midpoints)
                    self.midpoints.pop(0)

    def averaged_pairs(self) -> int:
        """Pairs the estimate averages over: the last window, or the stretch since convergence."""
        if self.stretch_read0 is None:
            return self.w if self.windows["end"] else 0
        return self.windows["end"][-1] - (self.read_pairs[self.stretch_read0] - self.k)

    def _estimates(self) -> tuple[FloatArray, ...]:
        """Mean midpoint, its standard error, relaxation time (pairs), step and its standard
        error over the last window (or the stretch since convergence)."""
        k = self.k
        first = len(self.g_up) - self.w // k if self.stretch_read0 is None else self.stretch_read0
        u, d = np.asarray(self.g_up[first:]), np.asarray(self.g_down[first:])
        mean, sem, tau = self.relaxation.window_stats((u + d) / 2.0)
        if k > 1:  # reads k pairs apart: no up step between them, relaxation per sample of k pairs
            return (mean, sem, k * tau, *_step(u, d, None))
        # the read before the window's first up pulse (before any pulse: the start read)
        before = self.g_down[first - 1] if first > 0 else self.g_start
        d_before = np.concatenate([[before], d[:-1]])
        return (mean, sem, tau, *_step(u, d, d_before))

    def _drift_limit(self, step: FloatArray, sem: FloatArray) -> FloatArray:
        """The largest change of the windowed mean that counts as no drift (siemens)."""
        if self.tolerance is not None:
            return np.full(step.shape, self.tolerance)
        noise = DRIFT_Z * np.hypot(sem, self.windows["sem"][-1])
        return np.maximum(step, np.where(np.isfinite(noise), noise, 0.0))

    def result(self, *, max_pairs: int, parameters: dict[str, Any]) -> SymmetryPointResult:
        """The estimates of the last window and the whole read history."""
        windows = self.windows
        history = {
            "g_start": self.g_start,
            "g_up": np.asarray(self.g_up),
            "g_down": np.asarray(self.g_down),
            "read_pairs": np.asarray(self.read_pairs, dtype=np.int64),
            "window_end": np.asarray(windows["end"], dtype=np.int64),
            "window_mean": np.asarray(windows["mean"]),
            "window_sem": np.asarray(windows["sem"]),
            "window_step": np.asarray(windows["step"]),
            "window_relaxation": np.asarray(windows["relaxation"]),
        }
        return SymmetryPointResult(
            g_sym=windows["mean"][-1],
            g_sym_std=windows["sem"][-1],
            step=windows["step"][-1],
            step_std=windows["step_sem"][-1],
            pairs_used=self.pairs,
            converged=self.converged,
            responsive=self.responsive,
            relaxation_pairs=windows["relaxation"][-1],
            history=history,
            pulse=self.pulse.up if self.pulse.is_symmetric else self.pulse,
            max_pairs=max_pairs,
            window=self.w,
            tolerance=self.tolerance,
            parameters=parameters,
        )


class _Relaxation:
    """Per-device AR(1) model of the pair midpoints, for the standard error of a window mean.

    Near its symmetry point a device's midpoint m_k relaxes as m_k+1 − G = β (m_k − G) + ε_k
    with β = 1 − (a⁺ + a⁻) (soft bounds; the local linearisation of any smooth model), ε the
    cycle-to-cycle noise of one pair, and every m_k is read with white noise e_k. Successive
    midpoints are strongly correlated (β ≈ 0.99 is typical), so std/sqrt(n) would understate
    the error many times, and model-free autocorrelation sums need windows many correlation
    times long (they were measured to understate it 2-3x with windows of a few hundred pairs).

    β is fitted over the whole run (the approach from the starting state pins it down best) by
    instrumental variables, m_k+1 on m_k with m_k−1 as the instrument: white read noise biases
    the plain regression towards β = 0 (and 1 − β is small, so even a few percent matter) but
    not this one. The residuals u_k = m_k+1 − β m_k of the window hold ε_k + e_k+1 − β e_k; their
    long-run variance S_u = σ_ε² + σ_e²(1 − β)² comes from sums over blocks of pairs (the read
    noise telescopes inside a block), which needs no separate read-noise measurement. The
    midpoints' long-run variance is S_u/(1 − β)², and the variance of the mean of n of them is
    S_u/((1 − β)² n) times the exact finite-n factor of a stationary AR(1) process,
        (1 − β)/(1 + β) · [1 + 2(β/(1 − β) − β(1 − βⁿ)/(n(1 − β)²))],
    which matters when the window is only a few relaxation times long. Checked on the simulator
    against the closed form √2 σ s/((1 − β)√n) of a soft-bounds device: within ~15 %.
    Where no restoring force shows (β >= 1), the standard error is infinite: the device has no
    symmetry point this run could find. Where successive midpoints are not positively
    correlated at all (constant, or white read noise only), β = 0: nothing to correct.
    """

    def __init__(self, shape: tuple[int, int]):
        self._sums = {k: np.zeros(shape) for k in ("z", "x", "y", "zx", "zy")}
        self._n = 0
        self._ref: FloatArray | None = None

    def add(self, z: FloatArray, x: FloatArray, y: FloatArray) -> None:
        """One triple of successive midpoints (m_k−1, m_k, m_k+1)."""
        if self._ref is None:
            self._ref = z.copy()
        # Sums of offsets from the first midpoint: no cancellation of the large common level.
        z, x, y = z - self._ref, x - self._ref, y - self._ref
        s = self._sums
        s["z"] += z
        s["x"] += x
        s["y"] += y
        s["zx"] += z * x
        s["zy"] += z * y
        self._n += 1

    def window_stats(self, window: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Mean of the window's midpoints (pairs, rows, cols), its standard error (siemens) and
        the relaxation time 1/(1 − β) in pairs."""
        if self._ref is None:  # fewer than three pairs so far: no correlation to fit
            return window.mean(axis=0), np.full(window.shape[1:], np.inf), np.full(window.shape[1:], np.inf)
        s, n_fit = self._sums, self._n
        cov_zx = s["zx"] - s["z"] * s["x"] / n_fit
        cov_zy = s["zy"] - s["z"] * s["y"] / n_fit
        # Fluctuations below 1e-9 of the level are round-off (far below any instrument's
        # resolution): such a device is constant, with nothing to correlate.
        floor = n_fit * (1e-9 * np.abs(self._ref)) ** 2
        with np.errstate(invalid="ignore", divide="ignore"):
            beta = np.where(cov_zx > floor, cov_zy / cov_zx, 0.0)
        beta = np.clip(beta, 0.0, None)  # anti-correlation has no physical source here
        u = window[1:] - beta * window[:-1]
        u = u - u.mean(axis=0)
        n_u, n = u.shape[0], window.shape[0]
        # Long-run variance of u, an MA(1) process (the read noise e_k+1 − β e_k): γ0 + 2γ1 of
        # the sample autocovariances is exact for it and uses every residual.
        gamma0 = np.mean(u * u, axis=0)
        gamma1 = np.sum(u[1:] * u[:-1], axis=0) / max(n_u, 1)
        s_u0 = np.maximum(gamma0 + 2.0 * gamma1, 0.0)
        b = np.minimum(beta, 1.0 - 1e-12)
        finite_n = (1 + 2 * (b / (1 - b) - b * (1 - b**n) / (n * (1 - b) ** 2))) * (1 - b) / (1 + b)
        var_mean = s_u0 / (1 - b) ** 2 / n * finite_n
        no_restoring = beta >= 1.0
        var_mean = np.where(no_restoring & (s_u0 > 0), np.inf, var_mean)
        with np.errstate(divide="ignore"):
            tau = np.where(no_restoring, np.inf, 1.0 / (1.0 - b))
        return window.mean(axis=0), np.sqrt(var_mean), tau


def _step(u: FloatArray, d: FloatArray, d_before: FloatArray | None) -> tuple[FloatArray, FloatArray]:
    """Mean step (siemens) and its standard error from the up steps (d_before -> u; None when
    the reads are not adjacent) and the down steps (u -> d) of a window.

    The steps are signed differences (up minus down read), not |ΔG|: noise adds no folded-normal
    bias. With adjacent reads (d_before given) each read ends one step and starts the next, so
    the mean is that of c_k = u_k − (d_k + d_k−1)/2 per pair, and successive c_k share a read:
    their lag-one covariance (σ_r²/4) is added to the variance, which the plain std/√n of the
    steps would halve in its read-noise part (docs/protocols/symmetry-point.md, "Step")."""
    if d_before is None:  # sparse reads: every step has its own two reads, independent
        steps = u - d
        return steps.mean(axis=0), steps.std(axis=0, ddof=1) / np.sqrt(steps.shape[0])
    c = u - (d + d_before) / 2.0
    n = c.shape[0]
    dev = c - c.mean(axis=0)
    gamma0 = np.sum(dev * dev, axis=0) / (n - 1)
    gamma1 = np.sum(dev[1:] * dev[:-1], axis=0) / (n - 1)
    # Shared reads only correlate neighbours positively; a negative sample value is scatter.
    var = (gamma0 + 2.0 * np.maximum(gamma1, 0.0)) / n
    return c.mean(axis=0), np.sqrt(var)


def _stats(x: FloatArray) -> dict[str, float | int | None]:
    """Mean, std, median, min, max of the finite values (None if there are none).

    An uncertainty is infinite where a window was too short to estimate it; such values are
    counted under "non_finite" rather than turning every statistic into NaN.
    """
    finite = x[np.isfinite(x)]
    funcs = {"mean": np.mean, "std": np.std, "median": np.median, "min": np.min, "max": np.max}
    stats: dict[str, float | int | None] = {
        name: (float(f(finite)) if finite.size else None) for name, f in funcs.items()
    }
    stats["non_finite"] = int(x.size - finite.size)
    return stats
