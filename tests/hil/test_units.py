"""The one engineering format of figure texts and ticks (hil.units)."""

from __future__ import annotations

import pytest

from hil.units import eng, eng_ticks


@pytest.mark.parametrize(
    ("value", "unit", "digits", "text"),
    [
        (2e-8, "s", 3, "20 ns"),
        (5e-9, "s", 3, "5 ns"),
        (6.0, "V", 3, "6 V"),
        (4.75, "V", 3, "4.75 V"),
        (1.28e-5, "S", 3, "12.8 µS"),
        (1.2823e-5, "S", 4, "12.82 µS"),
        (5.4e-8, "S", 3, "54 nS"),
        (-5.4e-8, "S", 3, "-54 nS"),
        (0.0, "V", 3, "0 V"),
        (-0.0, "S", 3, "0 S"),
        (999.9e-9, "S", 3, "1 µS"),  # rounds to 1.00e-6: the prefix moves up with the carry
        (-999.96e-9, "S", 4, "-1 µS"),
        (999.4e-9, "S", 4, "999.4 nS"),
        (123456.0, "Hz", 3, "123 kHz"),
        (1e-3, "", 3, "1 m"),
        (6.1349e-8, "S", 2, "61 nS"),
        (float("nan"), "S", 3, "NaN S"),
        (float("inf"), "S", 3, "∞ S"),
        (float("-inf"), "", 3, "-∞"),
    ],
)
def test_eng_writes_values_with_si_prefixes(value: float, unit: str, digits: int, text: str) -> None:
    assert eng(value, unit, digits) == text


def test_eng_rejects_no_digits() -> None:
    with pytest.raises(ValueError, match="digits"):
        eng(1.0, "V", 0)


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0, "0 S"), (1.25e-5, "12.5 µS"), (2e-6, "2 µS"), (-5e-8, "\N{MINUS SIGN}50 nS"), (1.5e-9, "1.5 nS")],
)
def test_tick_formatter_writes_the_same_format(value: float, text: str) -> None:
    # Ticks keep matplotlib's typographic minus; eng() writes a hyphen.
    assert eng_ticks("S")(value) == text
    assert eng(value, "S") == text.replace("\N{MINUS SIGN}", "-")
