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

import numpy as np
from numpy.typing import ArrayLike

from hil.backend import FloatArray, abs_max, float_array


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
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"learning rate must be a finite number > 0, got {lr!r}")
    if not (math.isfinite(dw_min) and dw_min > 0):
        raise ValueError(f"dw_min must be a finite number > 0 (weight units), got {dw_min!r}")
    if int(bl_max) != bl_max or bl_max < 1:
        raise ValueError(f"bl_max must be a positive integer, got {bl_max!r}")
    # One pair of index reductions per vector serves both checks: max |x| is NaN or inf
    # exactly when some element is (this runs once per training step and input vector).
    x_max, d_max = abs_max(xa), abs_max(da)
    if not (math.isfinite(x_max) and math.isfinite(d_max)):
        raise ValueError("plan_update: x or d contains NaN or inf")
    if x_max == 0.0 or d_max == 0.0:
        return UpdatePlan(np.zeros_like(xa), np.zeros_like(da), 1, False)

    pulses_per_unit = lr / dw_min  # expected pulses per unit of |x_i d_j|
    bl = int(bl_max)
    if bl_management:
        bl = max(1, min(bl, math.ceil(pulses_per_unit * x_max * d_max)))
    c = math.sqrt(pulses_per_unit / bl)
    if update_management:
        a, b = c * math.sqrt(d_max / x_max), c * math.sqrt(x_max / d_max)
    else:
        a = b = c
    p, q = a * xa, b * da
    # max |a x_i| is a x_max exactly (a > 0; rounding is monotonic and sign-symmetric)
    clipped = a * x_max > 1.0 or b * d_max > 1.0
    if clipped:
        p, q = np.clip(p, -1.0, 1.0), np.clip(q, -1.0, 1.0)
    return UpdatePlan(p, q, bl, clipped)
