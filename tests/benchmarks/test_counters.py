"""benchmarks.counters: the calling thread's instruction and cycle counters (where Linux allows them)."""

from __future__ import annotations

import threading

import pytest

from benchmarks.counters import CountersUnavailable, Counts, ThreadCounters


def _opened() -> ThreadCounters:
    try:
        return ThreadCounters()
    except CountersUnavailable as e:
        pytest.skip(str(e))


def _work(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def test_a_hundred_times_the_work_retires_tens_of_times_the_instructions() -> None:
    with _opened() as counters:
        spent = []
        for n in (2_000, 200_000):
            before = counters.read()
            _work(n)
            spent.append(counters.read() - before)
    small, large = spent
    assert isinstance(large, Counts) and small.instructions > 0 and small.cycles > 0
    assert 30 * small.instructions < large.instructions < 300 * small.instructions


def test_another_threads_work_is_not_counted() -> None:
    with _opened() as counters:
        before = counters.read()
        other = threading.Thread(target=_work, args=(2_000_000,))
        other.start()
        other.join()
        idle = counters.read() - before
        before = counters.read()
        _work(2_000_000)
        busy = counters.read() - before
    assert idle.instructions * 10 < busy.instructions
