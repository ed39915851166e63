"""Numbers with SI prefixes for people: "20 ns", "4.75 V", "12.8 µS", "-54 nS".

One definition for every figure text and tick label: eng() formats a value, eng_ticks() is the
matplotlib tick formatter built on the same rules (matplotlib.ticker.EngFormatter, with a
space between number and prefix). matplotlib is imported only when a formatter is asked for.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.ticker import EngFormatter

__all__ = ["eng", "eng_ticks"]


def eng_ticks(unit: str = "") -> EngFormatter:
    """A tick formatter writing values given in base SI units with a prefix: 1.28e-05 with
    unit "S" is "12.8 µS". Values keep up to six significant digits (ticks differ in few)."""
    from matplotlib.ticker import EngFormatter

    # ASCII hyphen for negatives so the texts compare and search as typed.
    return EngFormatter(unit=unit, places=None, sep=" ", usetex=False, useMathText=False)


def eng(value: float, unit: str = "", digits: int = 3) -> str:
    """value (in base SI units: S, V, s, A) with an SI prefix and `digits` significant digits:
    eng(2e-8, "s") == "20 ns", eng(1.28e-5, "S") == "12.8 µS", eng(999.9e-9, "S") == "1 µS"
    (rounded before the prefix is chosen, so the carry moves to the next prefix),
    eng(0, "V") == "0 V", eng(nan, "S") == "NaN S"."""
    if digits < 1:
        raise ValueError(f"digits must be at least 1, got {digits}")
    value = float(value)
    if math.isnan(value):
        return f"NaN {unit}".rstrip()
    if math.isinf(value):
        return f"{'-' if value < 0 else ''}∞ {unit}".rstrip()
    rounded = float(f"{value:.{digits}g}")
    return _minus(eng_ticks(unit).format_eng(rounded)).rstrip()


def _minus(text: str) -> str:
    return text.replace("\N{MINUS SIGN}", "-")
