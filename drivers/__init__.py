"""Instrument drivers on PyMeasure: the roles a hardware backend composes, and their drivers.

Roles (drivers.roles): SourceMeter, PulseGenerator, SwitchMatrix; the command sequences SMUs
and pulse generators share (drivers.templates): SourceMeterTemplate, ChannelSourceMeter,
ScpiPulseGenerator. Drivers, by bench name
(drivers.registry): keithley2450, keysightb2902a, keithley2636b (SMUs); keysight33500b,
agilent81150a (pulse generators); keithley707b, serialrelay (switch matrices).
"""

from drivers.errors import InstrumentError
from drivers.roles import PulseGenerator, SourceMeter, SwitchMatrix

__all__ = ["InstrumentError", "PulseGenerator", "SourceMeter", "SwitchMatrix"]
