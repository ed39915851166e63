"""A short soak (benchmarks/soak.py has the full one, with its result in docs/reliability.md):
pulse-read cycles on the virtual bench with a transient fault every fraction of a second."""

from __future__ import annotations

import pytest

from benchmarks.soak import FAULTS, soak

CYCLES = 2000
# Each fault comes this long after the bench recovered from the previous one (a cycle completed
# after it), so that two faults never meet, however slow the machine.
FAULT_EVERY_S = 0.6
# A scan's reply on a loaded machine can take a good part of 200 ms; a real timeout on top of an
# injected one would fail the read twice.
SMU_TIMEOUT_MS = 400.0
# Resident memory may still grow a little after 10 % of a short run (buffers reaching their
# bounds); a leak of even 8 kB per cycle would exceed it.
RSS_SLACK_KB = 16_000


@pytest.mark.slow
def test_a_short_soak_loses_no_point_and_repeats_no_pulse() -> None:
    result = soak(CYCLES, fault_every=FAULT_EVERY_S, smu_timeout_ms=SMU_TIMEOUT_MS)
    assert result.points_stored == CYCLES
    assert result.pulses_received == result.pulses_applied == CYCLES * 16
    assert set(result.faults_injected) == set(FAULTS)
    # Every fault was retried once, and each retry is stored with the run.
    assert sum(result.retries.values()) == sum(result.faults_injected.values()) == result.retry_points
    assert result.fd_growth == 0
    assert result.rss_growth_kb < RSS_SLACK_KB
