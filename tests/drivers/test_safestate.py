"""Steps towards the safe state: each one is tried, whatever failed before it."""

from __future__ import annotations

import pytest

from drivers.safestate import attempt_each, send_all


def test_every_step_runs_and_the_failures_come_back_in_order():
    ran = []

    def step(name: str, error: Exception | None = None):
        def run() -> None:
            ran.append(name)
            if error is not None:
                raise error

        return name, run

    first, second = ConnectionError("gone"), TimeoutError("no reply")
    failures = attempt_each([step("a", first), step("b"), step("c", second)])
    assert ran == ["a", "b", "c"]
    assert failures == [("a", first), ("c", second)]
    assert attempt_each([step("d")]) == []


def test_send_all_writes_every_command_then_raises_the_first_failure():
    sent = []

    def write(command: str) -> None:
        sent.append(command)
        if command != "OUTP OFF":
            raise OSError(command)

    with pytest.raises(OSError, match="ABOR"):
        send_all(write, ["ABOR", "VOLT 0", "OUTP OFF"])
    assert sent == ["ABOR", "VOLT 0", "OUTP OFF"]
