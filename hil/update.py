"""Planning a stochastic rank-one update: from (x, d, learning rate) to bit probabilities.

Gokmen & Vlasov 2016: row i fires with probability p_i = A |x_i|, column j with
q_j = B |d_j|, over BL slots. A device's expected pulse count is BL A B |x_i d_j|, so with
A B = lr / (dw_min BL) the expected weight change is lr x_i d_j (weight units), pulses of
dw_min each. Update management picks A and B so that max p = max q; BL management lowers BL
(fewer, surer pulses) when lr |x|max |d|max / dw_min is small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from hil.arrays import FloatArray, abs_max, float_array


@dataclass(frozen=True)
class UpdatePlan:
    """Bit probabilities for one rank-one update.

    p, q: signed probabilities for rows and columns (|p|, |q| <= 1).
    bl: bit-stream length to fire.
    clipped: True if some probability exceeded 1 even at bl_max and was cut to 1, so that the
        largest elements of the update are smaller than asked for.
    """

    p: FloatArray
    q: FloatArray
    bl: int
    clipped: bool

    @property
    def is_empty(self) -> bool:
        """True if no device can get a pulse (every p or every q is 0)."""
        return not (np.count_nonzero(self.p) and np.count_nonzero(self.q))


class UpdateScales(NamedTuple):
    """The scalars of a plan: p = a x (cut to [-1, 1] where clipped), q = b d, over bl slots."""

    a: float
    b: float
    bl: int
    clipped: bool

    def probabilities(self, x: FloatArray, d: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(p, q) of row inputs x and column inputs d, signed."""
        p, q = self.a * x, self.b * d
        if self.clipped:
            p, q = np.clip(p, -1.0, 1.0), np.clip(q, -1.0, 1.0)
        return p, q


class UpdateOutcome(NamedTuple):
    """What one planned update did (CrossbarBackend.planned_update).

    fired: False when x or d was all zero, so that no stream fired (bl and clipped are then
        meaningless); bl: the bit-stream length fired; clipped: as UpdatePlan.clipped; pulses:
        the pulses applied, sum of |counts| (None where the hardware fired the streams itself
        and no count came back).
    """

    fired: bool
    bl: int
    clipped: bool
    pulses: int | None


NOT_FIRED = UpdateOutcome(False, 0, False, 0)


def update_scales(
    x_max: float,
    d_max: float,
    lr: float,
    dw_min: float,
    bl_max: int = 31,
    update_management: bool = True,
    bl_management: bool = True,
) -> UpdateScales | None:
    """The plan's scalars from max |x| and max |d|; None when one of them is 0 (nothing to update).

    Raises ValueError for a NaN or infinite maximum, a learning rate or dw_min that is not a
    finite number > 0, or a bl_max that is not a positive integer (see plan_update).
    """
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"learning rate must be a finite number > 0, got {lr!r}")
    if not (math.isfinite(dw_min) and dw_min > 0):
        raise ValueError(f"dw_min must be a finite number > 0 (weight units), got {dw_min!r}")
    if int(bl_max) != bl_max or bl_max < 1:
        raise ValueError(f"bl_max must be a positive integer, got {bl_max!r}")
    # max |x| is NaN or inf exactly when some element is: one reduction per vector checks both.
    if not (math.isfinite(x_max) and math.isfinite(d_max)):
        raise ValueError("plan_update: x or d contains NaN or inf")
    if x_max == 0.0 or d_max == 0.0:
        return None
    pulses_per_unit = lr / dw_min  # expected pulses per unit of |x_i d_j|
    bl = int(bl_max)
    if bl_management:
        bl = max(1, min(bl, math.ceil(pulses_per_unit * x_max * d_max)))
    c = math.sqrt(pulses_per_unit / bl)
    if update_management:
        a, b = c * math.sqrt(d_max / x_max), c * math.sqrt(x_max / d_max)
    else:
        a = b = c
    # max |a x_i| is a x_max exactly (a > 0; rounding is monotonic and sign-symmetric)
    return UpdateScales(a, b, bl, a * x_max > 1.0 or b * d_max > 1.0)


def plan_update(
    x: ArrayLike,
    d: ArrayLike,
    lr: float,
    dw_min: float,
    bl_max: int = 31,
    update_management: bool = True,
    bl_management: bool = True,
) -> UpdatePlan:
    """Probabilities whose expected effect is the weight change lr * x_i * d_j.

    x: row vector (the layer input); d: column vector (pass minus the gradient of the loss
    with respect to the output for gradient descent); lr: learning rate (> 0); dw_min: the
    weight change of one pulse, in the same units as the weights (> 0).
    """
    xa, da = float_array(x), float_array(d)
    if xa.ndim != 1 or da.ndim != 1:
        raise ValueError(f"plan_update takes vectors, got shapes {xa.shape} and {da.shape}")
    scales = update_scales(abs_max(xa), abs_max(da), lr, dw_min, bl_max, update_management, bl_management)
    if scales is None:
        return UpdatePlan(np.zeros_like(xa), np.zeros_like(da), 1, False)
    p, q = scales.probabilities(xa, da)
    return UpdatePlan(p, q, scales.bl, scales.clipped)
