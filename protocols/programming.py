"""Write-verify programming: bring devices to target conductances in a closed loop.

Each iteration reads the selected devices, computes for each one outside its tolerance a pulse count
from its error and its own step estimate (at most `max_pulses_per_iteration`), applies the
pulses, and reads again before deciding anything else: no pulse is ever sent blind or
retried without a fresh read. A device is done when its last read lies within `tolerance`
of its target; it gets no pulses while it stays there.

Step estimates are learned per device and per direction from what the pulses did
(ΔG / pulses, with older iterations forgotten by half each time so the estimate follows the
local step of a soft-bounds device). A device whose error has not improved by half a
tolerance for `patience` iterations without ever having reached its tolerance (stuck, or its
target lies past its bounds) is given up on: it gets no more pulses and is reported as not
converged. Every device is re-read every round; one that was within tolerance and reads
outside again (read noise, a noisy step) gets pulses again, so the converged devices are
those within tolerance at the same final read.

Used in SHD to program A_ref to A_main's symmetry points (a one-time write; the
residual is the reference programming error).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hil.backend import CrossbarBackend, FloatArray, IntArray
from hil.progress import ProgressCallback
from hil.pulses import Pulse, PulsePair, as_pulse_pair, pulse_state
from hil.recording import Recorder
from hil.results import to_jsonable
from protocols.checks import positive_int
from protocols.records.programming import Verify

BoolArray = NDArray[np.bool_]

# Weight, in pulses, of a user-given step before any data (two pulses' worth: the first real
# iteration already outweighs a rough guess).
PRIOR_PULSES = 2.0
# Memory of the step estimator: older data is halved at every new iteration, so the estimate
# follows the state-dependent step within a few iterations.
FORGET = 0.5


@dataclass(frozen=True)
class ProgrammingResult:
    """Outcome of program_conductances. Arrays are (rows, cols); siemens unless stated.

    target, tolerance: what was asked (tolerance broadcast per device).
    selected: the devices that were programmed; the others were never pulsed.
    g_final: last read of each selected device (NaN elsewhere).
    residual: g_final − target (NaN for unselected devices).
    converged: |residual| <= tolerance (False for unselected devices).
    stalled: given up on (no progress for `patience` iterations, never within tolerance).
    pulses: total pulses each device received (count, both directions).
    iterations: pulse rounds made (in serial mode summed over devices).
    history: "abs_error" (rounds + 1, rows, cols) |read − target| in siemens before any pulse
        (row 0) and after each of the device's rounds (NaN past its last round or where not
        selected); "counts" (rounds, rows, cols) the signed pulses each round applied.
    """

    target: FloatArray
    tolerance: FloatArray
    selected: BoolArray
    g_final: FloatArray
    residual: FloatArray
    converged: BoolArray
    stalled: BoolArray
    pulses: IntArray
    iterations: int
    history: dict[str, np.ndarray]
    pulse: Pulse | PulsePair
    serial: bool
    parameters: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-ready key numbers and per-device results (nested lists)."""
        sel = self.selected
        res = np.abs(self.residual[sel])
        return to_jsonable(
            {
                "protocol": "write_verify",
                "pulse": pulse_state(self.pulse),
                "mode": "serial" if self.serial else "parallel",
                "parameters": self.parameters,
                "shape": list(self.target.shape),
                "n_selected": int(np.sum(sel)),
                "n_converged": int(np.sum(self.converged)),
                "n_stalled": int(np.sum(self.stalled)),
                "all_converged": bool(np.all(self.converged[sel])),
                "iterations": self.iterations,
                "pulses_total": int(np.sum(self.pulses)),
                "pulses_max_per_device": int(np.max(self.pulses)) if self.pulses.size else 0,
                "abs_residual_S": {
                    "median": float(np.median(res)) if res.size else None,
                    "max": float(np.max(res)) if res.size else None,
                },
                "per_device": {
                    "target_S": self.target,
                    "residual_S": self.residual,
                    "converged": self.converged,
                    "stalled": self.stalled,
                    "pulses": self.pulses,
                },
            }
        )


def program_conductances(
    backend: CrossbarBackend,
    target: ArrayLike,
    pulse: Pulse | PulsePair,
    tolerance: float | ArrayLike,
    *,
    max_iterations: int = 100,
    step: float | ArrayLike | None = None,
    max_pulses_per_iteration: int = 20,
    patience: int = 5,
    devices: ArrayLike | None = None,
    serial: bool = False,
    progress: ProgressCallback | None = None,
    recorder: Recorder | None = None,
) -> ProgrammingResult:
    """Program each selected device to target[i, j] within tolerance, by write-verify.

    target: (rows, cols) siemens, inside the backend's nominal conductance_range.
    pulse: the write pulse (volts, seconds) for both directions, or a PulsePair (up, down); the
        steps are learned per direction either way.
    tolerance: siemens, scalar or (rows, cols), > 0. Pick it above half a step plus a few read
        noise standard deviations, or a device can hop over its window.
    max_iterations: pulse rounds at most (per device in serial mode).
    step: siemens per pulse, scalar or (rows, cols), a first guess (e.g. the symmetry-point
        protocol's step). None: the first round gives every device one pulse and learns it.
    max_pulses_per_iteration: cap on |pulses| a device gets between two reads (1 ..
        backend.limits.max_pulses_per_call).
    patience: iterations without progress (|error| down by half a tolerance) before a device
        that has never been within tolerance is given up on.
    devices: boolean (rows, cols) mask of devices to program; None for all.
    serial: program one device at a time (row-major), reading only that device; otherwise all
        selected devices are read and pulsed together in each round.
    progress: progress(done, total): rounds of max_iterations (parallel) or devices (serial).
    recorder: optional hil.recording.Recorder (e.g. a hil.store.Run); records a "verify"
        point per round with the reads and the signed counts applied.
    """
    as_pulse_pair(pulse)  # TypeError naming both accepted types
    targets = _checked_targets(backend, target, tolerance=tolerance, step=step, devices=devices)
    settings = _checked_settings(
        backend,
        max_iterations=max_iterations,
        max_pulses_per_iteration=max_pulses_per_iteration,
        patience=patience,
    )
    loop = _Loop(backend, pulse, settings, recorder)
    groups = _singles(targets.mask) if serial else [targets.mask]
    outcomes = []
    for k, group in enumerate(groups):
        prior = None if targets.step is None else targets.step[group]
        out = loop.run(group, targets.goal[group], targets.tol[group], prior, None if serial else progress)
        outcomes.append((group, out))
        if serial and progress is not None:
            progress(k + 1, len(groups))
    return ProgrammingResult(
        target=targets.goal,
        tolerance=targets.tol,
        selected=targets.mask,
        **_per_device_outcome(targets, outcomes),
        iterations=loop.rounds,
        pulse=pulse,
        serial=serial,
        parameters={
            "max_iterations": settings.max_iterations,
            "max_pulses_per_iteration": settings.cap,
            "patience": settings.patience,
            "step_guess_S": "learned" if targets.step is None else "given",
            "backend": backend.describe(),
        },
    )


@dataclass(frozen=True)
class _Targets:
    """What to program, per device (rows, cols): selected, target and tolerance in siemens, and
    the step guess (siemens per pulse; None: learned)."""

    mask: BoolArray
    goal: FloatArray
    tol: FloatArray
    step: FloatArray | None


def _checked_targets(
    backend: CrossbarBackend,
    target: ArrayLike,
    *,
    tolerance: float | ArrayLike,
    step: float | ArrayLike | None,
    devices: ArrayLike | None,
) -> _Targets:
    """The targets, tolerances and step guesses per device; raises for a value no write-verify
    can reach (outside the backend's nominal range, not finite, not > 0)."""
    shape = backend.shape
    mask = _mask(devices, shape)
    goal = _per_device(target, shape, "target")
    if not np.all(np.isfinite(goal[mask])):
        raise ValueError("target contains NaN or inf for selected devices; exclude them with devices=mask")
    g_min, g_max = backend.conductance_range
    outside = mask & ((goal < g_min) | (goal > g_max))
    if np.any(outside):
        raise ValueError(
            f"{int(np.sum(outside))} target(s) lie outside the nominal conductance range "
            f"[{g_min:g}, {g_max:g}] S (first at {tuple(int(i) for i in np.argwhere(outside)[0])}); "
            "fix the targets or exclude those devices with devices=mask"
        )
    tol = _per_device(tolerance, shape, "tolerance")
    if not np.all(np.isfinite(tol[mask]) & (tol[mask] > 0)):
        raise ValueError("tolerance must be finite and > 0 siemens for every selected device")
    step0 = None if step is None else _per_device(step, shape, "step")
    if step0 is not None and not np.all(np.isfinite(step0[mask]) & (step0[mask] > 0)):
        raise ValueError("step must be finite and > 0 siemens for every selected device, or None")
    return _Targets(mask, goal, tol, step0)


@dataclass(frozen=True)
class _Settings:
    """The loop's limits: pulse rounds, pulses per device per round (cap), rounds without
    progress before giving up."""

    max_iterations: int
    cap: int
    patience: int


def _checked_settings(
    backend: CrossbarBackend, *, max_iterations: int, max_pulses_per_iteration: int, patience: int
) -> _Settings:
    max_iterations = positive_int(max_iterations, "max_iterations")
    patience = positive_int(patience, "patience")
    cap = positive_int(max_pulses_per_iteration, "max_pulses_per_iteration")
    if cap > backend.limits.max_pulses_per_call:
        raise ValueError(
            f"max_pulses_per_iteration {cap} exceeds the bench limit max_pulses_per_call "
            f"{backend.limits.max_pulses_per_call}"
        )
    return _Settings(max_iterations, cap, patience)


@dataclass(frozen=True)
class _GroupOutcome:
    g: FloatArray  # last reads (n_dev,)
    converged: BoolArray
    stalled: BoolArray
    pulses: IntArray
    abs_error: FloatArray  # (rounds + 1, n_dev)
    counts: IntArray  # (rounds, n_dev) signed


def _per_device_outcome(targets: _Targets, outcomes: list[tuple[BoolArray, _GroupOutcome]]) -> dict[str, Any]:
    """ProgrammingResult's per-device fields from the outcome of each group of devices, the
    trajectories aligned on each device's own rounds (row 0: before any pulse)."""
    shape = targets.goal.shape
    g_final = np.full(shape, np.nan)
    converged = np.zeros(shape, dtype=bool)
    stalled = np.zeros(shape, dtype=bool)
    pulses = np.zeros(shape, dtype=np.int64)
    depth = max(out.abs_error.shape[0] for _, out in outcomes)
    abs_error = np.full((depth, *shape), np.nan)
    counts = np.zeros((depth - 1, *shape), dtype=np.int64)
    for group, out in outcomes:
        g_final[group], converged[group], stalled[group] = out.g, out.converged, out.stalled
        pulses[group] = out.pulses
        abs_error[: out.abs_error.shape[0], group] = out.abs_error
        counts[: out.counts.shape[0], group] = out.counts
    return {
        "g_final": g_final,
        "residual": np.where(targets.mask, g_final - targets.goal, np.nan),
        "converged": converged,
        "stalled": stalled,
        "pulses": pulses,
        "history": {"abs_error": abs_error, "counts": counts},
    }


class _Loop:
    """The closed loop for one group of devices (all selected, or one in serial mode)."""

    def __init__(
        self,
        backend: CrossbarBackend,
        pulse: Pulse | PulsePair,
        settings: _Settings,
        recorder: Recorder | None,
    ):
        self.backend, self.pulse, self.settings = backend, pulse, settings
        self.recorder = recorder
        self.rounds = 0

    def run(
        self,
        mask: BoolArray,
        goal: FloatArray,
        tol: FloatArray,
        prior: FloatArray | None,
        progress: ProgressCallback | None,
    ) -> _GroupOutcome:
        n_dev = goal.size
        steps = _StepEstimate(n_dev, prior)
        stalled = np.zeros(n_dev, dtype=bool)
        pulses = np.zeros(n_dev, dtype=np.int64)
        g = self.backend.read(mask)
        best = np.abs(goal - g)
        since_best = np.zeros(n_dev, dtype=np.int64)
        ever_inside = best <= tol
        errors, applied = [best], []

        for it in range(self.settings.max_iterations):
            err = goal - g
            active = (np.abs(err) > tol) & ~stalled
            if not np.any(active):
                break
            up = err > 0
            n = np.where(active, steps.pulses_for(err, self.settings.cap), 0).astype(np.int64)
            signed = np.where(up, n, -n)
            g_new = self._pulse_and_read(mask, signed)
            steps.learn(active, up, (g_new - g) * np.sign(signed), n)  # response along the pulse
            pulses += n
            g = g_new

            abs_err = np.abs(goal - g)
            improved = abs_err < best - tol / 2
            best = np.where(improved, abs_err, best)
            inside = abs_err <= tol
            ever_inside |= inside
            since_best = np.where(improved | inside, 0, since_best + active)
            # A device that has been inside once and was pushed out (read noise, a noisy step)
            # is near its target and keeps trying; one that never got there stops.
            stalled |= ~inside & ~ever_inside & (since_best >= self.settings.patience)
            errors.append(abs_err)
            applied.append(signed)
            if progress is not None:
                progress(it + 1, self.settings.max_iterations)

        converged = np.abs(goal - g) <= tol
        return _GroupOutcome(
            g=g,
            converged=converged,
            stalled=stalled & ~converged,
            pulses=pulses,
            abs_error=np.asarray(errors),
            counts=np.asarray(applied, dtype=np.int64).reshape(len(applied), n_dev),
        )

    def _pulse_and_read(self, mask: BoolArray, signed: IntArray) -> FloatArray:
        """Apply the signed pulse counts to the group's devices, read them, record the round."""
        counts = np.zeros(self.backend.shape, dtype=np.int64)
        counts[mask] = signed
        self.backend.apply_pulses(counts, self.pulse)
        g = self.backend.read(mask)
        self.rounds += 1
        if self.recorder is not None:
            Verify(step=self.rounds, g=g, counts=signed).write(self.recorder)
        return g


class _StepEstimate:
    """Each device's step per pulse (siemens) in each direction, learned from what its pulses did,
    older rounds forgotten by FORGET each time."""

    def __init__(self, n_dev: int, prior: FloatArray | None):
        # Signed response sums and pulse sums, index 0 for down, 1 for up.
        self.resp = np.zeros((2, n_dev))
        self.count = np.zeros((2, n_dev))
        if prior is not None:
            self.resp += PRIOR_PULSES * prior
            self.count += PRIOR_PULSES

    def pulses_for(self, err: FloatArray, cap: int) -> FloatArray:
        """Pulses (1 .. cap) that would close the error err (siemens) at the estimated step of its
        direction, else of the other direction; 1 where neither is known yet."""
        up = err > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            est = self.resp / self.count  # (2, n_dev); NaN where no data
        own = np.where(up, est[1], est[0])
        other = np.where(up, est[0], est[1])
        guess = np.where(own > 0, own, np.where(other > 0, other, np.nan))
        with np.errstate(invalid="ignore"):
            return np.where(np.isfinite(guess), np.clip(np.rint(np.abs(err) / guess), 1, cap), 1)

    def learn(self, active: BoolArray, up: BoolArray, moved: FloatArray, n: IntArray) -> None:
        """Add a round: moved (siemens, along the pulse direction) after n pulses."""
        direction = up.astype(np.int64)
        for d in (0, 1):
            upd = active & (direction == d)
            self.resp[d, upd] = FORGET * self.resp[d, upd] + moved[upd]
            self.count[d, upd] = FORGET * self.count[d, upd] + n[upd]


def _mask(devices: ArrayLike | None, shape: tuple[int, int]) -> BoolArray:
    if devices is None:
        return np.ones(shape, dtype=bool)
    m = np.asarray(devices)
    if m.dtype != np.bool_ or m.shape != shape:
        raise ValueError(
            f"devices must be a boolean mask of shape {shape}, got dtype {m.dtype} and shape {m.shape}"
        )
    if not np.any(m):
        raise ValueError("devices selects no device; pass None to program all of them")
    return m


def _singles(mask: BoolArray) -> list[BoolArray]:
    """One mask per selected device, row-major."""
    out = []
    for r, c in np.argwhere(mask):
        m = np.zeros_like(mask)
        m[r, c] = True
        out.append(m)
    return out


def _per_device(value: float | ArrayLike, shape: tuple[int, int], name: str) -> FloatArray:
    a = np.asarray(value, dtype=np.float64)
    if a.ndim == 0:
        return np.full(shape, float(a))
    if a.shape != shape:
        raise ValueError(f"{name} must be a number or an array of shape {shape} (siemens), got {a.shape}")
    return a
