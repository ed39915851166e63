"""Compiled (numba) kernels of the fast engine: one pass over the rows per stochastic update or burst.

They compute what simulators.fastpath computes with numpy (same random numbers, same closed
forms, the same float32 exponent up to the fused multiply-adds of the vector loops); see that
module for why the closed forms are faithful.
Per row, by how many coincidences it has (known from the streams before any count):
- few (under 1 / SPARSE_ROW of the row's devices; most rows of a low-density update): the
  coincidences themselves, from the columns that fire in each slot the row fires in, then just
  the devices they land on (their constants gathered into compact arrays, the exponents and
  their expm1 series in a vector loop). The work follows the pulses, not the columns.
- more: the coincidence counts of every device (popcount of the row word AND each column word),
  then, if few devices are pulsed, just those; in a busier row, three branch-free loops over the
  whole row that the compiler vectorises 8 floats wide (normal deviates; exponents and their
  expm1 series; the state update and clip).
The calling thread and threads() - 1 helpers claim chunks of rows from a shared counter
(_RowJob). Randomness is counter-based (fastpath.splitmix64: the value of device k or stream
slot t depends only on the call's key and k or t), so the result does not depend on which
thread did which row, and the numpy fallback reproduces it.

numba is optional at import time: AVAILABLE says whether these kernels can run; the engine
falls back to simulators.fastpath without them. Compiled code is cached in __pycache__
(cache=True), so only the first use on a machine pays the compile time (tens of seconds; a
fraction of a second to load the cache afterwards).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from hil.backend import FloatArray, IntArray
from hil.update import UpdateScales
from simulators.fastpath import GAUSSIAN_TABLE, Direction

try:
    import numba
    from llvmlite import ir
    from numba.core import cgutils
    from numba.extending import intrinsic
except ImportError:  # the numpy fast path (simulators.fastpath) does the same work
    numba = None

AVAILABLE = numba is not None
"""True when numba is importable and the fast engine runs these kernels."""

SPARSE_ROW = 4
"""A row with fewer than 1 / SPARSE_ROW of its devices pulsed visits only those devices."""

EXPM1_SERIES_LIMIT = 0.3
"""Below this |e| the kernel's expm1 is the degree-7 Taylor series (float32; truncation < 6e-9
relative), which vectorises; above it the library expm1 is called for that device."""


@dataclass(frozen=True)
class KernelDirections:
    """Burst constants of both polarities as the kernels take them (row 0 up, row 1 down).

    log_rate, log_spread: (2, devices) float32, L and S of the log-normal (multiplicative rows).
    step: (2, devices) float64, the additive step a m (additive rows). x_fix: (2,) float64.
    multiplicative: (2,) bool. noise: the c2c noise s. max_rate, max_spread: the largest |L| and S.
    """

    log_rate: NDArray[np.float32]
    log_spread: NDArray[np.float32]
    step: FloatArray
    x_fix: FloatArray
    multiplicative: NDArray[np.bool_]
    noise: float
    max_rate: float
    max_spread: float

    def series_suffices(self, max_pulses: int) -> bool:
        """True if no burst of up to max_pulses pulses can have an exponent |e| = |L n + S sqrt(n) z|
        beyond EXPM1_SERIES_LIMIT (|z| <= the table's largest deviate), so the kernels may skip
        the per-device check. The bound is taken 0.1 % wide against float32 rounding of e."""
        n = float(max_pulses)
        bound = self.max_rate * n + self.max_spread * np.sqrt(n) * _LARGEST_DEVIATE
        return bound * 1.001 <= EXPM1_SERIES_LIMIT

    @cached_property
    def series_pulses(self) -> int:
        """The longest burst for which series_suffices holds (up to 2^31): its bound grows with
        the pulse count, so bursts of at most this many pulses need no per-device check."""
        lo, hi = 0, 1 << 31
        if self.series_suffices(hi):
            return hi
        while hi - lo > 1:  # series_suffices(lo) holds, series_suffices(hi) does not
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if self.series_suffices(mid) else (lo, mid)
        return lo

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
            float(np.abs(log_rate).max(initial=0.0)),
            float(log_spread.max(initial=0.0)),
        )


_LARGEST_DEVIATE = float(np.abs(GAUSSIAN_TABLE).max())


def stochastic_update(
    p: FloatArray, q: FloatArray, bl: int, stream_key: int, x: FloatArray, d: KernelDirections, noise_key: int
) -> IntArray:
    """Fire the streams (key stream_key), count coincidences, apply the bursts to x in place.

    Returns the signed counts (rows, cols), int64, as fastpath.coincidences does for the same key.
    """
    rows, cols = p.size, q.size
    series = bl <= d.series_pulses
    if rows * cols < PARALLEL_DEVICES:  # one thread: one compiled call, its scratch inside
        x2 = x.reshape(rows, cols)
        keys = _signed(stream_key), _signed(noise_key)
        return _small_update(p, q, bl, keys[0], x2, d.log_rate, d.log_spread, d.step, d.x_fix,
                             d.multiplicative, d.noise, keys[1], GAUSSIAN_TABLE, series)  # fmt: skip
    words = (bl + 31) // 32
    row_words, col_words = np.empty((words, rows), np.uint32), np.empty((words, cols), np.uint32)
    slot_cols, slot_size = np.empty((32 * words, cols), np.int32), np.empty(32 * words, np.int32)
    col_sign, counts = np.empty(cols, np.int32), np.empty((rows, cols), np.int64)
    args = (
        row_words,
        col_words,
        slot_cols,
        slot_size,
        col_sign,
        p,
        x.reshape(rows, cols),
        d.log_rate,
        d.log_spread,
        d.step,
        d.x_fix,
        d.multiplicative,
        d.noise,
        np.uint64(noise_key),
        GAUSSIAN_TABLE,
        series,
        counts,
    )
    job = _RowJob(_update_rows, rows, cols, args)  # helpers wake up while the streams are drawn
    try:
        _streams(
            p,
            q,
            bl,
            np.uint64(stream_key),
            row_words,
            col_words,
            slot_cols,
            slot_size,
            col_sign,
            job.progress,
        )
    except BaseException:
        job.cancel()
        raise
    job.run()
    return counts


def planned_update(
    x: FloatArray,
    d: FloatArray,
    scales: UpdateScales,
    keys: tuple[int, int],
    state: FloatArray,
    directions: KernelDirections,
) -> int:
    """stochastic_update of the plan `scales` of x and d (keys: the stream key, the noise key) on
    an array below PARALLEL_DEVICES, the probabilities computed inside the compiled call;
    returns the pulses applied (sum |counts|)."""
    k = directions
    series = scales.bl <= k.series_pulses
    a, b, bl, clipped = scales
    x2 = state.reshape(x.size, d.size)
    stream, noise = _signed(keys[0]), _signed(keys[1])
    pulses = _small_planned_update(x, d, a, b, clipped, bl, stream, x2, k.log_rate, k.log_spread,
                                   k.step, k.x_fix, k.multiplicative, k.noise, noise, GAUSSIAN_TABLE,
                                   series)  # fmt: skip
    return int(pulses)


def within(v: FloatArray, bound: float) -> bool:
    """True if every element of the float64 vector v is finite and |v| <= bound, in one compiled
    call (hil.arrays.within costs four numpy calls)."""
    return _within(v, bound)  # type: ignore[no-any-return]


def abs_maxima(x: FloatArray, d: FloatArray) -> tuple[float, float]:
    """(max |x|, max |d|) of two float64 vectors, NaN for one that holds a NaN, in one compiled call
    (hil.arrays.abs_max of each costs four numpy calls)."""
    return _abs_maxima(x, d)  # type: ignore[no-any-return]


def noisy_read(
    g_min: FloatArray, g_max: FloatArray, x: FloatArray, sigma: float, key: int, out: FloatArray
) -> None:
    """out[k] = g_min[k] + x[k] (g_max[k] - g_min[k]) + sigma z_k (siemens), z_k =
    fastpath.normals(key, k): what the numpy engine computes for a read of every device, in one
    pass (and the same float64 operations)."""
    _noisy_read(g_min, g_max, x, float(sigma), _signed(key), GAUSSIAN_TABLE, out)


def _signed(key: int) -> int:
    """A 64-bit key as the int64 of the same bits: a Python int passes to a compiled call as an
    int64 (np.uint64(key) costs about as much as the call's dispatch), and the kernel takes the
    bits back with np.uint64(key), a no-op cast."""
    return key - (1 << 64) if key >= 1 << 63 else key


SMALL_VMM = 1 << 14
"""Single-vector VMMs of arrays below this many devices run in one compiled call (numpy's matrix
product costs a few microseconds of dispatch, more than the product of a small array)."""


def small_vmm(
    v: FloatArray, g: NDArray[np.floating], sigma: float, key: int, transposed: bool, out: FloatArray
) -> None:
    """out = v @ g (transposed: g @ v) accumulated in float64, plus sigma z_k for output k, where
    z_k = fastpath.normals(key, k): one vector of volts, g (rows, cols) siemens, float32 (a noisy
    VMM) or float64 (a noise-free one, sigma 0)."""
    _small_vmm(v, g, sigma, _signed(key), transposed, GAUSSIAN_TABLE, out)


def small_vmm_difference(
    v: FloatArray,
    main: tuple[NDArray[np.floating], float, int],
    reference: tuple[NDArray[np.floating], float, int],
    transposed: bool,
    out: FloatArray,
) -> None:
    """out = small_vmm of main minus small_vmm of reference ((g, sigma, key) each), exactly."""
    (g, sigma, key), (g_ref, sigma_ref, key_ref) = main, reference
    _small_vmm_difference(
        v, g, sigma, _signed(key), g_ref, sigma_ref, _signed(key_ref), transposed, GAUSSIAN_TABLE, out
    )


def conductances(g_min: FloatArray, g_max: FloatArray, x: FloatArray, out: NDArray[np.float32]) -> None:
    """out = float32(g_min + x (g_max - g_min)) in siemens: the VMM's conductances in one pass."""
    _conductances(g_min, g_max, x, out)


def apply_counts(counts: IntArray, x: FloatArray, d: KernelDirections, noise_key: int, most: int) -> None:
    """Give device (i, j) |counts[i, j]| pulses of polarity sign(counts[i, j]), in place on x.

    most: the largest |count| (the caller has it already)."""
    rows, cols = counts.shape
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    series = d.series_suffices(most)
    args = (
        counts,
        x.reshape(rows, cols),
        d.log_rate,
        d.log_spread,
        d.step,
        d.x_fix,
        d.multiplicative,
        d.noise,
        np.uint64(noise_key),
        GAUSSIAN_TABLE,
        series,
    )
    _RowJob(_apply_rows, rows, cols, args, ready=True).run()


PARALLEL_DEVICES = 1 << 16
"""Arrays from this many devices (256 x 256) split their rows over threads(); smaller ones run on
the calling thread (a hand-off costs tens of microseconds)."""


def threads() -> int:
    """Threads the kernels use on a large array: HIL_SIM_THREADS if set, else at most
    min(2, CPU count) (fewer while helper threads come too late to help: _HelperRecord).

    The result does not depend on it: every random number belongs to a device or a stream slot
    (counter-based), so any split of the rows gives the same state, bit for bit."""
    setting = _thread_setting()
    return min(2, _CPUS) if setting is None else setting


def _thread_setting() -> int | None:
    """HIL_SIM_THREADS as a number, None when unset."""
    setting = os.environ.get("HIL_SIM_THREADS", "").strip()
    if not setting:
        return None
    if not setting.isdigit() or int(setting) < 1:
        raise ValueError(f"HIL_SIM_THREADS must be a whole number >= 1, got {setting!r}")
    return int(setting)


_CPUS = os.cpu_count() or 1  # read once: os.cpu_count() reads sysfs, microseconds a call

_pool: tuple[int, int, ThreadPoolExecutor] | None = None  # (pid, workers, pool)


def _workers(count: int) -> ThreadPoolExecutor:
    """A pool of count worker threads for this process (a forked child makes its own)."""
    global _pool
    if _pool is None or _pool[0] != os.getpid() or _pool[1] != count:
        _pool = (os.getpid(), count, ThreadPoolExecutor(count, thread_name_prefix="hil-kernel"))
    return _pool[2]


CHUNKS_PER_THREAD = 16
"""Rows are claimed in chunks of about rows / (CHUNKS_PER_THREAD threads) at a time."""

READY_WAITS = 1 << 16
"""How many times (pause instructions: 0.1-2 ms in all, by CPU) a helper polls for the rows to be
ready to claim before it gives up on them: longer than the streams of a call take to draw."""

DONE_WAITS = 1 << 12
"""How many times (1/16 of READY_WAITS) the caller polls for the rows a helper claimed to be done
before it blocks on the helper: far longer than a chunk of rows takes, so a longer wait means the helper
lost its CPU, and spinning on would only keep a CPU from it."""

MAX_SOLO_CALLS = 256
"""The longest run of jobs done on the calling thread alone after helpers did not help."""


class _HelperRecord:
    """Whether the helpers of recent jobs did their part, and how many jobs to do alone.

    With HIL_SIM_THREADS unset a job asks for helpers unless the last ones did not help: a
    helper that takes under a quarter of its share of the rows came late (a busy machine delays
    a pool thread's wake-up by milliseconds, while the rows take a fraction of one), and a
    caller that had to block on a helper's unfinished chunk lost more than the helper saved.
    After such a job the next `solo` jobs run on the calling thread alone, twice as many after
    each further miss (up to MAX_SOLO_CALLS), none after a job the helpers helped. Only the
    timing depends on it: the rows' results do not depend on which thread did them (a race
    between two Python threads' jobs on the record changes no result either)."""

    def __init__(self) -> None:
        self.solo = 0  # jobs left to do alone
        self.backoff = 1  # jobs to do alone after the next miss

    def helpers_wanted(self) -> bool:
        if self.solo > 0:
            self.solo -= 1
            return False
        return True

    def record(self, helped: bool) -> None:
        if helped:
            self.backoff = 1
        else:
            self.solo = self.backoff
            self.backoff = min(2 * self.backoff, MAX_SOLO_CALLS)


_helper_record = _HelperRecord()


class _RowJob:
    """kernel(progress, chunk, *args) over the rows of one call, on the calling thread and
    threads() - 1 helpers, which claim chunks of rows from the shared counter progress (the
    kernels release the GIL); the kernel returns how many rows it did.

    Helpers are asked for at construction: waking a pool thread takes tens of microseconds, so
    they wake while the caller draws the streams, then poll (_ready) until progress[2] says the
    rows may be claimed. The caller starts on the rows at once; claiming, not a fixed split, keeps
    a late helper off the critical path, and a helper that comes after the last row is claimed
    does nothing (each call has its own counter: it cannot take rows of a later call). When no
    row is left, the caller polls until every claimed row is done (a helper's last chunk:
    microseconds) instead of sleeping on a future, which would cost another wake-up.
    With HIL_SIM_THREADS unset, _helper_record decides whether to ask for helpers at all."""

    def __init__(
        self, kernel: Callable[..., int], rows: int, cols: int, args: tuple[object, ...], ready: bool = False
    ):
        self.kernel, self.rows, self.args = kernel, rows, args
        setting = _thread_setting()
        count = min(2, _CPUS) if setting is None else setting
        large = rows * cols >= PARALLEL_DEVICES
        count = min(count, rows) if large and (setting is not None or _helper_record.helpers_wanted()) else 1
        self.adaptive = setting is None and count > 1
        self.progress = np.zeros(3, np.int64)  # [next row to claim, rows done, 1 ready / -1 cancelled]
        self.progress[2] = 1 if ready else 0
        self.chunk = max(1, rows // (CHUNKS_PER_THREAD * count)) if count > 1 else rows
        pool = _workers(count - 1) if count > 1 else None
        self.helpers = [pool.submit(self._help) for _ in range(count - 1)] if pool else []

    def _help(self) -> None:
        if _ready(self.progress, READY_WAITS):
            self.kernel(self.progress, self.chunk, *self.args)

    def cancel(self) -> None:
        """The rows will not be ready: helpers waiting for them return."""
        self.progress[2] = -1

    def run(self) -> None:
        """The caller's share of the rows; returns when all rows are done."""
        mine = self.kernel(self.progress, self.chunk, *self.args) or 0
        done = not self.helpers or _all_done(self.progress, self.rows, DONE_WAITS)
        if not done:
            for helper in self.helpers:  # a helper was held up mid-chunk (or raised): block on it
                helper.result()
        if self.adaptive:
            count = len(self.helpers) + 1
            _helper_record.record(done and 4 * count * (self.rows - mine) >= (count - 1) * self.rows)


if numba is not None:
    _GOLDEN = np.uint64(0x9E3779B97F4A7C15)
    _MIX1 = np.uint64(0xBF58476D1CE4E5B9)
    _MIX2 = np.uint64(0x94D049BB133111EB)
    _LOW16 = np.uint64(0xFFFF)
    _LOW32 = np.uint64(0xFFFFFFFF)
    _F32 = np.float32

    _jit = numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
    _inline = numba.njit(inline="always", fastmath=False, error_model="numpy")
    _vector_jit = numba.njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")

    @intrinsic
    def _popcount(typingctx, v):  # type: ignore[no-untyped-def]
        """Bit count of an unsigned integer (LLVM ctpop: a popcnt instruction or its vector form)."""

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            return builder.ctpop(args[0])

        return v(v), codegen

    @intrinsic
    def _trailing_zeros(typingctx, v):  # type: ignore[no-untyped-def]
        """Index of the lowest set bit of a nonzero unsigned integer (LLVM cttz: a tzcnt instruction)."""

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            return builder.cttz(args[0], context.get_constant(numba.types.boolean, True))

        return v(v), codegen

    @intrinsic
    def _atomic_add(typingctx, array, index, value):  # type: ignore[no-untyped-def]
        """array[index] += value atomically (sequentially consistent); returns the old value."""

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            array_type, _, value_type = signature.args
            data = context.make_array(array_type)(context, builder, args[0])
            pointer = cgutils.get_item_pointer(context, builder, array_type, data, [args[1]])
            value = context.cast(builder, args[2], value_type, array_type.dtype)
            return builder.atomic_rmw("add", pointer, value, "seq_cst")

        return array.dtype(array, index, value), codegen

    @intrinsic
    def _atomic_load(typingctx, array, index):  # type: ignore[no-untyped-def]
        """array[index], read atomically (acquire: what the writer did before its store is visible)."""

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            array_type = signature.args[0]
            data = context.make_array(array_type)(context, builder, args[0])
            pointer = cgutils.get_item_pointer(context, builder, array_type, data, [args[1]])
            return builder.load_atomic(pointer, "acquire", array_type.dtype.bitwidth // 8)

        return array.dtype(array, index), codegen

    _X86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")

    @intrinsic
    def _pause(typingctx):  # type: ignore[no-untyped-def]
        """The spin-wait hint (x86 pause: frees the core's pipeline for its sibling); nothing elsewhere."""

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            if _X86:
                hint = cgutils.get_or_insert_function(
                    builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause"
                )
                builder.call(hint, [])
            return context.get_dummy_value()

        return numba.types.void(), codegen

    @_jit
    def _ready(progress, spins):  # type: ignore[no-untyped-def]
        """Poll progress[2] up to spins times; True once it is 1 (rows ready), False if cancelled."""
        for _ in range(spins):
            state = _atomic_load(progress, 2)
            if state != 0:
                return state > 0
            _pause()
        return _atomic_load(progress, 2) > 0

    @_jit
    def _all_done(progress, rows, spins):  # type: ignore[no-untyped-def]
        """Poll progress[1] (rows done) up to spins times; True once it reaches rows."""
        for _ in range(spins):
            if _atomic_load(progress, 1) >= rows:
                return True
            _pause()
        return _atomic_load(progress, 1) >= rows

    @_inline
    def _claim(progress, chunk, rows):  # type: ignore[no-untyped-def]
        """The first row of the next unclaimed chunk (rows or more: none is left)."""
        return min(_atomic_add(progress, 0, chunk), rows)

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
    def _fill_streams(prob, bl, key, offset, lines, words):  # type: ignore[no-untyped-def]
        """words[w, i] bit b = slot t = 32 w + b of line i: a 32-bit half of SplitMix64 (key,
        (t // 2) lines + offset + i), the high half for even t, below the line's threshold
        round(|prob[i]| 2^32) (fastpath.stream_bits)."""
        thresholds = np.empty(prob.size, np.uint64)
        for i in range(prob.size):
            thresholds[i] = np.uint64(np.rint(abs(prob[i]) * 4294967296.0))
        words[:] = 0
        for pair in range((bl + 1) // 2):
            t = 2 * pair
            w, b = t // 32, np.uint32(t % 32)  # t even: slot t + 1 is in the same word
            base = pair * lines + offset
            both = t + 1 < bl
            for i in range(thresholds.size):
                h = _splitmix64(key, base + i)
                bits = np.uint32(h >> np.uint64(32) < thresholds[i])
                if both:
                    bits |= np.uint32(h & _LOW32 < thresholds[i]) << np.uint32(1)
                words[w, i] |= bits << b

    @_inline
    def _row_normals(key, base, table, h, z):  # type: ignore[no-untyped-def]
        """z[j] = normal deviate of device base + j (fastpath.normals: 4 per SplitMix64 output).

        The hashes first (h: one per group of 4 devices the row touches), then h read as 16-bit
        words: word 4 g + t is bits 16 t .. 16 t + 15 of h[g] (little-endian), which is device
        4 (g0 + g) + t's index into the table. Two plain loops, the second one a vector gather."""
        g0 = base >> 2
        for g in range(((base + z.size - 1) >> 2) - g0 + 1):
            h[g] = _splitmix64(key, g0 + g)
        words = h.view(np.uint16)[base & 3 :]
        for j in range(z.size):
            z[j] = table[words[j]]

    @_inline
    def _device_normal(key, k, table):  # type: ignore[no-untyped-def]
        """The normal deviate of device k alone (the same number _row_normals gives it)."""
        return table[(_splitmix64(key, k >> 2) >> np.uint64(16 * (k & 3))) & _LOW16]

    @_inline
    def _multiplicative_exponent(n, up, k, log_rate, log_spread, z):  # type: ignore[no-untyped-def]
        """e = L n + S sqrt(n) z of one device (float32, in fastpath's order of operations)."""
        nf = _F32(n)
        r = 0 if up else 1
        return log_rate[r, k] * nf + z * log_spread[r, k] * np.sqrt(nf)

    @_inline
    def _sparse_row(i, m, pulsed, n, up, key, table, log_rate, log_spread, x, x_fix, series, sparse):  # type: ignore[no-untyped-def]
        """Devices (i, pulsed[:m]) of multiplicative devices, n[j] pulses of polarity up[j] each.
        Whole arrays, indexed: a row slice costs two atomic reference-count updates (numba's
        runtime) on an array the other threads share."""
        z, nf, lr, ls, _, pol, words = sparse
        base = np.uint64(i * x.shape[1])
        _pulsed_normal_words(key, base, pulsed, m, words)
        for t in range(m):
            j = np.uint64(pulsed[t])  # unsigned: no negative-index wraparound code on each access
            r = np.uint64(up[j] == 0)  # constants row: 0 up, 1 down
            pol[t] = r
            z[t] = table[words[t]]
            nf[t] = _F32(n[j])
            lr[t] = log_rate[r, base + j]
            ls[t] = log_spread[r, base + j]
        _pulsed_states(i, m, pulsed, x, x_fix, series, sparse)

    @_jit
    def _pulsed_normal_words(key, base, pulsed, m, words):  # type: ignore[no-untyped-def]
        """words[t] = the table index of device base + pulsed[t]'s normal deviate, t < m (the
        word _device_normal picks). A loop of its own: the compiler vectorises the hashes
        (64-bit vector multiplies), which it does not in a loop with the table lookup."""
        for t in range(m):
            k = base + np.uint64(pulsed[t])
            h = _splitmix64(key, k >> np.uint64(2))
            words[t] = np.uint16((h >> ((k & np.uint64(3)) << np.uint64(4))) & _LOW16)

    @_inline
    def _pulsed_states(i, m, pulsed, x, x_fix, series, sparse):  # type: ignore[no-untyped-def]
        """x[i, pulsed[t]] after a burst of nf[t] pulses of polarity pol[t] (0 up, 1 down) with
        constants lr[t], ls[t] and normal deviate z[t] (the compact arrays sparse). With series
        (no exponent can leave its range) the exponents in a vector loop; otherwise each is
        checked against the series' range."""
        z, nf, lr, ls, em, pol, _ = sparse
        if series:
            _sparse_series(z, nf, lr, ls, em, m)
        else:
            for t in range(m):
                e = lr[t] * nf[t] + z[t] * ls[t] * np.sqrt(nf[t])
                em[t] = _expm1_series(e) if abs(e) <= _F32(EXPM1_SERIES_LIMIT) else np.expm1(e)
        for t in range(m):
            j = np.uint64(pulsed[t])
            xs = x[i, j]
            xs += (xs - x_fix[pol[t]]) * np.float64(em[t])
            x[i, j] = min(max(xs, 0.0), 1.0)

    @_vector_jit
    def _sparse_series(z, nf, lr, ls, em, m):  # type: ignore[no-untyped-def]
        """em[t] = expm1 series of e = lr n + ls sqrt(n) z for t < m (compact arrays; all |e| in
        range). The count, not slices: a slice takes and drops a reference (atomics) per row."""
        for t in range(m):
            em[t] = _expm1_series(lr[t] * nf[t] + z[t] * ls[t] * np.sqrt(nf[t]))

    @_inline
    def _burst_row(  # type: ignore[no-untyped-def]
        i,
        m,
        n,
        up,
        x,
        log_rate,
        log_spread,
        step,
        x_fix,
        mult,
        noise,
        key,
        table,
        series,
        h,
        z,
        em,
        pulsed,
        sparse,
    ):
        """Apply n[j] >= 0 pulses (polarity up[j] in {0, 1}) to devices (i, j) of x, m of them
        nonzero: fastpath.apply_bursts."""
        cols = x.shape[1]
        base = i * cols
        # Only pulsed devices change. A row with few of them visits just those (their own normal
        # deviates, one hash each); a busier row runs branch-free vector loops over all of it.
        if m == 0:
            return
        multiplicative = mult[0] and mult[1]
        if not multiplicative or m * SPARSE_ROW < cols:
            m = 0
            for j in range(cols):  # branch-free: the pulsed columns, in order
                pulsed[m] = j
                m += np.int32(n[j] != 0)
            if multiplicative:
                _sparse_row(i, m, pulsed, n, up, key, table, log_rate, log_spread, x, x_fix, series, sparse)
                return
            for t in range(m):
                j = pulsed[t]
                k = base + j
                r = 0 if up[j] else 1
                xs = x[i, j]
                if mult[r]:
                    zk = _device_normal(key, k, table)
                    e = _multiplicative_exponent(n[j], up[j], k, log_rate, log_spread, zk)
                    em = _expm1_series(e) if abs(e) <= _F32(EXPM1_SERIES_LIMIT) else np.expm1(e)
                    xs += (xs - x_fix[r]) * np.float64(em)
                else:
                    nd = np.float64(n[j])
                    if noise > 0:
                        nd += noise * np.sqrt(nd) * np.float64(_device_normal(key, k, table))
                    xs += (1.0 if up[j] else -1.0) * step[r, k] * nd
                x[i, j] = min(max(xs, 0.0), 1.0)
            return
        _row_normals(key, base, table, h, z)
        # Every device, pulsed or not: n = 0 gives e = 0, expm1 = 0, x unchanged (exactly).
        lr_up, lr_down, ls_up, ls_down = log_rate[0], log_rate[1], log_spread[0], log_spread[1]
        row = slice(base, base + cols)
        if series:  # no exponent can leave the series' range (KernelDirections.series_suffices)
            _row_series(n, up, z, lr_up[row], lr_down[row], ls_up[row], ls_down[row], em)
        elif _row_exponents(n, up, z, lr_up[row], lr_down[row], ls_up[row], ls_down[row], em):
            # long bursts: the library expm1 where the series would not do
            for j in range(cols):
                e = _multiplicative_exponent(n[j], up[j], base + j, log_rate, log_spread, z[j])
                if abs(e) > _F32(EXPM1_SERIES_LIMIT):
                    em[j] = np.expm1(e)
        _row_states(x[i], up, em, x_fix[0], x_fix[1])

    # The two dense loops are functions of their own, over 1-D contiguous arrays, with an int32
    # flag count and FMA contraction: so LLVM vectorises them 8 floats wide (measured: inlined into
    # the row loop, or with row slices of 2-D arrays, they ran 4 wide or per element).
    @_vector_jit
    def _row_series(n, up, z, lr_up, lr_down, ls_up, ls_down, em):  # type: ignore[no-untyped-def]
        """em[j] = expm1 series of e = L n + S sqrt(n) z of device j of a row, all |e| known to be
        within EXPM1_SERIES_LIMIT (no check: a flag reduction in this loop doubled its time)."""
        for j in range(n.size):
            u = _F32(up[j])
            nf = _F32(n[j])
            lr = lr_up[j] * u + lr_down[j] * (_F32(1.0) - u)  # exact for u in {0, 1}
            ls = ls_up[j] * u + ls_down[j] * (_F32(1.0) - u)
            em[j] = _expm1_series(lr * nf + z[j] * ls * np.sqrt(nf))

    @_vector_jit
    def _row_exponents(n, up, z, lr_up, lr_down, ls_up, ls_down, em):  # type: ignore[no-untyped-def]
        """em[j] = expm1 series of e = L n + S sqrt(n) z of device j of a row; True if any |e| is
        beyond EXPM1_SERIES_LIMIT. Both polarities' constants are loaded and one selected, so
        the loop has no branches."""
        beyond = np.int32(0)
        for j in range(n.size):
            u = up[j] != 0
            nf = _F32(n[j])
            e = (lr_up[j] if u else lr_down[j]) * nf + z[j] * (ls_up[j] if u else ls_down[j]) * np.sqrt(nf)
            em[j] = _expm1_series(e)
            beyond += np.int32(abs(e) > _F32(EXPM1_SERIES_LIMIT))
        return beyond > 0

    @_vector_jit
    def _row_states(xi, up, em, fix_up, fix_down):  # type: ignore[no-untyped-def]
        """xi[j] += (xi[j] - x_fix) em[j], clipped to [0, 1] (one row of the state, float64)."""
        for j in range(em.size):
            xs = xi[j]
            xs += (xs - (fix_up if up[j] != 0 else fix_down)) * np.float64(em[j])
            xs = xs if xs > 0.0 else 0.0
            xi[j] = xs if xs < 1.0 else 1.0

    @_jit
    def _streams(  # type: ignore[no-untyped-def]
        p, q, bl, stream_key, row_words, col_words, slot_cols, slot_size, col_sign, progress
    ):
        """Into the given arrays: the row and column bit streams of probabilities |p|, |q| packed
        into 32-bit words, (words, rows) and (words, cols); the columns firing in each slot
        (_slot_columns); the columns' signs. Then progress[2] = 1: the rows may be claimed."""
        rows, cols = p.size, q.size
        _fill_streams(p, bl, stream_key, 0, rows + cols, row_words)
        _fill_streams(q, bl, stream_key, rows, rows + cols, col_words)
        _slot_columns(col_words, slot_cols, slot_size)
        for j in range(cols):
            col_sign[j] = np.int32(np.sign(q[j]))
        _atomic_add(progress, 2, 1)

    @_jit
    def _small_update(  # type: ignore[no-untyped-def]
        p, q, bl, stream_key, x, log_rate, log_spread, step, x_fix, mult, noise, noise_key, table, series
    ):
        """stochastic_update on the calling thread in one call: streams, then every row (keys: the
        int64 of the keys' bits)."""
        stream_key, noise_key = np.uint64(stream_key), np.uint64(noise_key)
        rows, cols = p.size, q.size
        words = (bl + 31) // 32
        row_words, col_words = np.empty((words, rows), np.uint32), np.empty((words, cols), np.uint32)
        slot_cols, slot_size = np.empty((32 * words, cols), np.int32), np.empty(32 * words, np.int32)
        col_sign, counts = np.empty(cols, np.int32), np.empty((rows, cols), np.int64)
        progress = np.zeros(3, np.int64)
        _streams(p, q, bl, stream_key, row_words, col_words, slot_cols, slot_size, col_sign, progress)
        _update_rows(progress, rows, row_words, col_words, slot_cols, slot_size, col_sign, p, x, log_rate,
                     log_spread, step, x_fix, mult, noise, noise_key, table, series, counts)  # fmt: skip
        return counts

    @_jit
    def _small_planned_update(  # type: ignore[no-untyped-def]
        x, d, a, b, clipped, bl, stream_key, state, log_rate, log_spread, step, x_fix, mult, noise, noise_key,
        table, series,
    ):  # fmt: skip
        """_small_update of p = a x, q = b d (each cut to [-1, 1] if clipped: hil.update.UpdateScales'
        arithmetic, so the same probabilities to the bit); returns the pulses applied, sum |counts|."""
        p, q = np.empty(x.size), np.empty(d.size)
        for i in range(x.size):
            p[i] = min(max(a * x[i], -1.0), 1.0) if clipped else a * x[i]
        for j in range(d.size):
            q[j] = min(max(b * d[j], -1.0), 1.0) if clipped else b * d[j]
        counts = _small_update(p, q, bl, stream_key, state, log_rate, log_spread, step, x_fix, mult, noise,
                               noise_key, table, series)  # fmt: skip
        total = 0
        for k in range(counts.size):
            total += abs(counts.flat[k])
        return total

    @_inline
    def _abs_max(v):  # type: ignore[no-untyped-def]
        """hil.arrays.abs_max in one loop: NaN as soon as an element is NaN."""
        top = 0.0
        for k in range(v.size):
            a = abs(v[k])
            if a != a:
                return a
            top = max(top, a)
        return top

    @_jit
    def _within(v, bound):  # type: ignore[no-untyped-def]
        """hil.arrays.within in one loop: a NaN fails both comparisons."""
        for k in range(v.size):
            if not (-bound <= v[k] <= bound):
                return False
        return True

    @_jit
    def _abs_maxima(x, d):  # type: ignore[no-untyped-def]
        return _abs_max(x), _abs_max(d)

    @_inline
    def _vmm_into(v, g, sigma, key, transposed, table, out):  # type: ignore[no-untyped-def]
        """out = v @ g (or g @ v) + sigma z (small_vmm). The transposed product adds column j's
        terms g[i, j] v[j] to every out[i] in turn: each out[i] sums its terms in the order of j
        as a dot product per row would, but the outputs' additions are independent of each
        other instead of one serial chain per row (1.2-1.8 against 2.1-2.8 us on 65 x 32)."""
        rows, cols = g.shape
        out[:] = 0.0
        if transposed:
            for j in range(cols):
                vj = v[j]
                for i in range(rows):
                    out[i] += np.float64(g[i, j]) * vj
        else:
            for i in range(rows):
                vi = v[i]
                for j in range(cols):
                    out[j] += vi * np.float64(g[i, j])
        n = out.size
        for group in range((n + 3) >> 2):  # 4 outputs' deviates per hash; no scratch to allocate
            h = _splitmix64(key, group)
            for t in range(min(4, n - 4 * group)):
                out[4 * group + t] += sigma * np.float64(table[(h >> np.uint64(16 * t)) & _LOW16])

    @_jit
    def _small_vmm(v, g, sigma, key, transposed, table, out):  # type: ignore[no-untyped-def]
        _vmm_into(v, g, sigma, np.uint64(key), transposed, table, out)

    @_jit
    def _small_vmm_difference(  # type: ignore[no-untyped-def]
        v, g, sigma, key, g_ref, sigma_ref, key_ref, transposed, table, out
    ):
        _vmm_into(v, g, sigma, np.uint64(key), transposed, table, out)
        ref = np.empty_like(out)
        _vmm_into(v, g_ref, sigma_ref, np.uint64(key_ref), transposed, table, ref)
        for k in range(out.size):
            out[k] -= ref[k]

    @_jit
    def _conductances(g_min, g_max, x, out):  # type: ignore[no-untyped-def]
        for k in range(x.size):
            out[k] = np.float32(g_min[k] + x[k] * (g_max[k] - g_min[k]))

    @_jit
    def _noisy_read(g_min, g_max, x, sigma, key, table, out):  # type: ignore[no-untyped-def]
        """out[k] = g_min[k] + x[k] (g_max[k] - g_min[k]) + sigma z_k, z_k the normal deviate of device k (the
        16-bit words of one SplitMix64 output serve 4 devices, as in _row_normals). The hashes in
        one loop, then one plain loop over the devices."""
        words = _normal_words(np.uint64(key), x.size)
        for k in range(x.size):
            out[k] = g_min[k] + x[k] * (g_max[k] - g_min[k]) + sigma * np.float64(table[words[k]])

    @_inline
    def _normal_words(key, n):  # type: ignore[no-untyped-def]
        """The table indices of the normal deviates of outputs 0 .. n - 1 (fastpath.normals): bits
        16 t .. 16 t + 15 of SplitMix64 output g are index 4 g + t (little-endian 16-bit words)."""
        h = np.empty((n + 3) >> 2, np.uint64)
        for g in range(h.size):
            h[g] = _splitmix64(key, g)
        return h.view(np.uint16)

    @_jit
    def _update_rows(  # type: ignore[no-untyped-def]
        progress,
        chunk,
        row_words,
        col_words,
        slot_cols,
        slot_size,
        col_sign,
        p,
        x,
        log_rate,
        log_spread,
        step,
        x_fix,
        mult,
        noise,
        noise_key,
        table,
        series,
        counts,
    ):
        """Chunks of rows claimed from progress (_RowJob) of a stochastic update: coincidence
        counts into counts, bursts onto x; returns how many rows it did. (Long only by the
        argument lists of the inlined row paths, one argument a line; each row takes one of
        three paths.)"""
        rows, cols = row_words.shape[1], col_words.shape[1]
        n, up, pulsed, h, z, em, sparse = _row_scratch(cols)
        n_clear = False  # _slot_row needs n all zero; the popcount rows overwrite all of it
        multiplicative = mult[0] and mult[1]
        mine = 0
        lo = _claim(progress, chunk, rows)
        while lo < rows:
            hi = min(lo + chunk, rows)
            for i in range(lo, hi):
                s = np.int32(np.sign(p[i]))
                if not _fires(row_words, i):  # no device of the row is pulsed
                    for j in range(cols):
                        counts[i, j] = 0
                elif multiplicative and _slot_bound(row_words, i, slot_size) * SPARSE_ROW < cols:
                    if not n_clear:
                        n[:] = 0
                        n_clear = True
                    _slot_row(
                        i,
                        row_words,
                        slot_cols,
                        slot_size,
                        s,
                        col_sign,
                        n,
                        pulsed,
                        counts,
                        x,
                        noise_key,
                        table,
                        log_rate,
                        log_spread,
                        x_fix,
                        series,
                        sparse,
                    )
                else:
                    n_clear = False
                    m = _popcount_row(i, row_words, col_words, s, col_sign, n, up, counts)
                    _burst_row(
                        i,
                        m,
                        n,
                        up,
                        x,
                        log_rate,
                        log_spread,
                        step,
                        x_fix,
                        mult,
                        noise,
                        noise_key,
                        table,
                        series,
                        h,
                        z,
                        em,
                        pulsed,
                        sparse,
                    )
            _atomic_add(progress, 1, hi - lo)
            mine += hi - lo
            lo = _claim(progress, chunk, rows)
        return mine

    @_inline
    def _fires(row_words, i):  # type: ignore[no-untyped-def]
        """True if row i's stream fires in any slot."""
        fired = row_words[0, i]
        for w in range(1, row_words.shape[0]):
            fired |= row_words[w, i]
        return fired != 0

    @_inline
    def _popcount_row(i, row_words, col_words, s, col_sign, n, up, counts):  # type: ignore[no-untyped-def]
        """n[j] = coincidences of device (i, j) (popcount of row word AND column word), up[j] its
        polarity, counts[i] the signed counts; returns the number of pulsed devices."""
        cols = col_words.shape[1]
        r = row_words[0, i]
        cw = col_words[0]
        for j in range(cols):
            n[j] = np.int32(_popcount(r & cw[j]))
        for w in range(1, row_words.shape[0]):  # bl > 32
            r = row_words[w, i]
            cw = col_words[w]
            for j in range(cols):
                n[j] += np.int32(_popcount(r & cw[j]))
        ci = counts[i]
        m = np.int32(0)
        for j in range(cols):
            sg = s * col_sign[j]
            up[j] = sg > 0
            ci[j] = n[j] * sg
            m += np.int32(n[j] != 0)
        return m

    @_inline
    def _slot_columns(col_words, slot_cols, slot_size):  # type: ignore[no-untyped-def]
        """For every stream slot t, the columns that fire in it: slot_cols[t, :slot_size[t]]."""
        words, cols = col_words.shape
        slot_size[:] = 0
        for w in range(words):
            for j in range(cols):
                c = col_words[w, j]
                while c != 0:
                    t = 32 * w + np.int64(_trailing_zeros(c))
                    slot_cols[t, slot_size[t]] = j
                    slot_size[t] += 1
                    c &= c - np.uint32(1)

    @_inline
    def _slot_bound(row_words, i, slot_size):  # type: ignore[no-untyped-def]
        """Coincidences of row i: the sum over the slots it fires in of the columns firing there
        (so at least the number of its pulsed devices)."""
        total = 0
        for w in range(row_words.shape[0]):
            r = row_words[w, i]
            while r != 0:
                total += slot_size[32 * w + np.int64(_trailing_zeros(r))]
                r &= r - np.uint32(1)
        return total

    @_inline
    def _slot_row(  # type: ignore[no-untyped-def]
        i,
        row_words,
        slot_cols,
        slot_size,
        s,
        col_sign,
        n,
        pulsed,
        counts,
        x,
        key,
        table,
        log_rate,
        log_spread,
        x_fix,
        series,
        sparse,
    ):
        """A sparse row of multiplicative devices from the coincidences themselves: for each slot
        the row fires in, the columns firing there each count one pulse. The work follows the
        pulses (not the columns); counts and states come out as the popcount path's. n must be
        all zero on entry and is left so."""
        m = 0
        for w in range(row_words.shape[0]):
            r = row_words[w, i]
            while r != 0:
                t = np.uint64(32 * w) + np.uint64(_trailing_zeros(r))
                r &= r - np.uint32(1)
                for k in range(slot_size[t]):
                    j = np.uint64(slot_cols[t, k])
                    pulsed[m] = j  # kept only if j is new (branch-free)
                    m += np.int64(n[j] == 0)
                    n[j] += 1
        cols = x.shape[1]
        for j in range(cols):
            counts[i, j] = 0
        z, nf, lr, ls, _, pol, words = sparse
        base = np.uint64(i * cols)
        _pulsed_normal_words(key, base, pulsed, m, words)
        for t in range(m):  # one pass: counts, polarity, constants, normal deviate; n back to zero
            j = np.uint64(pulsed[t])
            sg = s * col_sign[j]  # +-1: a device with a coincidence has p_i, q_j != 0
            c = n[j]
            n[j] = 0
            counts[i, j] = c * sg
            r = np.uint64(sg < 0)  # constants row: 0 up, 1 down
            pol[t] = r
            z[t] = table[words[t]]
            nf[t] = _F32(c)
            lr[t] = log_rate[r, base + j]
            ls[t] = log_spread[r, base + j]
        _pulsed_states(i, m, pulsed, x, x_fix, series, sparse)

    @_inline
    def _row_scratch(cols):  # type: ignore[no-untyped-def]
        """Per-row work arrays: counts, polarities (1 up), pulsed columns, hashes, normals, expm1;
        and the compact ones of sparse rows (_pulsed_states: normals, counts, rates, spreads,
        expm1, polarities and normals' table indices of the pulsed devices)."""
        f32 = np.float32
        em = np.empty(cols, f32)
        sparse = (
            np.empty(cols, f32),
            np.empty(cols, f32),
            np.empty(cols, f32),
            np.empty(cols, f32),
            em,
            np.empty(cols, np.uint8),
            np.empty(cols, np.uint16),
        )
        return (
            np.empty(cols, np.int32),
            np.empty(cols, np.uint8),
            np.empty(cols, np.int64),
            np.empty(cols // 4 + 2, np.uint64),
            np.empty(cols, f32),
            em,
            sparse,
        )

    @_jit
    def _apply_rows(  # type: ignore[no-untyped-def]
        progress, chunk, counts, x, log_rate, log_spread, step, x_fix, mult, noise, noise_key, table, series
    ):
        """Chunks of rows claimed from progress (_RowJob) of apply_counts; returns how many rows it did."""
        rows, cols = counts.shape
        n, up, pulsed, h, z, em, sparse = _row_scratch(cols)
        mine = 0
        lo = _claim(progress, chunk, rows)
        while lo < rows:
            hi = min(lo + chunk, rows)
            for i in range(lo, hi):
                m = np.int32(0)
                for j in range(cols):
                    c = counts[i, j]
                    n[j] = abs(c)
                    up[j] = c > 0
                    m += np.int32(c != 0)
                _burst_row(
                    i,
                    m,
                    n,
                    up,
                    x,
                    log_rate,
                    log_spread,
                    step,
                    x_fix,
                    mult,
                    noise,
                    noise_key,
                    table,
                    series,
                    h,
                    z,
                    em,
                    pulsed,
                    sparse,
                )
            _atomic_add(progress, 1, hi - lo)
            mine += hi - lo
            lo = _claim(progress, chunk, rows)
        return mine
