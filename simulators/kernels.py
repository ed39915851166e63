"""Compiled (numba) kernels of the fast engine: one fused loop per stochastic update or burst.

They compute exactly what simulators.fastpath computes with numpy (same random numbers, same
closed forms, same float32 exponent); see that module for why the closed forms are faithful.
What the fusion buys: each device is visited once (popcount of its row and column words, one
table normal, the closed form, the clip), with no index arrays and no temporaries, in loops
that the compiler vectorises. Randomness is counter-based (fastpath.splitmix64: the value of
device k or stream slot t depends only on the call's key and k or t), so the result does not
depend on how rows are split over threads, and the numpy fallback reproduces it.

numba is optional at import time: AVAILABLE says whether these kernels can run; the engine
falls back to simulators.fastpath without them. Compiled code is cached in __pycache__
(cache=True), so only the first use on a machine pays the compile time (6-9 s measured on a
loaded 2-core machine; ~0.3 s to load the cache afterwards).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from hil.backend import FloatArray, IntArray
from simulators.fastpath import GAUSSIAN_TABLE, Direction

try:
    import numba
    from numba.extending import intrinsic
except ImportError:  # the numpy fast path (simulators.fastpath) does the same work
    numba = None

AVAILABLE = numba is not None
"""True when numba is importable and the fast engine runs these kernels."""

EXPM1_SERIES_LIMIT = 0.3
"""Below this |e| the kernel's expm1 is the degree-7 Taylor series (float32; truncation < 6e-9
relative), which vectorises; above it the library expm1 is called for that device."""


@dataclass(frozen=True)
class KernelDirections:
    """Burst constants of both polarities as the kernels take them (row 0 up, row 1 down).

    log_rate, log_spread: (2, devices) float32, L and S of the log-normal (multiplicative rows).
    step: (2, devices) float64, the additive step a m (additive rows). x_fix: (2,) float64.
    multiplicative: (2,) bool. noise: the c2c noise s.
    """

    log_rate: NDArray[np.float32]
    log_spread: NDArray[np.float32]
    step: FloatArray
    x_fix: FloatArray
    multiplicative: NDArray[np.bool_]
    noise: float

    @classmethod
    def from_directions(cls, up: Direction, down: Direction, devices: int) -> KernelDirections:
        log_rate = np.zeros((2, devices), np.float32)
        log_spread = np.zeros((2, devices), np.float32)
        step = np.zeros((2, devices))
        for row, d in enumerate((up, down)):
            step[row] = d.step
            if d.x_fix is not None:
                log_rate[row], log_spread[row] = d.log_rate, d.log_spread
        return cls(
            log_rate,
            log_spread,
            step,
            np.array([1.0 if up.x_fix is None else up.x_fix, 0.0 if down.x_fix is None else down.x_fix]),
            np.array([up.x_fix is not None, down.x_fix is not None]),
            float(up.noise),
        )


def stochastic_update(
    p: FloatArray, q: FloatArray, bl: int, stream_key: int, x: FloatArray, d: KernelDirections, noise_key: int
) -> IntArray:
    """Fire the streams (key stream_key), count coincidences, apply the bursts to x in place.

    Returns the signed counts (rows, cols), int64, as fastpath.coincidences does for the same key.
    """
    rows, cols = p.size, q.size
    counts = np.empty((rows, cols), np.int64)
    _stochastic_update(
        _thresholds(p), _thresholds(q), np.sign(p).astype(np.int8), np.sign(q).astype(np.int8), bl,
        np.uint64(stream_key), x.reshape(rows, cols), d.log_rate, d.log_spread, d.step, d.x_fix,
        d.multiplicative, d.noise, np.uint64(noise_key), GAUSSIAN_TABLE, counts,
    )  # fmt: skip
    return counts


def apply_counts(counts: IntArray, x: FloatArray, d: KernelDirections, noise_key: int) -> None:
    """Give device (i, j) |counts[i, j]| pulses of polarity sign(counts[i, j]), in place on x."""
    rows, cols = counts.shape
    _apply_counts(
        np.ascontiguousarray(counts, dtype=np.int64), x.reshape(rows, cols), d.log_rate, d.log_spread,
        d.step, d.x_fix, d.multiplicative, d.noise, np.uint64(noise_key), GAUSSIAN_TABLE,
    )  # fmt: skip


def _thresholds(prob: FloatArray) -> NDArray[np.uint64]:
    return np.rint(np.abs(prob) * 2.0**32).astype(np.uint64)  # as fastpath.stream_bits


if numba is not None:
    _GOLDEN = np.uint64(0x9E3779B97F4A7C15)
    _MIX1 = np.uint64(0xBF58476D1CE4E5B9)
    _MIX2 = np.uint64(0x94D049BB133111EB)
    _LOW16 = np.uint64(0xFFFF)
    _F32 = np.float32

    _jit = numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
    _inline = numba.njit(inline="always", fastmath=False, error_model="numpy")

    @intrinsic
    def _popcount(typingctx, v):  # type: ignore[no-untyped-def]
        """Bit count of an unsigned integer (LLVM ctpop: a popcnt instruction or its vector form)."""

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            return builder.ctpop(args[0])

        return v(v), codegen

    @_inline
    def _splitmix64(key, index):  # type: ignore[no-untyped-def]
        """Output index of SplitMix64 seeded with key (fastpath.splitmix64)."""
        z = key + (np.uint64(index) + np.uint64(1)) * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        return z ^ (z >> np.uint64(31))

    @_inline
    def _expm1_series(e):  # type: ignore[no-untyped-def]
        """expm1 of a float32 by its Taylor series to e^7 (for |e| <= EXPM1_SERIES_LIMIT)."""
        poly = _F32(1.0 / 720) + e * _F32(1.0 / 5040)
        poly = _F32(1.0 / 120) + e * poly
        poly = _F32(1.0 / 24) + e * poly
        poly = _F32(1.0 / 6) + e * poly
        poly = _F32(0.5) + e * poly
        poly = _F32(1.0) + e * poly
        return e * poly

    @_inline
    def _fill_streams(thresholds, bl, key, offset, lines, words):  # type: ignore[no-untyped-def]
        """words[w, i] bit b = slot 32 w + b of line i: SplitMix64 (key, slot * lines + offset + i),
        high 32 bits, below the line's threshold (fastpath.stream_bits)."""
        words[:] = 0
        for t in range(bl):
            w, b = t // 32, np.uint32(t % 32)
            base = t * lines + offset
            for i in range(thresholds.size):
                u = _splitmix64(key, base + i) >> np.uint64(32)
                words[w, i] |= np.uint32(u < thresholds[i]) << b

    @_inline
    def _row_normals(key, base, table, z):  # type: ignore[no-untyped-def]
        """z[j] = normal deviate of device base + j (fastpath.normals: 4 per SplitMix64 output)."""
        cols = z.size
        head = min(-base % 4, cols)  # devices before the first group of 4 that starts in the row
        for j in range(head):
            z[j] = table[(_splitmix64(key, (base + j) >> 2) >> np.uint64(16 * ((base + j) % 4))) & _LOW16]
        g0 = (base + head) >> 2
        for g in range((cols - head) >> 2):
            h = _splitmix64(key, g0 + g)
            j = head + 4 * g
            z[j] = table[h & _LOW16]
            z[j + 1] = table[(h >> np.uint64(16)) & _LOW16]
            z[j + 2] = table[(h >> np.uint64(32)) & _LOW16]
            z[j + 3] = table[h >> np.uint64(48)]
        for j in range(head + ((cols - head) >> 2) * 4, cols):
            z[j] = table[(_splitmix64(key, (base + j) >> 2) >> np.uint64(16 * ((base + j) % 4))) & _LOW16]

    @_inline
    def _burst_row(  # type: ignore[no-untyped-def]
        i, n, up, x, log_rate, log_spread, step, x_fix, mult, noise, key, table, z, em
    ):
        """Apply n[j] >= 0 pulses (polarity up[j]) to devices (i, j) of x: fastpath.apply_bursts."""
        cols = x.shape[1]
        base = i * cols
        xi = x[i]
        _row_normals(key, base, table, z)
        if mult[0] and mult[1]:
            # Every device, pulsed or not: n = 0 gives e = 0, expm1 = 0, x unchanged (exactly).
            # Polarities are blended as a u + b (1 - u) with u in {0, 1}, exact for finite a, b,
            # so that the loop has no branches and vectorises.
            big = False
            for j in range(cols):
                k = base + j
                nf = _F32(n[j])
                u = _F32(up[j])
                lr = log_rate[0, k] * u + log_rate[1, k] * (_F32(1.0) - u)
                ls = log_spread[0, k] * u + log_spread[1, k] * (_F32(1.0) - u)
                e = lr * nf + z[j] * ls * np.sqrt(nf)  # float32, in fastpath's order of operations
                em[j] = _expm1_series(e)
                big |= abs(e) > _F32(EXPM1_SERIES_LIMIT)
            if big:  # long bursts: the library expm1 where the series would not do
                for j in range(cols):
                    k = base + j
                    nf = _F32(n[j])
                    r = 0 if up[j] else 1
                    e = log_rate[r, k] * nf + z[j] * log_spread[r, k] * np.sqrt(nf)
                    if abs(e) > _F32(EXPM1_SERIES_LIMIT):
                        em[j] = np.expm1(e)
            fix_up, fix_down = x_fix[0], x_fix[1]
            for j in range(cols):
                u64 = np.float64(up[j])
                xs = xi[j]
                xs += (xs - (fix_up * u64 + fix_down * (1.0 - u64))) * np.float64(em[j])
                xi[j] = min(max(xs, 0.0), 1.0)
            return
        for j in range(cols):  # an additive polarity: one device at a time
            if n[j] == 0:
                continue
            k = base + j
            r = 0 if up[j] else 1
            xs = xi[j]
            if mult[r]:
                nf = _F32(n[j])
                e = log_rate[r, k] * nf + z[j] * log_spread[r, k] * np.sqrt(nf)
                xs += (xs - x_fix[r]) * np.float64(np.expm1(e))
            else:
                nd = np.float64(n[j])
                if noise > 0:
                    nd += noise * np.sqrt(nd) * np.float64(z[j])
                xs += (1.0 if up[j] else -1.0) * step[r, k] * nd
            xi[j] = min(max(xs, 0.0), 1.0)

    @_jit
    def _stochastic_update(  # type: ignore[no-untyped-def]
        row_thr, col_thr, row_sign, col_sign, bl, stream_key, x,
        log_rate, log_spread, step, x_fix, mult, noise, noise_key, table, counts,
    ):  # fmt: skip
        rows, cols = row_thr.size, col_thr.size
        n_words = (bl + 31) // 32
        row_words = np.empty((n_words, rows), np.uint32)
        col_words = np.empty((n_words, cols), np.uint32)
        _fill_streams(row_thr, bl, stream_key, 0, rows + cols, row_words)
        _fill_streams(col_thr, bl, stream_key, rows, rows + cols, col_words)
        # One thread: numba's parallel loops over row blocks measured 4x slower on this 2-core
        # machine shared with other jobs (and OpenMP threads are not fork-safe).
        n = np.empty(cols, np.int32)
        up = np.empty(cols, np.bool_)
        z = np.empty(cols, np.float32)
        em = np.empty(cols, np.float32)
        for i in range(rows):
            n[:] = 0
            for w in range(n_words):
                r = row_words[w, i]
                for j in range(cols):
                    n[j] += np.int32(_popcount(r & col_words[w, j]))
            ci = counts[i]
            for j in range(cols):
                sign = np.int64(row_sign[i]) * np.int64(col_sign[j])
                ci[j] = n[j] * sign
                up[j] = sign > 0
            _burst_row(i, n, up, x, log_rate, log_spread, step, x_fix, mult, noise, noise_key, table, z, em)

    @_jit
    def _apply_counts(  # type: ignore[no-untyped-def]
        counts, x, log_rate, log_spread, step, x_fix, mult, noise, noise_key, table
    ):
        rows, cols = counts.shape
        n = np.empty(cols, np.int32)
        up = np.empty(cols, np.bool_)
        z = np.empty(cols, np.float32)
        em = np.empty(cols, np.float32)
        for i in range(rows):
            for j in range(cols):
                c = counts[i, j]
                n[j] = abs(c)
                up[j] = c > 0
            _burst_row(i, n, up, x, log_rate, log_spread, step, x_fix, mult, noise, noise_key, table, z, em)
