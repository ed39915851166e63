"""Statistical behaviour of the simulator against closed forms.

Every check uses a fixed seed and a tolerance of Z standard errors, the standard error
derived from the model's own closed-form variance (not fitted to the output): a correct
simulator fails one check with probability ~6e-5, a wrong mean or scale by a few percent
fails it reliably with these sample sizes.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import chi2

from hil import DifferentialArray, Pulse, WeightMapping, plan_update
from hil.jumptable import JumpTable
from simulators.crossbar import SimulatedCrossbar
from simulators.presets import PRESETS

Z = 4.0
NOMINAL = PRESETS["protonic-asymmetric"].nominal_pulse
STRONG = Pulse(6.5, 10e-9)  # m = 3.37 for the protonic presets


def sim_of(name: str, shape: tuple[int, int], seed: int, **kw) -> SimulatedCrossbar:
    """Variation and cycle-to-cycle noise of the preset; no stuck devices, exact reads unless overridden."""
    settings = {"stuck_fraction": 0.0, "read_noise": 0.0, "vmm_noise": 0.0, **kw}
    return SimulatedCrossbar.from_preset(name, shape, seed=seed, **settings)


def normalised(sim: SimulatedCrossbar) -> np.ndarray:
    p = sim.device_parameters()
    return (sim.conductance - p.g_min) / p.span


# ------------------------------------------------------------------ n same-sign pulses
@pytest.mark.parametrize("pulse", [NOMINAL, STRONG])
def test_same_sign_soft_bounds_pulses_follow_the_closed_form(pulse: Pulse) -> None:
    sim = sim_of("protonic-asymmetric", (40, 100), seed=21)
    p, s, n = sim.device_parameters(), sim.config.c2c_noise, 150
    x0 = normalised(sim)
    m = sim.pulse_factor(pulse)
    up = np.zeros(sim.shape, dtype=bool)
    up[:20] = True
    sim.apply_pulses(np.where(up, n, -n), pulse)
    x = normalised(sim)
    # Up: 1 - x_n = (1 - x0) prod_k (1 - a m (1 + s xi_k)); down: x_n = x0 prod_k (same form, a = a-).
    # Independent factors of mean (1 - a m) and second moment (1 - a m)^2 + (a m s)^2, so
    # E[x_n] = 1 - (1 - x0)(1 - a m)^n exactly (no step reaches a bound: a m (1 + s xi) << 1), and
    # Var = start^2 [((1 - a m)^2 + (a m s)^2)^n - (1 - a m)^(2n)] per device.
    am = np.where(up, p.step_up, p.step_down) * m
    start = np.where(up, 1 - x0, x0)
    expected = np.where(up, 1 - start * (1 - am) ** n, start * (1 - am) ** n)
    var = start**2 * (((1 - am) ** 2 + (am * s) ** 2) ** n - (1 - am) ** (2 * n))
    for part in (up, ~up):
        se = np.sqrt(var[part].sum()) / part.sum()
        assert abs(np.mean(x[part] - expected[part])) < Z * se
    # The pulses did move the state far: the check is not trivially satisfied.
    assert np.mean(np.abs(x - x0)) > 0.1


# ------------------------------------------------------------------ symmetry points
def test_soft_bounds_symmetry_point() -> None:
    sim = sim_of("protonic-asymmetric", (20, 20), seed=22)
    p = sim.device_parameters()
    closed = (p.step_up * p.g_max + p.step_down * p.g_min) / (p.step_up + p.step_down)
    np.testing.assert_allclose(sim.symmetry_points(), closed, rtol=1e-12)
    sim.set_conductance(closed)
    up, down = sim.expected_step(NOMINAL)
    np.testing.assert_allclose(up, down, rtol=1e-9)
    # Without variation the preset's point is 2/3 of the way up its range (a+ = 2 a-).
    nominal = sim_of(
        "protonic-asymmetric", (1, 1), seed=0, dtod_bounds=0.0, dtod_step=0.0, dtod_imbalance=0.0
    )
    assert nominal.symmetry_points()[0, 0] == pytest.approx(1e-6 + 19e-6 * 2 / 3, rel=1e-12)


def test_linear_step_symmetry_point() -> None:
    sim = sim_of("protonic-near-symmetric", (20, 20), seed=23)
    p, c = sim.device_parameters(), sim.config
    x = (p.step_up - p.step_down + p.step_down * c.gamma_down) / (
        p.step_up * c.gamma_up + p.step_down * c.gamma_down
    )
    inside = (x >= 0) & (x <= 1)
    closed = np.where(inside, p.g_min + x * p.span, np.nan)
    np.testing.assert_allclose(sim.symmetry_points(), closed, rtol=1e-12)
    assert inside.mean() > 0.9  # the preset's imbalance leaves most points inside the range
    sim.set_conductance(np.where(inside, closed, sim.conductance))
    up, down = sim.expected_step(NOMINAL)
    np.testing.assert_allclose(up[inside], down[inside], rtol=1e-9)
    # Up steps everywhere larger than down steps: no point inside the range.
    lopsided = sim_of(
        "protonic-near-symmetric", (2, 2), seed=0, step_up=0.002, dtod_imbalance=0.0, dtod_step=0.0
    )
    assert np.all(np.isnan(lopsided.symmetry_points()))
    # Constant symmetric steps: every state is symmetric, so there is no unique point.
    assert np.all(np.isnan(sim_of("ideal", (2, 2), seed=0).symmetry_points()))


def test_power_step_symmetry_point_is_where_steps_are_equal() -> None:
    sim = sim_of("protonic-asymmetric", (10, 10), seed=24, model="power-step", gamma_up=0.4, gamma_down=1.7)
    g_sym = sim.symmetry_points()
    assert np.all(np.isfinite(g_sym))
    sim.set_conductance(g_sym)
    up, down = sim.expected_step(NOMINAL)
    np.testing.assert_allclose(up, down, rtol=1e-9)
    flat = sim_of("protonic-asymmetric", (2, 2), seed=0, model="power-step", gamma_up=0.0, gamma_down=0.0)
    assert np.all(np.isnan(flat.symmetry_points()))


# ------------------------------------------------------------------ alternating pulses
def test_alternating_pulses_follow_the_pair_map_to_the_symmetry_point() -> None:
    sim = sim_of("protonic-asymmetric", (40, 50), seed=25)
    p, s = sim.device_parameters(), sim.config.c2c_noise
    m = sim.pulse_factor(STRONG)
    au, ad = p.step_up * m, p.step_down * m
    sim.set_conductance(p.g_min + 0.1 * p.span)  # far below every device's symmetry point
    # One pair (up then down): x' = D (U + (1 - U) x), U = a+(1 + s xi), D = 1 - a-(1 + s xi').
    # Linear in x with independent U, D, so the first two moments follow exactly:
    eu, eu2 = au, au**2 * (1 + s**2)
    ed, ed2 = 1 - ad, (1 - ad) ** 2 + (ad * s) ** 2
    m1, m2 = np.full(sim.shape, 0.1), np.full(sim.shape, 0.01)
    ones = np.ones(sim.shape, dtype=int)
    checkpoints = {20, 200, 1000}
    for k in range(1, max(checkpoints) + 1):
        sim.apply_pulses(ones, STRONG)
        sim.apply_pulses(-ones, STRONG)
        m1, m2 = ed * (eu + (1 - eu) * m1), ed2 * (eu2 + 2 * (eu - eu2) * m1 + (1 - 2 * eu + eu2) * m2)
        if k in checkpoints:
            se = np.sqrt(np.sum(m2 - m1**2)) / m1.size
            assert abs(np.mean(normalised(sim) - m1)) < Z * se, k
    # The map's fixed point x* = (1 - a-) a+ / (a+ + a- - a+ a-); after 1000 pairs the mean has
    # reached it (to far below the standard error) ...
    x_star = (1 - ad) * au / (au + ad - au * ad)
    assert np.mean(np.abs(m1 - x_star)) < 0.05 * se
    # ... and x* lies within one step of the symmetry point (just below it: the last pulse was down).
    x_sym = (sim.symmetry_points() - p.g_min) / p.span
    step_at_sym = au * ad / (au + ad)
    assert np.all(np.abs(x_star - x_sym) < step_at_sym) and np.all(x_star < x_sym)
    # Mean drift per pair is -(a+ + a-)(x - x_sym) to first order: the gap closed from 0.1 to x*.
    assert np.mean(np.abs(normalised(sim) - x_sym)) < 0.02


# ------------------------------------------------------------------ stochastic update
def test_stochastic_update_has_expected_change_lr_x_d() -> None:
    # Constant step (linear step, gamma 0): no saturation, so every pulse is worth dw_min.
    main = sim_of("ideal", (4, 3), seed=300, c2c_noise=0.3)
    ref = sim_of("ideal", (4, 3), seed=301)
    mapping = WeightMapping.for_backend(main)
    arrays = DifferentialArray(main, ref, mapping)
    c = main.config
    dw_min = mapping.dw(c.step_up * (c.g_max - c.g_min))
    # lr / dw_min x_max d_max = 4.4 pulses: BL management picks bl = 5 and max p = max q < 1.
    x, d, lr = np.array([1.0, -0.5, 0.25, 0.0]), np.array([0.8, -0.3, 0.1]), 0.011
    plan = plan_update(x, d, lr, dw_min)
    assert not plan.clipped
    g0, reps = main.conductance, 800
    dw = np.empty((reps, *main.shape))
    for r in range(reps):
        main.set_conductance(g0)
        w0 = arrays.weights()
        arrays.update(x, d, lr, dw_min, NOMINAL)
        dw[r] = arrays.weights() - w0
    # Per update: n ~ Binomial(bl, |p_i q_j|) pulses of dw_min (1 + s xi) each, so
    # E = lr x_i d_j and Var = dw_min^2 bl pq (1 - pq + s^2).
    pq = np.abs(np.outer(plan.p, plan.q))
    se = np.sqrt(dw_min**2 * plan.bl * pq * (1 - pq + c.c2c_noise**2) / reps)
    target = lr * np.outer(x, d)
    assert np.all(np.abs(dw.mean(axis=0) - target) <= Z * se)
    assert np.all(dw[:, 3, :] == 0)  # x_3 = 0: its row never fires


# ------------------------------------------------------------------ measurement noise
def test_read_noise_is_unbiased_with_the_configured_std() -> None:
    sim = sim_of("protonic-asymmetric", (50, 80), seed=28, read_noise=5e-4)
    sigma = 5e-4 * (sim.config.g_max - sim.config.g_min)
    g = sim.conductance
    r = np.concatenate([(sim.read() - g).ravel() for _ in range(10)])
    r = np.concatenate([r, sim.read(np.ones(sim.shape, dtype=bool)) - g.ravel()])
    n = r.size
    assert abs(r.mean()) < Z * sigma / np.sqrt(n)
    # sum r^2 / sigma^2 ~ chi-square with n degrees of freedom (the true mean is known):
    # accept between its 1e-5 and 1 - 1e-5 quantiles (about 4.3 sigma each side).
    stat = np.sum(r**2) / sigma**2
    assert chi2.ppf(1e-5, n) < stat < chi2.ppf(1 - 1e-5, n)
    # Fresh noise per read: consecutive reads uncorrelated (SE of a correlation ~ 1/sqrt(n)).
    a, b = (sim.read() - g).ravel(), (sim.read() - g).ravel()
    assert abs(np.corrcoef(a, b)[0, 1]) < Z / np.sqrt(a.size)


def test_vmm_output_noise_has_the_documented_scale() -> None:
    sim = sim_of("protonic-asymmetric", (30, 40), seed=29, vmm_noise=0.02)
    c = sim.config
    sigma = c.vmm_noise * c.read_voltage * (c.g_max - c.g_min)  # amperes
    g = sim.conductance
    v = np.tile(np.linspace(-0.1, 0.1, 30), (2000, 1))
    u = np.tile(np.linspace(0.1, -0.05, 40), (2000, 1))
    r = np.concatenate([(sim.vmm(v) - v @ g).ravel(), (sim.vmm_transposed(u) - u @ g.T).ravel()])
    n = r.size
    assert abs(r.mean()) < Z * sigma / np.sqrt(n)
    stat = np.sum(r**2) / sigma**2  # chi-square, n degrees of freedom; 1e-5 tails as above
    assert chi2.ppf(1e-5, n) < stat < chi2.ppf(1 - 1e-5, n)


# ------------------------------------------------------------------ pulse amplitude and width
def test_mean_step_grows_with_amplitude_and_width_as_m_says() -> None:
    sim = sim_of("protonic-asymmetric", (40, 50), seed=30)
    p, s = sim.device_parameters(), sim.config.c2c_noise
    half = p.g_min + 0.5 * p.span
    ones = np.ones(sim.shape, dtype=int)
    by_amplitude = [Pulse(v, 5e-9) for v in (5.0, 6.0, 6.5, 7.0)]
    by_width = [Pulse(6.0, w) for w in (2e-9, 5e-9, 20e-9)]
    means = {}
    for pulse in by_amplitude + by_width:
        sim.set_conductance(half)
        sim.apply_pulses(ones, pulse)
        dx = normalised(sim) - 0.5
        # One up pulse from x = 1/2: dx = a+ m (1/2)(1 + s xi): mean a+ m / 2, std a+ m s / 2.
        m = sim.pulse_factor(pulse)
        expected = p.step_up * m * 0.5
        se = np.sqrt(np.sum((expected * s) ** 2)) / dx.size
        assert abs(np.mean(dx - expected)) < Z * se, pulse
        means[pulse] = dx.mean()
    for series in (by_amplitude, by_width):
        assert all(means[a] < means[b] for a, b in itertools.pairwise(series))


# ------------------------------------------------------------------ table-driven devices
def synthetic_table(rng: np.random.Generator) -> JumpTable:
    """Up steps normal around a soft-bounds-like mean, down steps skewed (gamma distributed)."""
    n = 40_000
    g = rng.uniform(1e-6, 20e-6, 2 * n)
    frac = (g - 1e-6) / 19e-6
    mu_up, mu_down = 30e-9 * (1 - frac[:n]) + 5e-9, 30e-9 * frac[n:] + 5e-9
    dg = np.r_[rng.normal(mu_up, 8e-9), -rng.gamma(3.0, mu_down / 3.0)]
    direction = np.r_[np.ones(n), -np.ones(n)]
    return JumpTable.from_samples(g, dg, direction, n_bins=10, g_range=(1e-6, 20e-6), pulse=Pulse(6.0, 5e-9))


def quantile_function_stats(table: JumpTable, direction: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact std of what sample() draws, and the SE factor of its half 16-84 % range, per bin.

    sample() draws from the piecewise-linear quantile function Q(u): E[Q^2] sums
    du (q0^2 + q0 q1 + q1^2) / 3 over segments. A sample quantile at p has asymptotic variance
    p (1 - p) / (M f^2), f = du/dq the density on p's segment, and two quantiles p1 < p2 have
    covariance p1 (1 - p2) / (M f1 f2); the half range (q84 - q16) / 2 has the combination below.
    """
    q, du = table.quantiles(direction), np.diff(table.levels)
    q0, q1 = q[:, :-1], q[:, 1:]
    mean = table.mean(direction)
    std = np.sqrt(np.sum(du * (q0**2 + q0 * q1 + q1**2) / 3, axis=1) - mean**2)
    k1, k2 = (np.searchsorted(table.levels, lv, side="right") - 1 for lv in (0.16, 0.84))
    f1, f2 = du[k1] / (q1[:, k1] - q0[:, k1]), du[k2] / (q1[:, k2] - q0[:, k2])
    p1, p2 = 0.16, 0.84
    half_range_var = (p1 * (1 - p1) / f1**2 + p2 * (1 - p2) / f2**2 - 2 * p1 * (1 - p2) / (f1 * f2)) / 4
    return std, np.sqrt(half_range_var)


@pytest.mark.parametrize(("direction", "width"), [(1, 5e-9), (-1, 5e-9), (1, 10e-9)])
def test_table_device_reproduces_its_table(direction: int, width: float) -> None:
    table = synthetic_table(np.random.default_rng(31))
    per_bin = 2000
    sim = SimulatedCrossbar.from_jump_table(table, (table.n_bins, per_bin), seed=32)
    assert sim.conductance_range == (1e-6, 20e-6)
    start = np.broadcast_to(table.centers[:, None], sim.shape)
    sim.set_conductance(start)
    pulse = Pulse(6.0, width)
    m = sim.pulse_factor(pulse)  # 1 at the table's own pulse, 2 at twice its width
    assert m == pytest.approx(width / 5e-9, rel=1e-12)
    sim.apply_pulses(np.full(sim.shape, direction), pulse)
    dg = sim.conductance - start
    std, half_range_se = quantile_function_stats(table, direction)
    # Mean per state: within Z SE, SE = m std / sqrt(M).
    mean_err = dg.mean(axis=1) - m * table.mean(direction)
    assert np.all(np.abs(mean_err) < Z * m * std / np.sqrt(per_bin))
    # Spread per state (half the 16-84 % range): within Z SE of the sample quantiles.
    lo, hi = np.quantile(dg, [0.16, 0.84], axis=1)
    spread_err = 0.5 * (hi - lo) - m * table.spread(direction)
    assert np.all(np.abs(spread_err) < Z * m * half_range_se / np.sqrt(per_bin))
    up, down = sim.expected_step(pulse)
    # The expected step at the state the pulse left: the bin means interpolated between centres.
    expected = m * table.mean_at(sim.conductance[:, 0], direction)
    np.testing.assert_allclose((up if direction == 1 else -down)[:, 0], expected, rtol=1e-12)
