"""drivers.attributes.FastAttributeAccess keeps PyMeasure's guard on the names its dynamic
properties reserve, and plain access to everything else."""

from __future__ import annotations

import pytest
from pymeasure.test import expected_protocol

from drivers.keithley2450 import Keithley2450SMU
from drivers.keysight33500b import Keysight33500B
from hil.pulses import SafetyLimits

LIMITS = SafetyLimits(
    max_pulse_amplitude=4.0, min_pulse_width=1e-8, max_pulse_width=1e-3, max_pulses_per_call=1000
)


def test_reserved_names_of_dynamic_properties_still_cannot_be_read() -> None:
    with expected_protocol(Keysight33500B, [], limits=LIMITS) as gen:
        reserved = object.__getattribute__(gen, "__dict__")["_special_names"]
        assert reserved  # the 33500B's PyMeasure base has dynamic properties
        with pytest.raises(AttributeError, match="reserved variable name"):
            getattr(gen, reserved[0])
        assert gen.limits is LIMITS


def test_an_instrument_without_dynamic_properties_reads_its_attributes_plainly() -> None:
    with expected_protocol(Keithley2450SMU, [("*IDN?", "KEITHLEY")], limits=LIMITS) as smu:
        assert not object.__getattribute__(smu, "__dict__").get("_special_names")
        assert smu.ask("*IDN?") == "KEITHLEY"
        with pytest.raises(AttributeError):
            smu.no_such_attribute  # noqa: B018
