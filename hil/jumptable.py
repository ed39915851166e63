"""Jump tables: the distribution of the conductance change of one pulse, per starting state.

A jump table (IBM Almaden: Burr 2015, Sidler 2016) keeps, for up and down pulses separately,
the distribution of ΔG caused by one pulse as a function of the conductance G the pulse
started from. Here G is cut into `n_bins` bins; each bin keeps the quantiles of ΔG at fixed
probability levels (its inverse CDF, linearly interpolated between levels), so drawing a step
is ΔG = Q_bin(G)(u) with u ~ U(0, 1). Bins without samples borrow the quantiles of the
nearest bin that has some (ties go to the lower bin); their counts stay 0 so that it shows.

Between bin centres a drawn step interpolates linearly between the two bins' quantiles at the
same level (outside the outer centres the edge bin holds), so the mean step is a continuous,
piecewise-linear function of G: a device simulated from the table feels a restoring force
around its symmetry point at any scale, not only across bin edges.

Read noise. A measured step is the difference of two noisy reads, r_{k+1} − r_k, so its spread
holds the read noise σ_r twice (σ_r√2) besides the device's cycle-to-cycle spread. A table
built with `read_noise` (estimated by `read_noise_from_steps`) keeps σ_r apart: the spread of
each bin is deconvolved (its variance lowered by 2σ_r², see `from_samples`) and a simulated
device adds σ_r back to its reads. A table without it (`read_noise is None`, e.g. a file
written before the field existed) keeps the read noise inside its steps.

All conductances and changes are in siemens. Down-pulse changes are kept with their sign
(mostly negative).
"""

from __future__ import annotations

import functools
import itertools
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hil.backend import FloatArray, IntArray
from hil.pulses import Pulse

_SPREAD_LEVELS = (0.16, 0.84)  # ±1 standard deviation of a normal distribution
_TREND_DEGREE = 2  # polynomial in the pulse index removed from each run of steps (the mean step's drift)
_MIN_RUN = _TREND_DEGREE + 3  # a run needs steps beyond its trend's parameters to hold a covariance
# Successive step pairs per block for the standard error of the read-noise estimate: products of
# neighbouring pairs are correlated over two lags only.
_NOISE_BLOCK = 30


class OldTableWarning(UserWarning):
    """A jump table file without a read-noise field: its steps still hold the read noise."""


@dataclass(frozen=True)
class ReadNoise:
    """Read noise estimated from the steps themselves (read_noise_from_steps).

    sigma: σ_r of one read, siemens; stderr: its standard error, siemens; variance and
    variance_stderr: σ_r² and its standard error (S², can be negative by chance: sigma is then
    0); pairs: the number of pairs of successive steps it rests on.
    """

    sigma: float
    stderr: float
    variance: float
    variance_stderr: float
    pairs: int


def read_noise_from_steps(dg: ArrayLike, direction: ArrayLike, breaks: ArrayLike = ()) -> ReadNoise:
    """σ_r of one read from the lag-one covariance of successive steps, pooled over devices.

    dg: (pulses, devices) siemens, dg[k] = r_{k+1} − r_k the change of pulse k between its two
    reads (NaN: not read); direction: (pulses,) ±1; breaks: pulse indices k whose step does not
    start at the read that ended step k − 1 (a resumed run's fresh read).

    Model: r_k = g_k + e_k with white read noise e (variance σ_r²) and a true state g whose
    steps c_k scatter independently from pulse to pulse (variance s²) around a mean that drifts
    slowly along a train. So d_k = c_k + e_{k+1} − e_k: Var(d_k) = s² + 2σ_r²,
    Cov(d_k, d_{k+1}) = −σ_r², nothing beyond lag one. Each run of successive steps of one
    direction on one device (n ≥ 5 steps, unbroken by a direction change, a break or a NaN) loses
    a quadratic in the pulse index (the mean's drift; what is left of an exponential approach
    over a train is far below the noise) by least squares, residuals u = M d. With covariance
    s² I + σ_r² T (T: 2 on the diagonal, −1 beside it) the residuals' sums Q0 = Σ u_k² and
    Q1 = Σ u_k u_{k+1} have the closed-form expectations
        E[Q0] = s² tr(M) + σ_r² tr(MT),   E[Q1] = s² tr(SM) + σ_r² tr(SMTM)
    (S: ones above the diagonal), exact for any n, and the runs' sums solve the 2 x 2 system
    for s² and σ_r² (method of moments, unbiased). The lag-one products scatter about half as
    much as the differences of a lag-one/lag-two comparison, so σ_r² is known about twice as well
    from the same steps. Reads need not be repeated. The standard error comes from the scatter
    of blocks of successive pairs. Raises ValueError with fewer than 10 usable pairs.
    """
    d = np.asarray(dg, dtype=np.float64)
    if d.ndim == 1:
        d = d[:, None]
    s = np.asarray(direction).ravel()
    if d.shape[0] != s.size:
        raise ValueError(f"dg has {d.shape[0]} pulses, direction {s.size}")
    linked = np.ones(s.size, dtype=bool)  # linked[k]: step k starts where step k-1 ended
    linked[0] = False
    linked[1:] &= s[1:] == s[:-1]
    b = np.asarray(breaks, dtype=np.int64).ravel()
    linked[b[(b >= 0) & (b < s.size)]] = False
    runs = [run for column in d.T for run in _runs(column, linked) if run.size >= _MIN_RUN]
    moments = [_run_moments(run) for run in runs]
    n_pairs = sum(run.size - 1 for run in runs)
    if n_pairs < 10:
        raise ValueError(
            f"only {n_pairs} pairs of successive same-direction steps in runs of at least {_MIN_RUN}: "
            f"too few to estimate the read noise (measure trains of at least {_MIN_RUN} pulses)"
        )
    coefficients = np.sum([m[1] for m in moments], axis=0)  # rows: E[Q0], E[Q1]; cols: s², σ_r²
    q0, q1 = (float(sum(m[0][i] for m in moments)) for i in (0, 1))
    s2, variance = np.linalg.solve(coefficients, [q0, q1])
    # Each pair's share of the estimate, for the block standard error: σ_r² = Σ t / n_pairs.
    products = np.concatenate([m[2] for m in moments])
    t = (products - s2 * coefficients[1, 0] / n_pairs) * n_pairs / coefficients[1, 1]
    n_blocks = max(t.size // _NOISE_BLOCK, 2)
    blocks = np.array([np.mean(c) for c in np.array_split(t, n_blocks)])
    var_se = float(np.std(blocks, ddof=1) / np.sqrt(n_blocks))
    variance = float(variance)
    sigma = float(np.sqrt(max(variance, 0.0)))
    # d sigma = d variance / (2 sigma); at sigma ~ 0 the bound sqrt(se) says how small it is.
    stderr = var_se / (2.0 * sigma) if sigma > np.sqrt(var_se) else float(np.sqrt(var_se))
    return ReadNoise(sigma, stderr, variance, var_se, int(n_pairs))


def _runs(column: FloatArray, linked: NDArray[np.bool_]) -> list[FloatArray]:
    """The runs of successive linked, finite steps of one device, in pulse order."""
    finite = np.isfinite(column)
    starts = ~(linked & finite & np.r_[False, finite[:-1]])
    edges = np.r_[np.flatnonzero(starts), column.size]
    return [column[a:z] for a, z in itertools.pairwise(edges) if finite[a]]


@functools.lru_cache(maxsize=64)
def _run_coefficients(n: int) -> tuple[FloatArray, FloatArray]:
    """For a run of n steps: an orthonormal basis Q (n x 3) of the trend, so that the residual
    projection is M = I − QQᵀ, and the 2 x 2 coefficients [[tr M, tr MT], [tr SM, tr SMTM]] of
    E[Q0], E[Q1] in (s², σ_r²). Each trace is expanded in Q (tr SMTM = tr ST − tr QᵀSTQ −
    tr QᵀTSQ + tr(QᵀSQ QᵀTQ)), so nothing n x n is formed, whatever the train's length."""
    q, _ = np.linalg.qr(np.vander(np.linspace(-1.0, 1.0, n), _TREND_DEGREE + 1))
    sq, tq = _shift(q), _tridiagonal(q)
    a, b = q.T @ sq, q.T @ tq  # QᵀSQ, QᵀTQ
    st = -(n - 1.0)  # tr ST: S picks T's sub-diagonal
    coefficients = np.array(
        [
            [n - q.shape[1], 2.0 * n - np.trace(b)],
            [-np.trace(a), st - np.trace(q.T @ _shift(tq)) - np.trace(tq.T @ sq) + np.trace(a @ b)],
        ]
    )
    q.flags.writeable = False
    coefficients.flags.writeable = False
    return q, coefficients


def _shift(x: FloatArray) -> FloatArray:
    """S x: row i takes row i + 1 (the last row 0)."""
    out = np.zeros_like(x)
    out[:-1] = x[1:]
    return out


def _tridiagonal(x: FloatArray) -> FloatArray:
    """T x, T with 2 on the diagonal and −1 beside it: the covariance shape of read noise in steps."""
    out = 2.0 * x
    out[:-1] -= x[1:]
    out[1:] -= x[:-1]
    return out


def _run_moments(run: FloatArray) -> tuple[tuple[float, float], FloatArray, FloatArray]:
    """(Q0, Q1), their coefficients (_run_coefficients) and the lag-one products of one run."""
    q, coefficients = _run_coefficients(run.size)
    u = run - q @ (q.T @ run)
    products = u[:-1] * u[1:]
    return (float(u @ u), float(products.sum())), coefficients, products


@dataclass(frozen=True, eq=False)
class JumpTable:
    """Per-bin quantiles of ΔG (siemens) for up and down pulses.

    g_edges: (n_bins + 1,) strictly increasing bin edges in siemens.
    levels: (n_quantiles,) strictly increasing probability levels from 0 to 1.
    up, down: (n_bins, n_quantiles) ΔG quantiles in siemens, non-decreasing along levels.
    up_counts, down_counts: (n_bins,) samples each bin was built from (0: borrowed bin).
    pulse: the pulse the table was measured with, if known.
    read_noise: σ_r of one read of the measurement (siemens), kept apart from the steps, whose
        spread it was deconvolved from; None: unknown, the steps hold the read noise.
    read_noise_se: standard error of read_noise (siemens), None if unknown.
    smoothing: Gaussian kernel width (fraction of the table's G range) over which the mean step
        and the step variance were smoothed across bins; None: per bin as measured.
    """

    g_edges: FloatArray
    levels: FloatArray
    up: FloatArray
    down: FloatArray
    up_counts: IntArray
    down_counts: IntArray
    pulse: Pulse | None = None
    read_noise: float | None = None
    read_noise_se: float | None = None
    smoothing: float | None = None

    def __post_init__(self) -> None:
        edges = np.asarray(self.g_edges, dtype=np.float64)
        levels = np.asarray(self.levels, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or not np.all(np.isfinite(edges)):
            raise ValueError("JumpTable.g_edges must be a finite 1-D array of at least 2 edges (siemens)")
        if not np.all(np.diff(edges) > 0):
            raise ValueError("JumpTable.g_edges must be strictly increasing")
        if levels.ndim != 1 or levels.size < 2 or levels[0] != 0.0 or levels[-1] != 1.0:
            raise ValueError("JumpTable.levels must be a 1-D array running from 0 to 1")
        if not np.all(np.diff(levels) > 0):
            raise ValueError("JumpTable.levels must be strictly increasing")
        n_bins = edges.size - 1
        arrays = {"g_edges": edges, "levels": levels}
        for name in ("up", "down"):
            q = np.asarray(getattr(self, name), dtype=np.float64)
            if q.shape != (n_bins, levels.size):
                raise ValueError(f"JumpTable.{name}: expected shape {(n_bins, levels.size)}, got {q.shape}")
            if not np.all(np.isfinite(q)):
                raise ValueError(f"JumpTable.{name} contains NaN or inf")
            if not np.all(np.diff(q, axis=1) >= 0):
                raise ValueError(f"JumpTable.{name}: quantiles must not decrease along the levels")
            counts = np.asarray(getattr(self, f"{name}_counts"))
            if counts.shape != (n_bins,) or not np.issubdtype(counts.dtype, np.integer) or np.any(counts < 0):
                raise ValueError(f"JumpTable.{name}_counts must be {n_bins} non-negative integers")
            if not np.any(counts):
                raise ValueError(f"JumpTable has no {name} samples at all")
            arrays[name], arrays[f"{name}_counts"] = q, counts.astype(np.int64)
        if self.pulse is not None and not isinstance(self.pulse, Pulse):
            raise TypeError(f"JumpTable.pulse must be a hil.Pulse or None, got {self.pulse!r}")
        for name in ("read_noise", "read_noise_se", "smoothing"):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value >= 0):
                raise ValueError(f"JumpTable.{name} must be a finite number >= 0 or None, got {value!r}")
        for name, value in arrays.items():
            value.flags.writeable = False
            object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_samples(
        cls,
        g_start: ArrayLike,
        dg: ArrayLike,
        direction: ArrayLike,
        n_bins: int = 50,
        g_range: tuple[float, float] | None = None,
        n_quantiles: int = 101,
        pulse: Pulse | None = None,
        *,
        read_noise: ReadNoise | None = None,
        smoothing: float | None = None,
    ) -> JumpTable:
        """Bin measured steps by the conductance they started from.

        g_start: conductance before each step (siemens); dg: the step's change (siemens);
        direction: +1 for up pulses, -1 for down pulses (three arrays of equal length).
        g_range: (low, high) siemens covered by the bins; None takes the range of g_start.
        Samples with g_start outside g_range are left out (the counts show what was kept).
        smoothing: None keeps each bin's distribution as measured. A width h (fraction of the
            range) replaces each bin's mean step and step variance by a local linear regression
            over the bins (Gaussian kernel of width h, weighted by counts); the quantiles keep
            their measured shape around the new mean. A bin holds a few dozen steps whose mean
            scatters by more than the mean changes from bin to bin, and a simulated device's
            wander around its symmetry point is set by the slope of the mean step there.
        read_noise: σ_r of the reads the steps came from (read_noise_from_steps). Each bin's
            deviations from its mean are scaled by sqrt(max(V − 2σ_r², 0) / V_bin), V the
            (smoothed) variance of its steps and V_bin its own: the variance becomes the
            device's cycle-to-cycle variance, exact when steps and read noise are Gaussian;
            other shapes keep their measured shape (skew, branches) with the corrected variance.
            σ_r is stored in the table for the simulated reads.
        """
        g, d, s = _checked_samples(g_start, dg, direction)
        if isinstance(n_bins, bool) or int(n_bins) != n_bins or n_bins < 1:
            raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
        if isinstance(n_quantiles, bool) or int(n_quantiles) != n_quantiles or n_quantiles < 2:
            raise ValueError(f"n_quantiles must be an integer >= 2, got {n_quantiles!r}")
        if g_range is None:
            low, high = float(g.min()), float(g.max())
            if high <= low:
                raise ValueError(
                    f"all samples start at G = {low:g} S; pass g_range=(low, high) to set the bins"
                )
        else:
            low, high = (float(v) for v in g_range)
            if not (np.isfinite(low) and np.isfinite(high) and low < high):
                raise ValueError(f"g_range must be two finite numbers low < high (siemens), got {g_range!r}")
        edges = np.linspace(low, high, int(n_bins) + 1)
        levels = np.linspace(0.0, 1.0, int(n_quantiles))
        inside = (g >= low) & (g <= high)
        # The top edge belongs to the last bin.
        bins = np.clip(np.searchsorted(edges, g, side="right") - 1, 0, int(n_bins) - 1)
        if smoothing is not None and not (np.isfinite(smoothing) and smoothing > 0):
            raise ValueError(f"smoothing must be a fraction of the range > 0 or None, got {smoothing!r}")
        sigma_r = None if read_noise is None else read_noise.sigma
        tables, counts = [], []
        for sign in (1, -1):
            keep = inside & (s == sign)
            c = np.bincount(bins[keep], minlength=int(n_bins)).astype(np.int64)
            if not np.any(c):
                what = "up (+1)" if sign == 1 else "down (-1)"
                raise ValueError(f"no {what} samples inside g_range [{low:g}, {high:g}] S")
            order = np.lexsort((d[keep], bins[keep]))  # by bin, then by size within each bin
            per_bin = np.split(d[keep][order], np.cumsum(c)[:-1])
            q = _bin_quantiles(per_bin, c, levels, edges, smoothing=smoothing, read_noise=sigma_r)
            tables.append(q)
            counts.append(c)
        return cls(
            edges,
            levels,
            tables[0],
            tables[1],
            counts[0],
            counts[1],
            pulse,
            read_noise=sigma_r,
            read_noise_se=None if read_noise is None else read_noise.stderr,
            smoothing=smoothing,
        )

    # ------------------------------------------------------------------ reading
    @property
    def n_bins(self) -> int:
        return self.g_edges.size - 1

    @property
    def centers(self) -> FloatArray:
        """(n_bins,) bin centres in siemens."""
        return 0.5 * (self.g_edges[:-1] + self.g_edges[1:])

    def quantiles(self, direction: int) -> FloatArray:
        """(n_bins, n_quantiles) ΔG quantiles of up (+1) or down (-1) pulses, siemens."""
        if direction == 1:
            return self.up
        if direction == -1:
            return self.down
        raise ValueError(f"direction must be +1 (up) or -1 (down), got {direction!r}")

    def median(self, direction: int) -> FloatArray:
        """(n_bins,) median ΔG per bin, siemens (signed)."""
        return self._at_level(direction, 0.5)

    def spread(self, direction: int) -> FloatArray:
        """(n_bins,) half the 16-84 % range of ΔG per bin, siemens (σ for a normal step)."""
        lo, hi = _SPREAD_LEVELS
        return 0.5 * (self._at_level(direction, hi) - self._at_level(direction, lo))

    def mean(self, direction: int) -> FloatArray:
        """(n_bins,) mean ΔG per bin, siemens: the mean of what sample() draws."""
        q = self.quantiles(direction)
        return np.sum(0.5 * (q[:, 1:] + q[:, :-1]) * np.diff(self.levels), axis=1)

    def mean_at(self, g: ArrayLike, direction: int) -> FloatArray:
        """Mean ΔG (siemens, signed) of a pulse from conductance g: the bin means interpolated
        linearly between bin centres, as sample() draws them."""
        lower, upper, t = self._neighbours(np.asarray(g, dtype=np.float64))
        mean = self.mean(direction)
        return (1.0 - t) * mean[lower] + t * mean[upper]

    def _neighbours(self, g: FloatArray) -> tuple[IntArray, IntArray, FloatArray]:
        """The two bins whose centres enclose each g and the weight t of the upper one."""
        centers = self.centers
        pos = np.clip((g - centers[0]) / (centers[1] - centers[0]) if self.n_bins > 1 else 0.0 * g, 0, None)
        lower = np.minimum(np.floor(pos).astype(np.int64), self.n_bins - 1)
        upper = np.minimum(lower + 1, self.n_bins - 1)
        t = np.where(upper > lower, pos - lower, 0.0)
        return lower, upper, t

    def bin_of(self, g: ArrayLike) -> IntArray:
        """Bin index of each conductance (siemens); values outside the table use the edge bins."""
        ga = np.asarray(g, dtype=np.float64)
        return np.clip(np.searchsorted(self.g_edges, ga, side="right") - 1, 0, self.n_bins - 1)

    def sample(self, g: ArrayLike, direction: int | ArrayLike, u: ArrayLike) -> FloatArray:
        """ΔG (siemens) of one pulse from each conductance g, at probability levels u in [0, 1].

        direction: +1 / -1, or an array of them shaped like g. The inverse CDF of each bin is
        interpolated linearly between the stored levels, and between the two bins whose centres
        enclose g linearly in g (the edge bins hold beyond the outer centres).
        """
        ga = np.asarray(g, dtype=np.float64)
        ua = np.asarray(u, dtype=np.float64)
        if ua.shape != ga.shape:
            raise ValueError(f"u must have the shape of g {ga.shape}, got {ua.shape}")
        if not (np.all(np.isfinite(ga)) and np.all((ua >= 0) & (ua <= 1))):
            raise ValueError("g must be finite and u must lie in [0, 1]")
        sign = np.broadcast_to(np.asarray(direction), ga.shape)
        if not np.all((sign == 1) | (sign == -1)):
            raise ValueError("direction must be +1 (up) or -1 (down)")
        lower, upper, t = self._neighbours(ga)
        k = np.clip(np.searchsorted(self.levels, ua, side="right") - 1, 0, self.levels.size - 2)
        frac = (ua - self.levels[k]) / (self.levels[k + 1] - self.levels[k])
        out = np.empty(ga.shape)
        for s, q in ((1, self.up), (-1, self.down)):
            sel = sign == s
            at = [
                q[b[sel], k[sel]] + frac[sel] * (q[b[sel], k[sel] + 1] - q[b[sel], k[sel]])
                for b in (lower, upper)
            ]
            out[sel] = (1.0 - t[sel]) * at[0] + t[sel] * at[1]
        return out

    def _at_level(self, direction: int, level: float) -> FloatArray:
        q = self.quantiles(direction)
        k = int(np.clip(np.searchsorted(self.levels, level, side="right") - 1, 0, self.levels.size - 2))
        frac = (level - self.levels[k]) / (self.levels[k + 1] - self.levels[k])
        return q[:, k] + frac * (q[:, k + 1] - q[:, k])

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write the table to a .npz file (the suffix is added if missing); returns the path."""
        p = Path(path)
        if p.suffix != ".npz":
            p = p.with_name(p.name + ".npz")
        pulse = [np.nan, np.nan] if self.pulse is None else [self.pulse.amplitude, self.pulse.width]
        np.savez(
            p,
            g_edges=self.g_edges,
            levels=self.levels,
            up=self.up,
            down=self.down,
            up_counts=self.up_counts,
            down_counts=self.down_counts,
            pulse=np.asarray(pulse, dtype=np.float64),
            read_noise=np.asarray([_or_nan(self.read_noise), _or_nan(self.read_noise_se)]),
            smoothing=np.asarray(_or_nan(self.smoothing)),
        )
        return p

    @classmethod
    def load(cls, path: str | Path) -> JumpTable:
        """Read a table written by save(). A file without a read-noise field (written before it
        existed) loads with an OldTableWarning: its steps hold the measurement's read noise."""
        with np.load(Path(path), allow_pickle=False) as f:
            missing = {"g_edges", "levels", "up", "down", "up_counts", "down_counts", "pulse"} - set(f.files)
            if missing:
                raise ValueError(f"{path} is not a jump table file: missing {sorted(missing)}")
            amplitude, width = (float(v) for v in f["pulse"])
            pulse = None if np.isnan(amplitude) else Pulse(amplitude, width)
            sigma, sigma_se = (
                (float(v) for v in f["read_noise"]) if "read_noise" in f.files else (np.nan, np.nan)
            )
            smoothing = float(f["smoothing"]) if "smoothing" in f.files else np.nan
            if "read_noise" not in f.files:
                warnings.warn(OldTableWarning(old_table_message(path)), stacklevel=2)
            return cls(
                f["g_edges"],
                f["levels"],
                f["up"],
                f["down"],
                f["up_counts"],
                f["down_counts"],
                pulse,
                read_noise=_or_none(sigma),
                read_noise_se=_or_none(sigma_se),
                smoothing=_or_none(smoothing),
            )


def _fill_empty(q: FloatArray, counts: IntArray) -> FloatArray:
    """Give each empty bin the quantiles of the nearest non-empty bin (ties: the lower one)."""
    full = np.flatnonzero(counts)
    idx = np.arange(counts.size)
    pos = np.clip(np.searchsorted(full, idx), 0, full.size - 1)
    below = full[np.maximum(pos - 1, 0)]
    above = full[pos]
    nearest = np.where(np.abs(idx - below) <= np.abs(above - idx), below, above)
    return q[nearest]


def _checked_samples(
    g_start: ArrayLike, dg: ArrayLike, direction: ArrayLike
) -> tuple[FloatArray, FloatArray, IntArray]:
    """The three sample arrays, flat; ValueError in words if they cannot make a table."""
    g = np.asarray(g_start, dtype=np.float64).ravel()
    d = np.asarray(dg, dtype=np.float64).ravel()
    s = np.asarray(direction).ravel()
    if not (g.size == d.size == s.size):
        raise ValueError(
            f"g_start, dg and direction must have equal lengths, got {g.size}, {d.size}, {s.size}"
        )
    if g.size == 0:
        raise ValueError("no samples: a jump table needs measured steps")
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(d))):
        raise ValueError("g_start or dg contains NaN or inf")
    if not np.all((s == 1) | (s == -1)):
        raise ValueError("direction must hold only +1 (up pulses) and -1 (down pulses)")
    return g, d, s


def old_table_message(path: str | Path) -> str:
    """What a table without a read-noise estimate means for a user."""
    return (
        f"{path} holds no read-noise estimate (written before tables kept it): its steps hold the "
        "measurement's read noise (sqrt(2) x sigma_r in every spread), so a device simulated from it "
        "is noisier than the device measured. Rebuild it from its stored run (protocols.replay."
        "jump_table_result_from_run(store, run).table.save(path)) or measure it again."
    )


def _bin_quantiles(
    per_bin: list[FloatArray],
    counts: IntArray,
    levels: FloatArray,
    edges: FloatArray,
    *,
    smoothing: float | None,
    read_noise: float | None,
) -> FloatArray:
    """(n_bins, levels) quantiles of each bin's sorted steps, smoothed and deconvolved
    (from_samples). Quantiles interpolate linearly between order statistics (numpy's default)."""
    q = np.zeros((counts.size, levels.size))
    mean, var = np.zeros(counts.size), np.zeros(counts.size)
    for b in np.flatnonzero(counts):
        x = per_bin[b]
        pos = levels * (x.size - 1)
        lo = np.minimum(np.floor(pos).astype(np.int64), x.size - 1)
        hi = np.minimum(lo + 1, x.size - 1)
        t, gap = pos - lo, x[hi] - x[lo]
        # Interpolated from the nearer end (as numpy does), so rounding never makes q decrease.
        q[b] = np.where(t >= 0.5, x[hi] - gap * (1.0 - t), x[lo] + gap * t)
        mean[b] = x.mean()
        var[b] = per_bin[b].var(ddof=1) if counts[b] > 1 else 0.0
    if smoothing is None and read_noise is None:
        return _fill_empty(q, counts)
    centers = 0.5 * (edges[1:] + edges[:-1])
    width = (smoothing or 0.0) * (edges[-1] - edges[0])
    new_mean = _local_linear(centers, mean, counts, width) if smoothing else mean
    new_var = _local_linear(centers, var, np.maximum(counts - 1, 0), width) if smoothing else var
    target = np.maximum(new_var - 2.0 * (read_noise or 0.0) ** 2, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(var > 0, np.sqrt(target / var), 0.0)
    filled = _fill_empty(np.column_stack([q, mean, scale]), counts)
    q, mean, scale = filled[:, :-2], filled[:, -2], filled[:, -1]
    return new_mean[:, None] + scale[:, None] * (q - mean[:, None])


def _local_linear(x: FloatArray, y: FloatArray, weight: ArrayLike, width: float) -> FloatArray:
    """Local linear regression of y on x at every x (Gaussian kernel of std `width`, weights)."""
    w = np.asarray(weight, dtype=np.float64)[None, :] * np.exp(
        -0.5 * ((x[:, None] - x[None, :]) / width) ** 2
    )
    dx = x[None, :] - x[:, None]
    s0, s1, s2 = w.sum(axis=1), (w * dx).sum(axis=1), (w * dx * dx).sum(axis=1)
    t0, t1 = (w * y[None, :]).sum(axis=1), (w * dx * y[None, :]).sum(axis=1)
    det = s0 * s2 - s1 * s1
    with np.errstate(invalid="ignore", divide="ignore"):
        local = (s2 * t0 - s1 * t1) / det
    flat = np.where(s0 > 0, t0 / np.where(s0 > 0, s0, 1.0), y)
    return np.where(np.isfinite(local) & (det > 1e-12 * s0 * s2), local, flat)


def _or_nan(value: float | None) -> float:
    return np.nan if value is None else float(value)


def _or_none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)
