"""The SHD paper's single-parameter regression (its Figs. 1 and 2) on 1x1 arrays.

Problem: E = (G - G_0)^2 / 2 with zero-mean Gaussian noise of std `noise` on the gradient,
so that the paper's closed form holds as written (dE/dG = G - G_0). All conductances here are
normalised: g = (G - G_min) / (G_max - G_min) with the backend's nominal range, and the
weight mapping is g_unit = G_max - G_min, so a weight is a normalised conductance difference.
The trained conductance is read through the differential forward VMM (input 1): what a
network would see, read noise included.

Three 1x1 devices serve both algorithms: dev1 (SGD's W_main, SHD's A_main), dev2 (W_ref,
A_ref: programmed to dev1's symmetry point) and dev3 (SHD's C_main). SGD and SHD thus run
on the same device, characterised once.

Closed form (SGD, noise-dominated limit): the soft-bounds steps are lines in G,
ΔG⁺ = c⁺ - a⁺ G and |ΔG⁻| = c⁻ + a⁻ G, measured here by pulse ramps. A stochastic update of
intended change u fires |u|/dw_min pulses on average, so the mean drift per step is
E[u⁺](c⁺ - a⁺G) - E[u⁻](c⁻ + a⁻G) (per dw_min), zero at G_final. With u ~ N(-(G - G_0), s²)
and |G - G_0| << s this gives G_final = (G_0 + k G_sym) / (1 + k), k = κ s sqrt(2/π),
κ = (a⁺ + a⁻) / (2 s_sym), s_sym the step at G_sym. `exact_fixed_point` solves the drift
equation without the small-|G - G_0| approximation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

from hil.backend import CrossbarBackend, FloatArray
from hil.mapping import DifferentialArray, WeightMapping
from hil.pulses import Pulse
from protocols.programming import program_conductances
from protocols.symmetry import find_symmetry_point

ONE = np.ones(1)


@dataclass(frozen=True)
class RegressionSettings:
    """Parameters of the 1x1 experiments; conductances normalised to the nominal range.

    g0: the optima G_0 of the sweep; g_start: where every sweep run starts (C_main, W_main).
    noise: std s of the gradient noise (normalised conductance); steps: updates per run;
    average_last: final steps averaged into G_final.
    sgd_lr: SGD learning rate (intended change per unit gradient).
    eta_a, eta_c, tau: SHD rates and transfer period (samples).
    orbit_*: the phase-portrait runs (Fig. 2E/F, see run_orbit): a start away from the optimum,
        a weaker noise and their own rates (eta_a = eta_c: A swings as far as C, and the
        asymmetric orbit is damped within ~2 periods, clear of the slow random walk that the
        pulse-count noise gives the undamped orbit's energy); orbit_smooth: transfers averaged
        per plotted point (see smoothed_orbit).
    ramp_pulses, ramp_chunk, ramp_cycles: step-line measurement (pulses per half ramp, pulses
        between reads, up-down-up cycles); noise_reads: repeated VMMs for the read noise.
    symmetry_max_pairs, symmetry_window: find_symmetry_point on dev1.
    bl_max: longest bit stream; seed: the gradient noise.
    """

    g0: tuple[float, ...] = (0.2, 0.35, 0.5, 0.65, 0.8)
    g_start: float = 0.5
    noise: float = 1.0
    steps: int = 4000
    average_last: int = 2000
    sgd_lr: float = 0.01
    eta_a: float = 0.0025
    eta_c: float = 0.01
    tau: int = 1
    orbit_noise: float = 0.1
    orbit_g_start: float = 0.2
    orbit_g0: float = 0.5
    orbit_steps: int = 3000
    orbit_eta_a: float = 0.005
    orbit_eta_c: float = 0.005
    orbit_smooth: int = 25
    ramp_pulses: int = 150
    ramp_chunk: int = 10
    ramp_cycles: int = 2
    noise_reads: int = 200
    symmetry_max_pairs: int = 4000
    symmetry_window: int = 200
    bl_max: int = 31
    seed: int = 0

    def __post_init__(self) -> None:
        if not all(0.0 < g < 1.0 for g in (*self.g0, self.g_start, self.orbit_g_start, self.orbit_g0)):
            raise ValueError(
                "g0, g_start and the orbit points are normalised conductances and must lie in (0, 1)"
            )
        if not 0 < self.average_last <= self.steps:
            raise ValueError(f"average_last must lie in 1..steps ({self.steps}), got {self.average_last}")
        for name in ("noise", "sgd_lr", "eta_a", "eta_c", "orbit_noise", "orbit_eta_a", "orbit_eta_c"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"RegressionSettings.{name} must be a finite number > 0, got {value!r}")


@dataclass
class Device:
    """Three 1x1 arrays of one preset and what was measured on them (normalised units).

    g_sym, g_sym_std, step: dev1's symmetry point, its standard error and the step there, from
    find_symmetry_point. up_line, down_line: (c, a) of ΔG⁺ = c - a G and |ΔG⁻| = c + a G per
    pulse, fitted on ramps. kappa: (a⁺ + a⁻) / (2 s_sym) per normalised unit, s_sym the mean of
    the two fitted steps at g_sym. g_cross: where the fitted lines cross (NaN when parallel).
    read_noise: std of the differential VMM reading (normalised). g_ref: dev2 as programmed.
    """

    preset: str
    dev1: CrossbarBackend
    dev2: CrossbarBackend
    dev3: CrossbarBackend
    pulse: Pulse
    mapping: WeightMapping
    g_min: float
    span: float
    g_sym: float = math.nan
    g_sym_std: float = math.nan
    step: float = math.nan
    up_line: tuple[float, float] = (math.nan, math.nan)
    down_line: tuple[float, float] = (math.nan, math.nan)
    kappa: float = math.nan
    g_cross: float = math.nan
    read_noise: float = math.nan
    g_ref: float = math.nan
    serial: dict[str, Any] = field(default_factory=dict)

    def norm(self, g_siemens: FloatArray | float) -> FloatArray:
        return (np.asarray(g_siemens) - self.g_min) / self.span

    def siemens(self, g_norm: float) -> float:
        return self.g_min + g_norm * self.span

    @property
    def dw_min(self) -> float:
        """One pulse in weight (normalised) units: the measured step at the symmetry point."""
        return self.step

    def summary(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "g_sym": self.g_sym,
            "g_sym_std": self.g_sym_std,
            "step_at_g_sym": self.step,
            "up_step_line": {"c": self.up_line[0], "a": self.up_line[1]},
            "down_step_line": {"c": self.down_line[0], "a": self.down_line[1]},
            "g_cross_of_fitted_lines": self.g_cross,
            "kappa_per_normalised_unit": self.kappa,
            "read_noise": self.read_noise,
            "g_ref": self.g_ref,
            "conductance_range_S": [self.g_min, self.g_min + self.span],
            "serial_operations": self.serial,
        }


def characterise(
    preset: str,
    dev1: CrossbarBackend,
    dev2: CrossbarBackend,
    dev3: CrossbarBackend,
    *,
    pulse: Pulse,
    settings: RegressionSettings,
) -> Device:
    """Symmetry point of dev1, dev2 programmed to it, step lines of dev1, read noise of the pair."""
    for b in (dev1, dev2, dev3):
        if b.shape != (1, 1):
            raise ValueError(f"the regression experiments use 1x1 arrays, got {b.shape}")
    g_min, g_max = dev1.conductance_range
    mapping = WeightMapping(g_unit=g_max - g_min, input_voltage=dev1.read_voltage)
    dev = Device(preset, dev1, dev2, dev3, pulse, mapping, g_min, g_max - g_min)

    sym = find_symmetry_point(
        dev1, pulse, max_pairs=settings.symmetry_max_pairs, window=settings.symmetry_window
    )
    if not sym.responsive[0, 0]:
        raise ValueError(f"the {preset} 1x1 device did not respond to {pulse}; pick a stronger pulse")
    dev.g_sym = float(dev.norm(sym.g_sym[0, 0]))
    dev.g_sym_std = float(sym.g_sym_std[0, 0] / dev.span)
    dev.step = float(sym.step[0, 0] / dev.span)
    dev.serial["symmetry_pairs"] = sym.pairs_used

    dev.up_line, dev.down_line, n_ramp = _step_lines(dev, settings)
    dev.serial["ramp_pulses"] = n_ramp
    (c_up, a_up), (c_dn, a_dn) = dev.up_line, dev.down_line
    s_sym = 0.5 * ((c_up - a_up * dev.g_sym) + (c_dn + a_dn * dev.g_sym))
    dev.kappa = (a_up + a_dn) / (2.0 * s_sym)
    # Lines closer to parallel than the fit can tell have no crossing.
    dev.g_cross = (c_up - c_dn) / (a_up + a_dn) if abs(a_up + a_dn) > 1e-9 else math.nan

    prog = program_conductances(dev2, sym.g_sym, pulse, tolerance=sym.step[0, 0], step=sym.step[0, 0])
    dev.serial["reference_programming_iterations"] = prog.iterations
    dev.g_ref = float(dev.norm(np.mean([dev2.read()[0, 0] for _ in range(20)])))
    pair = DifferentialArray(dev1, dev2, mapping)
    dev.read_noise = float(np.std([pair.forward(ONE)[0] for _ in range(settings.noise_reads)], ddof=1))
    return dev


def _step_lines(
    dev: Device, settings: RegressionSettings
) -> tuple[tuple[float, float], tuple[float, float], int]:
    """Fit ΔG⁺ = c - aG and |ΔG⁻| = c + aG on up-down-up ramps around the current state.

    Pulses go in chunks of m between reads; each chunk gives a step (G_end - G_start)/m at
    the midpoint (G_start + G_end)/2. Read noise enters the two with opposite signs, so it
    does not correlate step with position (a per-pulse read-before fit would bias the slope
    by -σ_r²/var(G), tens of per cent at realistic read noise).
    """
    m, half = settings.ramp_chunk, max(1, settings.ramp_pulses // settings.ramp_chunk)
    plan = ([+1] * half + [-1] * (2 * half) + [+1] * half) * settings.ramp_cycles
    g_prev = float(dev.norm(dev.dev1.read()[0, 0]))
    pos: dict[int, list[float]] = {1: [], -1: []}
    stp: dict[int, list[float]] = {1: [], -1: []}
    for sign in plan:
        dev.dev1.apply_pulses(np.full((1, 1), sign * m, dtype=np.int64), dev.pulse)
        g = float(dev.norm(dev.dev1.read()[0, 0]))
        pos[sign].append(0.5 * (g + g_prev))
        stp[sign].append(abs(g - g_prev) / m)
        g_prev = g
    up = np.polyfit(pos[1], stp[1], 1)  # slope, intercept
    dn = np.polyfit(pos[-1], stp[-1], 1)
    return (float(up[1]), float(-up[0])), (float(dn[1]), float(dn[0])), len(plan) * m


# ---------------------------------------------------------------------- predictions
def closed_form(g0: float, g_sym: float, kappa: float, noise: float) -> float:
    """The paper's noise-dominated fixed point (G_0 + k G_sym) / (1 + k), k = κ s sqrt(2/π)."""
    k = kappa * noise * math.sqrt(2.0 / math.pi)
    return (g0 + k * g_sym) / (1.0 + k)


def exact_fixed_point(
    g0: float, up_line: tuple[float, float], down_line: tuple[float, float], noise: float
) -> float:
    """Zero of the mean drift E[u⁺](c⁺ - a⁺G) - E[u⁻](c⁻ + a⁻G), u ~ N(-(G - G_0), s²).

    NaN when there is no sign change in the physical range (e.g. a symmetric device: the
    drift is then zero only at G_0 itself, which is returned).
    """
    (c_up, a_up), (c_dn, a_dn) = up_line, down_line

    def drift(g: float) -> float:
        mu = -(g - g0)
        z = mu / noise
        e_plus = mu * norm.cdf(z) + noise * norm.pdf(z)
        e_minus = e_plus - mu
        return e_plus * (c_up - a_up * g) - e_minus * (c_dn + a_dn * g)

    lo, hi = -0.5, 1.5
    if drift(lo) * drift(hi) > 0:
        return math.nan
    return float(brentq(drift, lo, hi, xtol=1e-9))


# ---------------------------------------------------------------------- runs
@dataclass
class RegressionRun:
    """One run: the trained conductance after every step (normalised, as read by the VMM).

    algorithm "sgd" or "shd"; rates: the learning rates used ("lr", or "eta_a", "eta_c", "tau");
    g: (steps,) the trained G (SGD: W_main, SHD: C_main);
    a: (steps,) SHD's A = A_main - A_ref as read in step IV (NaN between transfers; None for SGD);
    g_final: mean of g over the last `average_last` steps; residual g_final - g0;
    jitter: std of g over that window (the noise floor of a single reading of the parameter);
    sem: standard error of g_final (integrated autocorrelation time, see _standard_error).
    """

    algorithm: str
    preset: str
    g0: float
    noise: float
    rates: dict[str, float]
    g: FloatArray
    a: FloatArray | None
    g_final: float
    residual: float
    jitter: float
    sem: float
    pulses: int

    def summary(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "preset": self.preset,
            "g0": self.g0,
            "noise": self.noise,
            "rates": self.rates,
            "steps": len(self.g),
            "g_final": self.g_final,
            "residual": self.residual,
            "jitter": self.jitter,
            "sem": self.sem,
            "pulses": self.pulses,
        }


def run_sgd(dev: Device, g0: float, settings: RegressionSettings) -> RegressionRun:
    """SGD on dev1 (main) against dev2 (reference) from g_start to the optimum g0."""
    s, n = settings.noise, settings.steps
    _program(dev, dev.dev1, dev.siemens(settings.g_start))
    w = DifferentialArray(dev.dev1, dev.dev2, dev.mapping)
    w0 = g0 - dev.g_ref
    rng = np.random.default_rng([settings.seed, 10, round(1000 * g0)])
    g = np.empty(n)
    pulses = 0
    for t in range(n):
        y = float(w.forward(ONE)[0])
        g[t] = dev.g_ref + y
        grad = y - w0 + s * rng.standard_normal()
        pulses += _update(w, -grad, settings.sgd_lr, dev, settings.bl_max)
    return _finish("sgd", dev, g0, settings, rates={"lr": settings.sgd_lr}, g=g, a=None, pulses=pulses)


def run_shd(dev: Device, g0: float, settings: RegressionSettings) -> RegressionRun:
    """SHD with A = dev1 - dev2 and C = dev3 - dev2, from A = 0 and C at g_start."""
    s, n = settings.noise, settings.steps
    _program(dev, dev.dev1, dev.siemens(dev.g_ref))  # A = 0: A_main onto the reference
    _program(dev, dev.dev3, dev.siemens(settings.g_start))
    a = DifferentialArray(dev.dev1, dev.dev2, dev.mapping)
    c = DifferentialArray(dev.dev3, dev.dev2, dev.mapping)
    w0 = g0 - dev.g_ref
    rng = np.random.default_rng([settings.seed, 20, round(1000 * g0)])
    g = np.empty(n)
    a_read = np.full(n, np.nan)
    pulses = 0
    for t in range(n):
        y = float(c.forward(ONE)[0])  # I (and II is trivial: one weight)
        g[t] = dev.g_ref + y
        grad = y - w0 + s * rng.standard_normal()
        pulses += _update(a, -grad, settings.eta_a, dev, settings.bl_max)  # III
        if (t + 1) % settings.tau == 0:
            v = float(a.forward(ONE)[0])  # IV
            a_read[t] = v
            pulses += _update(c, v, settings.eta_c, dev, settings.bl_max)  # V
    rates = {"eta_a": settings.eta_a, "eta_c": settings.eta_c, "tau": settings.tau}
    return _finish("shd", dev, g0, settings, rates=rates, g=g, a=a_read, pulses=pulses)


def run_orbit(dev: Device, settings: RegressionSettings) -> RegressionRun:
    """The phase-portrait run: SHD from C at orbit_g_start towards orbit_g0, A = 0, with the
    orbit noise and rates."""
    orbit = replace(
        settings,
        eta_a=settings.orbit_eta_a,
        eta_c=settings.orbit_eta_c,
        noise=settings.orbit_noise,
        g_start=settings.orbit_g_start,
        steps=settings.orbit_steps,
        average_last=min(settings.average_last, settings.orbit_steps),
    )
    return run_shd(dev, settings.orbit_g0, orbit)


def orbit_energy_ratio(run: RegressionRun, smooth: int, window: int | None = None) -> float:
    """sqrt of the oscillator energy late over early: H = (C - C_0)^2 + (eta_c / (tau eta_a)) A^2.

    Without dissipation (symmetric devices, no noise) H is conserved by the SHD equations of
    motion (dH/dt = 0 for A' = -eta_a (C - C_0), C' = eta_c A / tau), and noise only adds to it
    on average: the ratio stays near 1. Asymmetry damps A, so H decays and the ratio drops
    well below 1. C and A are smoothed over `smooth` transfers (see smoothed_orbit) so that
    read noise does not set a floor; windows: the first and last `window` transfers (default a
    quarter of the run).
    """
    x, a = smoothed_orbit(run, smooth)
    w = window or max(1, len(x) // 4)
    h = x**2 + run.rates["eta_c"] / (run.rates["tau"] * run.rates["eta_a"]) * a**2
    return float(np.sqrt(np.mean(h[-w:]) / np.mean(h[:w])))


def smoothed_orbit(run: RegressionRun, smooth: int) -> tuple[FloatArray, FloatArray]:
    """(C - C_0, A) at the transfers, each a moving average over `smooth` transfers: it removes
    the read noise of single VMMs (a few % of the range) while keeping the orbit, whose period
    2 pi sqrt(tau / (eta_a eta_c)) transfers is far longer."""
    if run.a is None:
        raise ValueError("the orbit needs an SHD run (it has A)")
    idx = np.flatnonzero(np.isfinite(run.a))
    x, a = run.g[idx] - run.g0, run.a[idx]
    k = max(1, min(int(smooth), len(idx)))
    kernel = np.ones(k) / k
    return np.convolve(x, kernel, mode="valid"), np.convolve(a, kernel, mode="valid")


def _update(array: DifferentialArray, d: float, lr: float, dev: Device, bl_max: int) -> int:
    """Stochastic update of expected change lr * d; returns the pulses fired (0 if unreported)."""
    pulses = array.update(ONE, np.array([d]), lr, dev.dw_min, dev.pulse, bl_max).pulses
    return 0 if pulses is None else pulses


def _program(dev: Device, backend: CrossbarBackend, target: float) -> None:
    step = dev.step * dev.span
    prog = program_conductances(backend, np.full((1, 1), target), dev.pulse, tolerance=step, step=step)
    dev.serial["programming_iterations"] = dev.serial.get("programming_iterations", 0) + prog.iterations


def _finish(
    algorithm: str,
    dev: Device,
    g0: float,
    settings: RegressionSettings,
    *,
    rates: dict[str, float],
    g: FloatArray,
    a: FloatArray | None,
    pulses: int,
) -> RegressionRun:
    """The run's record: G_final, its jitter and its standard error over the last
    settings.average_last steps (a: A read at each transfer for SHD, None for SGD)."""
    tail = g[-settings.average_last :]
    sem = _standard_error(tail)
    g_final = float(tail.mean())
    jitter = float(tail.std())
    return RegressionRun(
        algorithm, dev.preset, g0, settings.noise, rates, g, a, g_final, g_final - g0, jitter, sem, pulses
    )


def _standard_error(x: FloatArray) -> float:
    """Standard error of the mean of a correlated series: sqrt(var * tau_int / n).

    tau_int = 1 + 2 sum(rho_k), summed over Geyer's initial positive sequence (stop at the
    first pair rho_2m + rho_2m+1 <= 0); successive reads of a trained parameter are strongly
    correlated (relaxation over ~1 / (lr (1 + k)) updates), so std / sqrt(n) would understate it.
    """
    n = len(x)
    if n < 4:
        return math.nan
    d = x - x.mean()
    spectrum = np.fft.rfft(d, n=2 * n)
    acov = np.fft.irfft(spectrum * np.conj(spectrum), n=2 * n)[:n] / n
    if acov[0] <= 0:
        return 0.0
    rho = acov / acov[0]
    m = n // 2
    pairs = rho[0 : 2 * m : 2] + rho[1 : 2 * m : 2]
    keep = np.cumprod(pairs > 0).astype(bool)
    tau = max(2.0 * float(np.sum(pairs[keep])) - 1.0, 1.0)
    return float(np.sqrt(acov[0] * tau / n))
