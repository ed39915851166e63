"""Symmetry point of every device of an array, by strictly alternating up/down pulses.

Physics (soft bounds, ΔG⁺ = a⁺(G_max − G), ΔG⁻ = a⁻(G − G_min)): one up+down pair moves a
device on average by −(a⁺ + a⁻)(G − G_sym), so equal numbers of up and down pulses pull every
device to its own symmetry point G_sym = (a⁺G_max + a⁻G_min)/(a⁺ + a⁻), where an up step equals
a down step (zero-shifting, Kim et al. arXiv:1907.10228). Strict alternation matters: a random
order leaves a common random-walk offset of several steps.

Protocol: read; then repeat {+1 pulse on every device, read, −1 pulse on every device, read}.
A read after an up pulse sits about half a step above the point, a read after a down pulse
about half a step below, so each pair contributes the midpoint of its two reads. The estimate
is the mean of the midpoints over the last window of `window` pairs.

Exact offset of the midpoint: in the noiseless limit the device settles on two states G_d < G_u
with up(G_d) = down(G_u) = δ, and their midpoint is G_sym + δ(a⁺ − a⁻)/(2(a⁺ + a⁻)): a bias
below half a step in magnitude (it vanishes for equal a⁺ = a⁻). Only the sum a⁺ + a⁻ shows
in alternating data, so this bias cannot be removed here; it is stated, not hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hil.backend import CrossbarBackend, FloatArray
from hil.progress import ProgressCallback
from hil.pulses import Pulse, as_pulse_pair, pulse_state
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
# Block length (pairs) for the long-run variance of the relaxation residuals; they are correlated
# over one lag only, so a few pairs suffice and more blocks give a steadier estimate.
BLOCK_PAIRS = 10


@dataclass(frozen=True)
class SymmetryPointResult:
    """Outcome of find_symmetry_point. Arrays are (rows, cols) unless stated; siemens.

    g_sym: estimated symmetry point, mean of the post-up/post-down midpoints over the last window.
    g_sym_std: standard error of g_sym, corrected for the correlation of successive pairs.
    step: mean |ΔG| of one pulse near the point (the gap between a post-up and the adjacent
        post-down reads is one step; averaged over the window, up and down alike).
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
    pulse: Pulse
    max_pairs: int
    window: int
    tolerance: float | None
    parameters: dict[str, Any] = field(default_factory=dict)

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
    pulse: Pulse,
    max_pairs: int = 10_000,
    tolerance: float | None = None,
    window: int = 500,
    *,
    read_every: int = 1,
    progress: ProgressCallback | None = None,
    recorder: Recorder | None = None,
    resume_from: Checkpoint | None = None,
) -> SymmetryPointResult:
    """Drive every device to its symmetry point with alternating pulses and estimate it.

    backend: the array; every device is pulsed, all in parallel (one apply_pulses call per pulse).
    pulse: the write pulse (volts, seconds), the same for up and down.
    max_pairs: budget of up+down pairs per device; the run stops there if not converged.
    tolerance: siemens. A device converges once its windowed mean changes by at most this
        between two successive windows. None: at most max(one step, 3 standard errors of the
        change), i.e. no drift is detectable or it is below one step.
    window: pairs per averaging window (>= 2). It must span at least the relaxation time
        1/(a⁺ + a⁻) pairs (reported as relaxation_pairs) for a device to converge, and the
        standard error falls as 1/sqrt(window) once it spans several.
    read_every: read the array after the up and the down pulse of every read_every-th pair
        only (1: every pair); the other pairs are pulsed without a read. It must divide window.
        The sampled midpoints relax as every pair's do, with β^read_every per sample, so the
        same estimator applies; up to a quarter of the relaxation time it costs under 1 % of
        the standard error (docs/protocols/symmetry-point.md) and divides the reads by it. The
        step then comes from the read pairs' down steps alone.
    progress: progress(pairs_done, total), called after every pair; total is max_pairs rounded
        down to whole windows (pairs beyond the last whole window would never be used).
    recorder: optional hil.recording.Recorder (e.g. a hil.store.Run); records the plan as a
        checkpoint and the read before the first pulse, then a "pair" point with the two reads
        after every pair read and a "window" point after every window (protocols.records.symmetry).
    resume_from: the Checkpoint of a stopped run of this search (hil.store.RunStore.
        load_checkpoint), with the same settings; its pairs are replayed through the estimator
        without pulsing and the search goes on from the next pair. Pass the resumed run as
        recorder. Pairs after the last recorded one are pulsed again: with read_every = 1 at
        most one unrecorded pulse from the stop shows in the next read, as a step of relaxation
        would; with sparse reads up to read_every - 1 whole pairs more, which relax as any pair.

    Convergence is tested at the end of each window, from the second window on: a responsive
    device converges when the drift test passes and the window spans at least its relaxation
    time (then the drift between windows is at least 63 % of any remaining distance, so a small
    drift means a small distance). Once converged a device stays converged. The run ends when
    every responsive device has converged, or at max_pairs. Estimates always come from the last
    complete window.
    """
    plan = check_settings(
        backend, pulse, max_pairs=max_pairs, tolerance=tolerance, window=window, read_every=read_every
    )
    search = _Search(backend, plan, recorder=recorder)
    done = search.restore(resume_from) if resume_from is not None else search.begin()
    budget = (plan.max_pairs // plan.window) * plan.window  # only complete windows count
    for pairs in range(search.pairs + 1, budget + 1):
        if done:
            break
        search.pair(pairs)
        if progress is not None:
            progress(pairs, budget)
        done = pairs % plan.window == 0 and search.end_window(pairs)
    parameters = {"read_every_pairs": plan.read_every, "backend": backend.describe()}
    return search.result(max_pairs=plan.max_pairs, parameters=parameters)


def check_settings(
    backend: CrossbarBackend,
    pulse: Pulse,
    *,
    max_pairs: int,
    tolerance: float | None,
    window: int,
    read_every: int = 1,
) -> SymmetryPlan:
    """The plan of a search with these settings; raises, before anything is read or written, if
    a setting cannot give an estimate or the pulse is outside the backend's limits."""
    window, max_pairs = _checked(pulse, max_pairs=max_pairs, tolerance=tolerance, window=window)
    read_every = positive_int(read_every, "read_every")
    if window % read_every or window // read_every < 2:
        raise ValueError(
            f"read_every ({read_every}) must divide the window ({window} pairs) and leave at least "
            "two reads in it; pick a divisor of the window, at most half of it"
        )
    backend.limits.check_pulse(pulse)
    return SymmetryPlan(backend.shape, pulse, max_pairs, window, tolerance, read_every)


def _checked(pulse: Pulse, *, max_pairs: int, tolerance: float | None, window: int) -> tuple[int, int]:
    """(window, max_pairs) as ints; raises if a setting cannot give an estimate."""
    as_pulse_pair(pulse)  # TypeError naming both accepted types
    window = positive_int(window, "window")
    max_pairs = positive_int(max_pairs, "max_pairs")
    if window < 2:
        raise ValueError(f"window must be at least 2 pairs (a standard error needs two), got {window}")
    if max_pairs < 2 * window:
        raise ValueError(
            f"max_pairs ({max_pairs}) must allow two windows of {window} pairs to test convergence; "
            f"raise max_pairs to at least {2 * window} or shorten the window"
        )
    if tolerance is not None and not (np.isfinite(tolerance) and tolerance > 0):
        raise ValueError(f"tolerance must be a finite number of siemens > 0 or None, got {tolerance!r}")
    return window, max_pairs


class _Search:
    """The reads and window estimates of one alternating-pulse run, pair by pair."""

    def __init__(self, backend: CrossbarBackend, plan: SymmetryPlan, *, recorder: Recorder | None):
        self.backend, self.plan, self.recorder = backend, plan, recorder
        self.pulse, self.window, self.tolerance = plan.pulse, plan.window, plan.tolerance
        self.read_every = plan.read_every
        self.read_pairs: list[int] = []
        self.up = np.ones(backend.shape, dtype=np.int64)
        self.g_start = np.full(backend.shape, np.nan)
        self.g_up: list[FloatArray] = []
        self.g_down: list[FloatArray] = []
        self.windows: dict[str, list[Any]] = {"end": [], "mean": [], "sem": [], "step": [], "relaxation": []}
        self.converged = np.zeros(backend.shape, dtype=bool)
        self.responsive = np.zeros(backend.shape, dtype=bool)
        self.relaxation = _Relaxation(backend.shape)
        self.midpoints: list[FloatArray] = []
        self.pairs = 0

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
            if recorded.step % self.window == 0:  # a stop can fall between a pair and its window
                done = self.end_window(recorded.step, record=recorded.step not in stored_windows)
        return done

    def pair(self, pairs: int) -> None:
        """Pair number `pairs`: an up pulse on every device, a down pulse, each followed by a
        read when the pair is one read_every-th."""
        read = pairs % self.read_every == 0
        self.backend.apply_pulses(self.up, self.pulse)
        g_up = self.backend.read() if read else None
        self.backend.apply_pulses(-self.up, self.pulse)
        self.pairs = pairs
        if g_up is None:
            return
        g_down = self.backend.read()
        self._take(pairs, g_up, g_down)
        if self.recorder is not None:
            Pair(step=pairs, g_up=g_up, g_down=g_down).write(self.recorder)

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
        """Estimate over the window ending at pair `pairs` and test convergence; True when every
        responsive device has converged (from the second window on)."""
        w, windows = self.window, self.windows
        mean, sem, tau, step, step_sem = self._window_estimates(pairs)
        self.responsive = step > RESPONSIVE_Z * step_sem
        if windows["mean"]:
            change = np.abs(mean - windows["mean"][-1])
            limit = self._drift_limit(step, sem)
            self.converged |= self.responsive & (change <= limit) & (tau <= w)
        self.converged &= self.responsive
        for key, value in zip(windows, (pairs, mean, sem, step, tau), strict=True):
            windows[key].append(value)
        if record and self.recorder is not None:
            window = Window(step=pairs, mean=mean, sem=sem, step_size=step, converged=self.converged.copy())
            window.write(self.recorder)
        return len(windows["mean"]) >= 2 and bool(np.all(self.converged | ~self.responsive))

    def _window_estimates(self, pairs: int) -> tuple[FloatArray, ...]:
        """Mean midpoint, its standard error, relaxation time (pairs), step and its standard
        error over the window ending at pair `pairs`."""
        k, n = self.read_every, self.window // self.read_every
        if k > 1:  # reads k pairs apart: no up step between them, relaxation per sample of k pairs
            u, d = np.asarray(self.g_up[-n:]), np.asarray(self.g_down[-n:])
            mean, sem, tau = self.relaxation.window_stats((u + d) / 2.0)
            return (mean, sem, k * tau, *_step(u, d, None))
        u, d = np.asarray(self.g_up[-n - 1 :]), np.asarray(self.g_down[-n - 1 :])
        if pairs == n:  # the read before the first up pulse ends the first "down" step
            u, d = np.concatenate([[self.g_start], u]), np.concatenate([[self.g_start], d])
        mean, sem, tau = self.relaxation.window_stats((u[1:] + d[1:]) / 2.0)
        return (mean, sem, tau, *_step(u[1:], d[1:], d[:-1]))

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
            pairs_used=self.pairs,
            converged=self.converged,
            responsive=self.responsive,
            relaxation_pairs=windows["relaxation"][-1],
            history=history,
            pulse=self.pulse,
            max_pairs=max_pairs,
            window=self.window,
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
        # Long-run variance of u from sums over blocks of L pairs: within a block the read noise
        # telescopes to its two ends, so the sums carry L σ_ε² + O(σ_e²).
        length = max(1, min(BLOCK_PAIRS, n_u // 8))
        blocks = u[: (n_u // length) * length].reshape(n_u // length, length, *u.shape[1:]).sum(axis=1)
        s_u0 = np.mean(blocks * blocks, axis=0) / length
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
    the reads are not adjacent) and the down steps (u -> d) of a window. Single steps are nearly
    independent (fresh cycle-to-cycle and read noise each), so the plain standard error applies."""
    steps = u - d if d_before is None else np.concatenate([u - d_before, u - d])
    return steps.mean(axis=0), steps.std(axis=0, ddof=1) / np.sqrt(steps.shape[0])


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
