"""hil.jumptable.JumpTable: building, reading, sampling, files, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from hil.jumptable import JumpTable
from hil.pulses import Pulse


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
