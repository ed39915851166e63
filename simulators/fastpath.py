"""Fast engine of the simulator: closed forms for bursts of same-sign pulses and a fused stochastic update.

Why it is faithful (derivations in docs/benchmarks.md):

- Soft-bounds and linear-step devices (every step model whose burst_gammas() gives γ±) move
  affinely per pulse. With y = x - x_fix (x_fix = 1/γ⁺ for up, 1 - 1/γ⁻ for down; 1 and 0 for
  soft bounds) one pulse maps y -> y (1 - c (1 + s ξ)), c = a m γ. n pulses multiply y by
  P_n = prod_k (1 - c (1 + s ξ_k)): E[P_n] = (1 - c)^n and E[P_n²] = ((1 - c)² + (c s)²)^n
  exactly. P_n is drawn as the log-normal exp(n L + sqrt(n) S Z) with
  S² = log(1 + (c s / (1 - c))²) and L = log(1 - c) - S²/2, which has exactly those two
  moments. γ = 0 (constant step) is additive: x_n = x_0 ± a (n + s sqrt(n) Z), exact in
  distribution.
- Clipping at the bounds only once, after the burst, equals clipping after every pulse: each
  pulse map is increasing in x and maps the bound it moves towards onto or beyond itself, as long
  as every factor 1 - c (1 + s ξ) is positive. closed_form_valid() demands
  c_max (1 + 6 s) < 1, i.e. a negative factor has probability < 1e-9 per pulse; otherwise the
  caller uses the per-pulse reference.
- Z comes from an inverse-CDF table of 2^16 equiprobable normal quantiles (16 random bits per
  value), rescaled to unit variance: mean 0 and variance 1 exactly, CDF within 1/65536 of the
  normal, tails cut at 4.3 σ. It costs a fraction of numpy's ziggurat sampler.
- Coincidences are counted exactly as in hil.backend.coincidence_counts: row and column bit
  streams with bit probabilities |p_i| and |q_j| (compared at 32-bit resolution); on large
  arrays packed into machine words and counted with a popcount of their AND.
- Random bits are counter-based: each call draws one 64-bit key from the array's generator, and
  the bits of device k (or stream slot t) are output k (t) of SplitMix64 seeded with that key
  (Steele, Lea & Flood 2014; passes BigCrush). The compiled kernels (simulators.kernels) use
  the same numbers in any order and on any number of threads, so both give the same result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtri

from hil.backend import FloatArray, IntArray
from simulators.config import DeviceConfig
from simulators.devices import DeviceParameters

_SAFE_SIGMAS = 6.0  # a per-pulse factor goes negative with probability < 1e-9 below c (1 + 6 s) = 1


def _gaussian_table() -> NDArray[np.float32]:
    z = ndtri((np.arange(65536) + 0.5) / 65536)
    return (z / np.sqrt(np.mean(z**2))).astype(np.float32)  # symmetric: mean 0; rescaled: variance 1


GAUSSIAN_TABLE = _gaussian_table()


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # SplitMix64's increment and output mixers
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def splitmix64(key: int, index: NDArray[np.integer]) -> NDArray[np.uint64]:
    """Outputs index (0, 1, ...) of SplitMix64 seeded with key: 64 uniform bits per index."""
    z = np.uint64(key) + (index.astype(np.uint64) + np.uint64(1)) * _GOLDEN  # wraps modulo 2^64
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def normals(key: int, index: NDArray[np.integer]) -> NDArray[np.float32]:
    """Standard normal deviates (float32) of devices `index`: GAUSSIAN_TABLE at 16 bits each.

    Device k takes bits 16 (k mod 4) to 16 (k mod 4) + 15 of splitmix64(key, k // 4).
    """
    k = index.astype(np.uint64)
    bits = splitmix64(key, k >> np.uint64(2)) >> ((k & np.uint64(3)) * np.uint64(16))
    return np.take(GAUSSIAN_TABLE, bits & np.uint64(0xFFFF))


def stream_bits(prob: FloatArray, bl: int, key: int, offset: int, lines: int) -> NDArray[np.bool_]:
    """Bit streams (bl, n): bit t of line i is 1 with probability prob[i] (in [0, 1]).

    The uniform of slot t, line i is a 32-bit half of splitmix64(key, (t // 2) lines + offset + i),
    the high half for even t and the low half for odd t (one output serves two slots): rows and
    columns of one update share the key at different offsets. A 32-bit uniform below
    round(prob 2^32) fires: the probability is prob to within 2^-33, exactly 0 or 1 at the ends.
    """
    thresholds = np.rint(prob * 2.0**32).astype(np.uint64)
    pairs = (bl + 1) // 2
    slots = np.arange(pairs, dtype=np.uint64)[:, None] * np.uint64(lines) + np.uint64(offset)
    h = splitmix64(key, slots + np.arange(prob.size, dtype=np.uint64))
    u = np.empty((2 * pairs, prob.size), np.uint64)
    u[0::2] = h >> np.uint64(32)
    u[1::2] = h & np.uint64(0xFFFFFFFF)
    return u[:bl] < thresholds


@dataclass(frozen=True)
class Bursts:
    """Signed pulse counts of the devices that got any: flat indices and counts for each polarity."""

    up_index: IntArray
    up_count: IntArray
    down_index: IntArray
    down_count: IntArray

    @classmethod
    def from_dense(cls, counts: IntArray) -> Bursts:
        flat = counts.ravel()
        up, down = np.flatnonzero(flat > 0), np.flatnonzero(flat < 0)
        return cls(up, flat[up], down, -flat[down])


SMALL_ARRAY = 8192
"""Up to this many devices, one float32 product of the bit matrices counts faster than popcounts."""


def coincidences(p: FloatArray, q: FloatArray, bl: int, key: int) -> tuple[IntArray, Bursts]:
    """Fire row streams (|p|) and column streams (|q|) from `key`; signed counts (rows, cols), bursts.

    Device (i, j) gets sum_t a_ti b_tj pulses of polarity sign(p_i q_j), as in
    hil.backend.coincidence_counts. Large arrays pack each line's stream into machine words and
    count with a popcount of the AND of a row word and a column word.
    """
    lines = p.size + q.size
    a, b = stream_bits(np.abs(p), bl, key, 0, lines), stream_bits(np.abs(q), bl, key, p.size, lines)
    if p.size * q.size <= SMALL_ARRAY:
        n = (a.T.astype(np.float32) @ b.astype(np.float32)).astype(np.int64)  # exact below 2^24
    else:
        n = _popcount_and(_pack(a), _pack(b)).astype(np.int64)
    counts = n * (np.sign(p)[:, None] * np.sign(q)[None, :]).astype(np.int64)
    return counts, Bursts.from_dense(counts)


def _pack(bits: NDArray[np.bool_]) -> NDArray[np.unsignedinteger]:
    """Pack (bl, n) bits into (words, n) unsigned words, 64 slots per word (32 or fewer: one uint32)."""
    bl = bits.shape[0]
    if bl <= 32:
        weights = 2.0 ** np.arange(bl)  # exact in float64: distinct powers of two below 2^32
        return (weights @ bits).astype(np.uint32)[None, :]
    n_words = -(-bl // 64)
    padded = np.zeros((n_words * 64, bits.shape[1]), dtype=np.uint8)
    padded[:bl] = bits
    packed = np.packbits(padded.reshape(n_words, 64, -1), axis=1, bitorder="little")  # (words, 8, n)
    return np.ascontiguousarray(packed.transpose(0, 2, 1)).view(np.uint64)[..., 0]


def _popcount_and(r_words: NDArray[np.unsignedinteger], c_words: NDArray[np.unsignedinteger]) -> IntArray:
    """(rows, cols) coincidence counts: sum over words of popcount(row word AND column word)."""
    total = np.bitwise_count(r_words[0][:, None] & c_words[0][None, :])
    if r_words.shape[0] == 1:
        return total
    total = total.astype(np.int32)
    for w in range(1, r_words.shape[0]):
        total += np.bitwise_count(r_words[w][:, None] & c_words[w][None, :])
    return total


# ---------------------------------------------------------------------- bursts on affine devices
@dataclass(frozen=True)
class Direction:
    """Per-device constants of one polarity at one pulse factor (flat arrays over the devices).

    step: the mean rate of one pulse, c = a m γ (multiplicative) or a m (additive), float64.
    Multiplicative (x_fix set): n pulses x_n = x_fix + (x_0 - x_fix) exp(n L + sqrt(n) S Z)
        (float32 L, S).
    Additive (x_fix None): x_n = x_0 + sign step (n + s sqrt(n) Z), exactly.
    Stuck devices have step = L = S = 0: they never move.
    """

    sign: int
    x_fix: float | None
    step: FloatArray
    log_rate: NDArray[np.float32]
    log_spread: NDArray[np.float32]
    noise: float


def burst_constants(
    config: DeviceConfig, dev: DeviceParameters, m: float
) -> tuple[Direction, Direction] | None:
    """Up and down constants at pulse factor m, or None where the closed form does not hold
    (a step model without an affine form, see hil.stepmodels.StepModel.burst_gammas, or steps
    too large for it)."""
    gammas = config.step.burst_gammas()
    if gammas is None:
        return None
    s = config.noise.c2c_noise
    moving = ~dev.stuck
    out = []
    for sign, a, gamma in ((1, dev.step_up, gammas[0]), (-1, dev.step_down, gammas[1])):
        am = a * m * moving
        c = am * gamma if gamma > 0 else am
        if float(np.max(c, initial=0.0)) * (1.0 + _SAFE_SIGMAS * s) >= 1.0:
            return None
        if gamma == 0.0:
            out.append(Direction(sign, None, c, np.zeros(0, np.float32), np.zeros(0, np.float32), s))
            continue
        var = np.log1p((c * s / (1.0 - c)) ** 2)
        x_fix = 1.0 / gamma if sign > 0 else 1.0 - 1.0 / gamma
        log_rate = (np.log1p(-c) - var / 2).astype(np.float32)
        out.append(Direction(sign, x_fix, c, log_rate, np.sqrt(var).astype(np.float32), s))
    return out[0], out[1]


def apply_bursts(x: FloatArray, index: IntArray, count: IntArray, d: Direction, key: int) -> None:
    """Give devices `index` (flat) count >= 1 pulses each of one polarity, in place on the state x.

    Device k's normal deviate is normals(key, k): one key serves both polarities of a call.
    """
    if index.size == 0:
        return
    if d.x_fix is None:
        _additive(x, index, count, d, key)
        return
    # P_n as the log-normal with the product's exact mean and variance (float32 exponent).
    n = count.astype(np.float32)
    e = d.log_rate[index] * n
    if d.noise > 0:
        z = normals(key, index)
        z *= d.log_spread[index]
        z *= np.sqrt(n)
        e += z
    np.expm1(e, out=e)  # x_n - x_0 = (x_0 - x_fix)(P_n - 1)
    xs = x[index]
    xs += (xs - d.x_fix) * e
    np.clip(xs, 0.0, 1.0, out=xs)
    x[index] = xs


def _additive(x: FloatArray, index: IntArray, count: IntArray, d: Direction, key: int) -> None:
    """Constant steps: the sum of n steps a m (1 + s ξ_k) is a m (n + s sqrt(n) Z), exactly."""
    n = count.astype(np.float64)
    if d.noise > 0:
        n += d.noise * np.sqrt(n) * normals(key, index)
    xs = x[index]
    xs += d.sign * d.step[index] * n
    np.clip(xs, 0.0, 1.0, out=xs)
    x[index] = xs
