"""protonic-symmetric: protonic-asymmetric's noise and variation on symmetric devices."""

from __future__ import annotations

import dataclasses

import pytest

from simulators.presets import PRESETS


def test_symmetric_preset_matches_the_asymmetric_one_except_the_step() -> None:
    sym, asym = PRESETS["protonic-symmetric"], PRESETS["protonic-asymmetric"]
    assert sym.noise == asym.noise and sym.initial == asym.initial and sym.ranges == asym.ranges
    assert sym.pulse_response == asym.pulse_response
    assert sym.variation == dataclasses.replace(asym.variation, dtod_imbalance=0.0)
    # A constant, equal step in both directions: every state is a symmetry point.
    assert sym.model == "linear-step" and (sym.gamma_up, sym.gamma_down) == (0.0, 0.0)
    assert sym.step_up == sym.step_down
    # ... of the size of the asymmetric device's step at its symmetry point, a+ a- / (a+ + a-).
    a_up, a_down = asym.step_up, asym.step_down
    assert sym.step_up == pytest.approx(a_up * a_down / (a_up + a_down))
