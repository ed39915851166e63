"""Attribute access for PyMeasure instruments without a per-access cost that showed in every query.

PyMeasure's CommonBase.__getattribute__ guards the reserved names of "dynamic" properties on
every attribute access, with hasattr() going through the same hook again: an ask() touches
about a dozen attributes, each three lookups deep, which on the virtual bench put a driver's
*IDN? 10-11 % above a bare pyvisa query (interleaved, 2000 queries each).
FastAttributeAccess keeps the guard, reading the reserved names straight from the instance
dictionary, so an instrument without dynamic properties pays one dictionary lookup per access.
"""

from __future__ import annotations

from typing import Any


class FastAttributeAccess:
    """Mix in before the PyMeasure base class: the same reserved-name guard, at a dict lookup."""

    def __getattribute__(self, name: str) -> Any:
        reserved = object.__getattribute__(self, "__dict__").get("_special_names")
        if reserved and name in reserved:
            raise AttributeError(f"{name} is a reserved variable name and it cannot be read")
        return object.__getattribute__(self, name)
