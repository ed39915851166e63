"""hil.jumptable.JumpTable: building, reading, sampling, files, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hil.jumptable import JumpTable, OldTableWarning, ReadNoise, read_noise_from_steps
from hil.pulses import Pulse
from simulators.crossbar import SimulatedCrossbar


def test_from_samples_bins_and_counts() -> None:
    g = np.array([1.0, 1.5, 2.5, 3.5, 3.9, 1.2]) * 1e-6
    dg = np.array([1.0, 2.0, 3.0, -4.0, -5.0, -6.0]) * 1e-9
    direction = np.array([1, 1, 1, -1, -1, -1])
    t = JumpTable.from_samples(g, dg, direction, n_bins=3, n_quantiles=5)
    np.testing.assert_allclose(t.g_edges, np.linspace(1e-6, 3.9e-6, 4))
    np.testing.assert_array_equal(t.up_counts, [2, 1, 0])
    np.testing.assert_array_equal(t.down_counts, [1, 0, 2])
    np.testing.assert_allclose(t.levels, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(t.up[0], np.quantile([1e-9, 2e-9], t.levels))
    np.testing.assert_allclose(t.centers, 0.5 * (t.g_edges[1:] + t.g_edges[:-1]))
    # The top edge (the largest g_start) belongs to the last bin.
    assert t.bin_of(3.9e-6) == 2


def test_empty_bins_borrow_the_nearest_filled_bin() -> None:
    edges = np.linspace(0.0, 5.0, 6)
    centers = 0.5 * (edges[1:] + edges[:-1])
    # Samples only in bins 0 and 4; bin 2 is equidistant and takes the lower one.
    g = np.concatenate([np.full(3, centers[0]), np.full(3, centers[4])])
    dg = np.array([1.0, 2.0, 3.0, 10.0, 20.0, 30.0])
    t = JumpTable.from_samples(np.r_[g, g], np.r_[dg, -dg], np.r_[np.ones(6), -np.ones(6)], n_bins=5,
                               g_range=(0.0, 5.0))  # fmt: skip
    np.testing.assert_array_equal(t.up_counts, [3, 0, 0, 0, 3])
    np.testing.assert_allclose(t.median(1), [2.0, 2.0, 2.0, 20.0, 20.0])
    np.testing.assert_allclose(t.median(-1), [-2.0, -2.0, -2.0, -20.0, -20.0])


def test_statistics_of_a_known_distribution() -> None:
    # 20000 normal steps per direction in one bin: median and spread (half the 16-84 % range,
    # = sigma for a normal) are within 4 standard errors. SE(median) = 1.2533 sigma / sqrt(n);
    # SE(half range) = 0.964 sigma / sqrt(n) for a normal (asymptotic quantile variances
    # p(1-p)/(n f^2) and their covariance).
    rng = np.random.default_rng(5)
    n, mu, sigma = 20_000, 40e-9, 10e-9
    g = rng.uniform(5e-6, 6e-6, 2 * n)
    dg = np.r_[rng.normal(mu, sigma, n), rng.normal(-mu, sigma, n)]
    t = JumpTable.from_samples(g, dg, np.r_[np.ones(n), -np.ones(n)], n_bins=1)
    assert abs(t.median(1)[0] - mu) < 4 * 1.2533 * sigma / np.sqrt(n)
    assert abs(t.median(-1)[0] + mu) < 4 * 1.2533 * sigma / np.sqrt(n)
    assert abs(t.spread(1)[0] - sigma) < 4 * 0.964 * sigma / np.sqrt(n)
    # The mean of the piecewise-linear quantile function is within 4 SE of the true mean.
    assert abs(t.mean(-1)[0] + mu) < 4 * sigma / np.sqrt(n)


def test_sample_interpolates_quantiles_within_the_bin() -> None:
    levels = np.array([0.0, 0.5, 1.0])
    up = np.array([[0.0, 2.0, 4.0], [10.0, 20.0, 40.0]])
    t = JumpTable(np.array([0.0, 1.0, 2.0]), levels, up, -up[:, ::-1], np.array([1, 1]), np.array([1, 1]))
    g = np.array([0.5, 0.5, 1.5, 1.5, 1.5, -3.0, 9.0])
    u = np.array([0.25, 1.0, 0.0, 0.5, 0.75, 0.5, 0.5])
    np.testing.assert_allclose(t.sample(g, 1, u), [1.0, 4.0, 10.0, 20.0, 30.0, 2.0, 20.0])
    np.testing.assert_allclose(t.sample(g[:2], -1, u[:2]), [-3.0, 0.0])
    np.testing.assert_allclose(t.sample(g[:2], np.array([1, -1]), u[:2]), [1.0, 0.0])
    # Mean of the interpolated quantile function: trapezoid over the levels.
    np.testing.assert_allclose(t.mean(1), [2.0, 22.5])


def test_save_load_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(1)
    g = rng.uniform(1e-6, 20e-6, 5000)
    dg = rng.normal(0, 1e-8, 5000)
    s = np.where(rng.random(5000) < 0.5, 1, -1)
    for pulse in (Pulse(6.0, 5e-9), None):
        t = JumpTable.from_samples(g, dg, s, n_bins=7, n_quantiles=11, pulse=pulse)
        path = t.save(tmp_path / "table")
        assert path.suffix == ".npz"
        back = JumpTable.load(path)
        for name in ("g_edges", "levels", "up", "down", "up_counts", "down_counts"):
            np.testing.assert_array_equal(getattr(back, name), getattr(t, name))
        assert back.pulse == pulse


def test_load_rejects_other_files(tmp_path) -> None:
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a jump table"):
        JumpTable.load(tmp_path / "other.npz")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"g_start": [1.0, 2.0], "dg": [1.0], "direction": [1, -1]}, "equal lengths"),
        ({"g_start": [1.0, np.nan], "dg": [1.0, 1.0], "direction": [1, -1]}, "NaN or inf"),
        ({"g_start": [1.0, 2.0], "dg": [1.0, 1.0], "direction": [1, 0]}, r"\+1"),
        ({"g_start": [1.0, 2.0], "dg": [1.0, 1.0], "direction": [1, 1]}, "no down"),
        ({"g_start": [], "dg": [], "direction": []}, "no samples"),
        ({"g_start": [1.0, 1.0], "dg": [1.0, 1.0], "direction": [1, -1]}, "g_range"),
        ({"g_start": [1.0, 2.0], "dg": [1.0, 1.0], "direction": [1, -1], "n_bins": 0}, "n_bins"),
        ({"g_start": [1.0, 2.0], "dg": [1.0, 1.0], "direction": [1, -1], "n_quantiles": 1}, "n_quantiles"),
        ({"g_start": [1.0, 2.0], "dg": [1.0, 1.0], "direction": [1, -1], "g_range": (3.0, 2.0)}, "g_range"),
    ],
)
def test_bad_samples_raise(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        JumpTable.from_samples(**kwargs)


def test_bad_tables_and_queries_raise() -> None:
    edges, levels = np.array([0.0, 1.0]), np.array([0.0, 1.0])
    q, c = np.array([[0.0, 1.0]]), np.array([1])
    with pytest.raises(ValueError, match="strictly increasing"):
        JumpTable(np.array([1.0, 0.0]), levels, q, q, c, c)
    with pytest.raises(ValueError, match="from 0 to 1"):
        JumpTable(edges, np.array([0.1, 1.0]), q, q, c, c)
    with pytest.raises(ValueError, match="must not decrease"):
        JumpTable(edges, levels, q[:, ::-1], q, c, c)
    with pytest.raises(ValueError, match="expected shape"):
        JumpTable(edges, levels, np.zeros((2, 2)), q, c, c)
    t = JumpTable(edges, levels, q, q, c, c)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        t.sample([0.5], 1, [1.5])
    with pytest.raises(ValueError, match="direction"):
        t.median(0)
    with pytest.raises(ValueError, match="shape"):
        t.sample([0.5, 0.5], 1, [0.5])


# ------------------------------------------------------------------ read noise apart from the steps
def noisy_trains(
    rng: np.random.Generator, *, sigma_r: float, s: float, n_trains: int = 10, length: int = 100
):
    """Reads of one device: trains of `length` up then down pulses of mean ±40 nS and Gaussian
    cycle-to-cycle spread s (siemens, independent per pulse), every read with white noise sigma_r.
    Returns (dg (pulses, 1), direction (pulses,), true step changes)."""
    direction = np.tile(np.r_[np.ones(length), -np.ones(length)], n_trains).astype(np.int64)
    true_steps = direction * 40e-9 + s * rng.standard_normal(direction.size)
    g = 10e-6 + np.concatenate([[0.0], np.cumsum(true_steps)])
    reads = g + sigma_r * rng.standard_normal(g.size)
    return np.diff(reads)[:, None], direction, true_steps


def test_read_noise_from_steps_is_unbiased_with_an_honest_standard_error() -> None:
    # 40 independent measurements of 2000 steps each: the z-scores (estimate - truth) / stderr
    # of the variance have mean 0 and std 1 within their sampling error (SE of the mean of 40:
    # 0.16; of the std: 0.11; bounds at ~3.5 of these).
    z = []
    for seed in range(40):
        dg, direction, _ = noisy_trains(np.random.default_rng(seed), sigma_r=10e-9, s=6e-9)
        est = read_noise_from_steps(dg, direction)
        z.append((est.variance - 1e-16) / est.variance_stderr)
    z = np.asarray(z)
    assert abs(z.mean()) < 0.55
    assert 0.65 < z.std(ddof=1) < 1.4


def test_read_noise_from_steps_is_unbiased_under_a_drifting_multiplicative_step() -> None:
    # Soft-bounds trains: the mean step decays along each train of 200 pulses (by e^-0.6) and
    # the cycle-to-cycle spread is 30 % of the step, so the variance of the steps changes along
    # a run too. The trend fit and the closed-form moments leave sigma_r^2 unbiased: over 30
    # independent measurements the z-scores have mean 0 (SE 0.18; bound ~3.5 SE) and std ~1.
    z = []
    for seed in range(30):
        rng = np.random.default_rng(100 + seed)
        direction = np.tile(np.r_[np.ones(200), -np.ones(200)], 4).astype(np.int64)
        x, steps = 0.5, []
        for sign in direction:
            mean = 0.003 * (1.0 - x) if sign > 0 else -0.0015 * x
            step = mean * (1.0 + 0.3 * rng.standard_normal())
            x += step
            steps.append(step)
        g = 1e-6 + 19e-6 * np.r_[0.5, 0.5 + np.cumsum(steps)]
        reads = g + 10e-9 * rng.standard_normal(g.size)
        est = read_noise_from_steps(np.diff(reads), direction)
        z.append((est.variance - 1e-16) / est.variance_stderr)
    z = np.asarray(z)
    assert abs(z.mean()) < 0.6
    assert 0.6 < z.std(ddof=1) < 1.5


def test_read_noise_from_steps_breaks_chains_and_needs_enough_pairs() -> None:
    dg, direction, _ = noisy_trains(np.random.default_rng(3), sigma_r=10e-9, s=6e-9)
    whole = read_noise_from_steps(dg, direction)
    # A break removes the two triples that would span it; NaN steps remove theirs.
    assert read_noise_from_steps(dg, direction, breaks=[50]).pairs == whole.pairs - 1
    dg_nan = dg.copy()
    dg_nan[60] = np.nan
    assert read_noise_from_steps(dg_nan, direction).pairs == whole.pairs - 2
    # Trains of 2 pulses have no triple of one direction.
    with pytest.raises(ValueError, match="too few"):
        read_noise_from_steps(dg[:40], np.tile([1, 1, -1, -1], 10))
    # Without read noise the estimate is zero within its standard error.
    dg0, direction0, _ = noisy_trains(np.random.default_rng(4), sigma_r=0.0, s=6e-9)
    quiet = read_noise_from_steps(dg0, direction0)
    assert abs(quiet.variance) < 4 * quiet.variance_stderr


def test_deconvolved_table_keeps_the_cycle_to_cycle_spread_and_the_mean() -> None:
    # Steps of spread s = 6 nS read with 10 nS noise: the measured spread is sqrt(s² + 2σ_r²) =
    # 15.4 nS; the deconvolved bins hold s. One bin, 20000 steps per direction: SE of the
    # variance V (~237 nS²) is V sqrt(2/n) = 2.4 nS² and of 2σ_r² about 2 x 1.5 nS², so s² = 36
    # nS² is known to ~4 nS² and s to ~0.35 nS; the bound is 4 such errors.
    rng = np.random.default_rng(11)
    dg, direction, _ = noisy_trains(rng, sigma_r=10e-9, s=6e-9, n_trains=100)
    g_start = np.full(direction.size, 10e-6) + rng.uniform(0, 1e-6, direction.size)
    noise = read_noise_from_steps(dg, direction)
    assert abs(noise.sigma - 10e-9) < 4 * noise.stderr
    raw = JumpTable.from_samples(g_start, dg[:, 0], direction, n_bins=1)
    table = JumpTable.from_samples(g_start, dg[:, 0], direction, n_bins=1, read_noise=noise)
    assert table.read_noise == pytest.approx(noise.sigma) and table.read_noise_se == pytest.approx(
        noise.stderr
    )
    assert abs(raw.spread(1)[0] - np.hypot(6e-9, np.sqrt(2) * 10e-9)) < 0.5e-9
    for sign in (1, -1):
        assert abs(table.spread(sign)[0] - 6e-9) < 1.4e-9
        assert table.mean(sign)[0] == pytest.approx(raw.mean(sign)[0], rel=1e-3)  # the mean stays


def test_smoothing_recovers_a_linear_mean_step_across_bins() -> None:
    # A mean step linear in G, 30 steps per bin of spread 15 nS: each bin's own mean scatters
    # by 2.7 nS, the smoothed means lie on the line within 1 nS (local linear regression
    # is unbiased for a line; its SE at a kernel of 0.15 of the range is ~0.6 nS).
    rng = np.random.default_rng(12)
    g = rng.uniform(10e-6, 15e-6, 3000)
    mean = 40e-9 * (15e-6 - g) / 5e-6
    dg = mean + 15e-9 * rng.standard_normal(g.size)
    ones = np.ones(g.size)
    table = JumpTable.from_samples(np.r_[g, g], np.r_[dg, -dg], np.r_[ones, -ones], n_bins=50, smoothing=0.15)
    line = 40e-9 * (15e-6 - table.centers) / 5e-6
    assert np.max(np.abs(table.mean(1) - line)) < 1e-9
    raw = JumpTable.from_samples(np.r_[g, g], np.r_[dg, -dg], np.r_[ones, -ones], n_bins=50)
    assert np.max(np.abs(raw.mean(1) - line)) > 4e-9


def test_sample_interpolates_between_bin_centres() -> None:
    levels = np.array([0.0, 0.5, 1.0])
    up = np.array([[0.0, 2.0, 4.0], [10.0, 20.0, 40.0]])
    t = JumpTable(np.array([0.0, 1.0, 2.0]), levels, up, -up[:, ::-1], np.array([1, 1]), np.array([1, 1]))
    # Centres 0.5 and 1.5: at 1.0 halfway between the bins' quantiles at the same level.
    np.testing.assert_allclose(t.sample([1.0, 0.75], 1, [0.5, 1.0]), [11.0, 0.75 * 4.0 + 0.25 * 40.0])
    np.testing.assert_allclose(t.mean_at([0.5, 1.0, 1.5, 7.0], 1), [2.0, 12.25, 22.5, 22.5])


def test_old_table_file_loads_with_a_warning(tmp_path) -> None:
    rng = np.random.default_rng(1)
    t = JumpTable.from_samples(rng.uniform(1e-6, 2e-6, 100), rng.normal(0, 1e-8, 100), np.repeat([1, -1], 50))
    old = {name: getattr(t, name) for name in ("g_edges", "levels", "up", "down", "up_counts", "down_counts")}
    np.savez(tmp_path / "old.npz", pulse=np.array([np.nan, np.nan]), **old)
    with pytest.warns(OldTableWarning, match="no read-noise estimate"):
        back = JumpTable.load(tmp_path / "old.npz")
    assert back.read_noise is None and back.smoothing is None
    # A table with the field round-trips it without a warning.
    new = JumpTable(**old, read_noise=3e-9, read_noise_se=1e-10, smoothing=0.15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = JumpTable.load(new.save(tmp_path / "new"))
    assert (again.read_noise, again.read_noise_se, again.smoothing) == (3e-9, 1e-10, 0.15)


def test_table_device_reads_with_the_stored_read_noise() -> None:
    rng = np.random.default_rng(2)
    g = rng.uniform(5e-6, 15e-6, 4000)
    dg = np.r_[np.full(2000, 20e-9), np.full(2000, -20e-9)]
    direction = np.repeat([1, -1], 2000)
    noise = ReadNoise(sigma=10e-9, stderr=0.1e-9, variance=1e-16, variance_stderr=2e-18, pairs=1000)
    table = JumpTable.from_samples(g, dg, direction, n_bins=5, read_noise=noise)
    sim = SimulatedCrossbar.from_jump_table(table, (50, 50), seed=0)
    reads = sim.read() - sim.conductance
    # 2500 reads: the std of a normal sample has SE sigma / sqrt(2n) = 0.14 nS.
    assert abs(reads.std() - 10e-9) < 0.6e-9
    # A table without read noise (old: it holds it in its steps) reads without.
    quiet = SimulatedCrossbar.from_jump_table(
        JumpTable.from_samples(g, dg, direction, n_bins=5), (2, 2), seed=0
    )
    np.testing.assert_array_equal(quiet.read(), quiet.conductance)


def test_the_read_noise_moments_are_the_closed_form_traces_for_every_run_length() -> None:
    """E[Q0] = s² tr M + σ_r² tr MT and E[Q1] = s² tr SM + σ_r² tr SMTM, M = I − QQᵀ: the
    coefficients expanded in Q equal the traces of the n x n matrices."""
    from hil.jumptable import _run_coefficients

    for n in (5, 6, 17, 200):
        q, coefficients = _run_coefficients(n)
        m = np.eye(n) - q @ q.T
        t = 2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)
        s = np.eye(n, k=1)
        traces = [[np.trace(m), np.trace(m @ t)], [np.trace(s @ m), np.trace(s @ m @ t @ m)]]
        np.testing.assert_allclose(coefficients, traces, rtol=1e-12, atol=1e-11)
