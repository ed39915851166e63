"""Array types and the cheap checks every contract call runs on its arguments.

They sit apart from hil.backend so that the update planning (hil.update) and the contract can
share them without importing each other.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def float_array(x: ArrayLike) -> FloatArray:
    """x as a float64 array; an array that is one already is taken as it is (no copy, no call)."""
    if type(x) is np.ndarray and x.dtype == np.float64:
        return x
    return np.asarray(x, dtype=np.float64)


def abs_max(a: FloatArray) -> float:
    """max |a| of a float64 array (0 if empty), NaN if an element is NaN; equal to
    np.abs(a).max() without its temporary (argmax and argmin return a NaN's index)."""
    if a.size == 0:
        return 0.0
    flat = a if a.ndim == 1 else a.reshape(-1)
    hi, lo = flat.item(flat.argmax()), flat.item(flat.argmin())  # Python floats, one call each
    if hi != hi or lo != lo:
        return math.nan
    return max(hi, -lo)


def within(a: FloatArray, bound: float) -> bool:
    """True if every element of the float64 array a is finite and |a| <= bound (True if empty).

    Two index reductions and no temporary: argmax and argmin return the index of a NaN if there
    is one, and a NaN or an infinity fails the comparisons.
    """
    if a.size == 0:
        return True
    flat = a if a.ndim == 1 else a.reshape(-1)
    return -bound <= flat.item(flat.argmin()) and flat.item(flat.argmax()) <= bound
