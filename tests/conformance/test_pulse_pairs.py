"""Every pulse-taking call of the contract takes a Pulse or a PulsePair, checked per polarity."""

from __future__ import annotations

import numpy as np
import pytest

from hil import LimitError, Pulse, PulsePair
from hil.mock import IdealCrossbar
from tests.conformance.test_backend_contract import RTOL, SHAPE, backend, pulse_for  # noqa: F401


def calls(b, pulses):
    """The pulse-taking calls of the contract, each with `pulses`, by name."""
    ones = np.ones(SHAPE, dtype=np.int64)
    p, q = np.full(SHAPE[0], 0.5), np.full(SHAPE[1], 0.5)
    return {
        "apply_pulses": lambda: b.apply_pulses(ones, pulses),
        "stochastic_update": lambda: b.stochastic_update(p, q, 4, pulses),
        "pulse_read_train": lambda: b.pulse_read_train((0, 0), 2, 1, pulses),
        "alternating_pairs": lambda: b.alternating_pairs(1, read_every=1, pulses=pulses),
    }


def test_every_pulse_call_checks_each_polarity_before_writing(backend) -> None:  # noqa: F811
    """An up-only write still has its down pulse checked: a pair is one setting of the bench."""
    before = backend.read()
    good = pulse_for(backend)
    too_high = Pulse(backend.limits.max_pulse_amplitude * 1.01, good.width)
    too_long = Pulse(good.amplitude, backend.limits.max_pulse_width * 2)
    for call in calls(backend, PulsePair(good, too_high)).values():
        with pytest.raises(LimitError, match="down pulse: pulse amplitude"):
            call()
    for call in calls(backend, PulsePair(too_long, good)).values():
        with pytest.raises(LimitError, match="up pulse: pulse width"):
            call()
    np.testing.assert_allclose(backend.read(), before, rtol=RTOL)


def test_a_pair_reaches_the_array_and_a_pulse_arrives_as_its_symmetric_pair() -> None:
    b = IdealCrossbar(SHAPE)
    pair = PulsePair(Pulse(6.0, 20e-9), Pulse(5.5, 30e-9))
    b.apply_pulses(np.ones(SHAPE, dtype=int), pair)
    b.pulse_read_train((1, 1), 2, -1, pair)
    assert b.pulses == [pair] * 3
    pulse = Pulse(6.0, 20e-9)
    for _ in range(3):
        b.apply_pulses(-np.ones(SHAPE, dtype=int), pulse)
    assert b.pulses[-1] == PulsePair.symmetric(pulse)
    # The same Pulse object again gives the same pair object: no allocation on the training path.
    assert b.pulses[-1] is b.pulses[-2] is b.pulses[-3]
    with pytest.raises(TypeError, match=r"hil\.PulsePair"):
        b.apply_pulses(np.ones(SHAPE, dtype=int), (6.0, 20e-9))  # type: ignore[arg-type]
