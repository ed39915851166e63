"""Jump tables: the distribution of the conductance change of one pulse, per starting state.

A jump table (IBM Almaden: Burr 2015, Sidler 2016) keeps, for up and down pulses separately,
the distribution of ΔG caused by one pulse as a function of the conductance G the pulse
started from. Here G is cut into `n_bins` bins; each bin keeps the quantiles of ΔG at fixed
probability levels (its inverse CDF, linearly interpolated between levels), so drawing a step
is ΔG = Q_bin(G)(u) with u ~ U(0, 1). Bins without samples borrow the quantiles of the
nearest bin that has some (ties go to the lower bin); their counts stay 0 so that it shows.

All conductances and changes are in siemens. Down-pulse changes are kept with their sign
(mostly negative).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from hil.backend import FloatArray, IntArray
from hil.pulses import Pulse

_SPREAD_LEVELS = (0.16, 0.84)  # ±1 standard deviation of a normal distribution


@dataclass(frozen=True, eq=False)
class JumpTable:
    """Per-bin quantiles of ΔG (siemens) for up and down pulses.

    g_edges: (n_bins + 1,) strictly increasing bin edges in siemens.
    levels: (n_quantiles,) strictly increasing probability levels from 0 to 1.
    up, down: (n_bins, n_quantiles) ΔG quantiles in siemens, non-decreasing along levels.
    up_counts, down_counts: (n_bins,) samples each bin was built from (0: borrowed bin).
    pulse: the pulse the table was measured with, if known.
    """

    g_edges: FloatArray
    levels: FloatArray
    up: FloatArray
    down: FloatArray
    up_counts: IntArray
    down_counts: IntArray
    pulse: Pulse | None = None

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
    ) -> JumpTable:
        """Bin measured steps by the conductance they started from.

        g_start: conductance before each step (siemens); dg: the step's change (siemens);
        direction: +1 for up pulses, -1 for down pulses (three arrays of equal length).
        g_range: (low, high) siemens covered by the bins; None takes the range of g_start.
        Samples with g_start outside g_range are left out (the counts show what was kept).
        """
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
        tables, counts = [], []
        for sign in (1, -1):
            keep = inside & (s == sign)
            q = np.zeros((int(n_bins), levels.size))
            c = np.bincount(bins[keep], minlength=int(n_bins)).astype(np.int64)
            for b in np.flatnonzero(c):
                q[b] = np.quantile(d[keep & (bins == b)], levels)
            if not np.any(c):
                what = "up (+1)" if sign == 1 else "down (-1)"
                raise ValueError(f"no {what} samples inside g_range [{low:g}, {high:g}] S")
            tables.append(_fill_empty(q, c))
            counts.append(c)
        return cls(edges, levels, tables[0], tables[1], counts[0], counts[1], pulse)

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

    def bin_of(self, g: ArrayLike) -> IntArray:
        """Bin index of each conductance (siemens); values outside the table use the edge bins."""
        ga = np.asarray(g, dtype=np.float64)
        return np.clip(np.searchsorted(self.g_edges, ga, side="right") - 1, 0, self.n_bins - 1)

    def sample(self, g: ArrayLike, direction: int | ArrayLike, u: ArrayLike) -> FloatArray:
        """ΔG (siemens) of one pulse from each conductance g, at probability levels u in [0, 1].

        direction: +1 / -1, or an array of them shaped like g. The inverse CDF of g's bin is
        interpolated linearly between the stored levels.
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
        bins = self.bin_of(ga)
        k = np.clip(np.searchsorted(self.levels, ua, side="right") - 1, 0, self.levels.size - 2)
        frac = (ua - self.levels[k]) / (self.levels[k + 1] - self.levels[k])
        out = np.empty(ga.shape)
        for s, q in ((1, self.up), (-1, self.down)):
            sel = sign == s
            lo, hi = q[bins[sel], k[sel]], q[bins[sel], k[sel] + 1]
            out[sel] = lo + frac[sel] * (hi - lo)
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
        )
        return p

    @classmethod
    def load(cls, path: str | Path) -> JumpTable:
        """Read a table written by save()."""
        with np.load(Path(path), allow_pickle=False) as f:
            missing = {"g_edges", "levels", "up", "down", "up_counts", "down_counts", "pulse"} - set(f.files)
            if missing:
                raise ValueError(f"{path} is not a jump table file: missing {sorted(missing)}")
            amplitude, width = (float(v) for v in f["pulse"])
            pulse = None if np.isnan(amplitude) else Pulse(amplitude, width)
            return cls(f["g_edges"], f["levels"], f["up"], f["down"], f["up_counts"], f["down_counts"], pulse)


def _fill_empty(q: FloatArray, counts: IntArray) -> FloatArray:
    """Give each empty bin the quantiles of the nearest non-empty bin (ties: the lower one)."""
    full = np.flatnonzero(counts)
    idx = np.arange(counts.size)
    pos = np.clip(np.searchsorted(full, idx), 0, full.size - 1)
    below = full[np.maximum(pos - 1, 0)]
    above = full[pos]
    nearest = np.where(np.abs(idx - below) <= np.abs(above - idx), below, above)
    return q[nearest]
