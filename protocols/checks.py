"""Parameter checks the protocols share: bad values raise before anything touches a backend."""

from __future__ import annotations

import numpy as np


def positive_int(value: object, name: str) -> int:
    """value as an int if it is a whole number >= 1 (bools refused), else ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    return int(value)
