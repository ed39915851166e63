"""Progress on a non-terminal output (a log, a pipe, CI): a line at a steady interval."""

from __future__ import annotations

import io
import time

import pytest

from hil.progress import ProgressLines, duration, progress_bar


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "0 s"), (45, "45 s"), (200, "3 min 20 s"), (3600 * 2 + 300, "2 h 05 min")],
)
def test_duration_reads_as_words(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_a_line_says_what_runs_how_far_and_when_it_ends() -> None:
    clock = Clock()
    lines = ProgressLines("shd epoch", io.StringIO(), 30.0, clock)
    clock.now += 150  # a training's preparation: nothing counted yet
    assert lines.line(clock()) == "shd epoch: nothing counted yet, 2 min 30 s elapsed"
    lines.update(100, 1000)  # the first count sets the rate's origin
    clock.now += 60
    lines.update(400, 1000)  # 300 steps in 60 s: 600 left take 120 s
    assert lines.line(clock()) == "shd epoch: 400 of 1,000 steps (40 %), 3 min 30 s elapsed, ETA 2 min 0 s"
    lines.update(1000, 1000)
    assert lines.line(clock()).endswith("(100 %), 3 min 30 s elapsed, done")


def test_on_a_non_terminal_stream_lines_come_at_the_interval_and_a_last_one_at_the_end() -> None:
    out = io.StringIO()
    with progress_bar("jump table", stream=out, interval=0.01) as progress:
        assert progress is not None
        progress(5, 10)
        deadline = time.monotonic() + 60
        while out.getvalue().count("\n") < 2:  # the timer thread writes on its own
            assert time.monotonic() < deadline, "no progress line from the timer"
            time.sleep(0.005)
    text = out.getvalue().splitlines()
    assert all(line.startswith("jump table: 5 of 10 steps (50 %)") for line in text)
    assert len(text) >= 3  # two from the timer, the last from the end


def test_a_run_shorter_than_the_interval_prints_nothing() -> None:
    out = io.StringIO()
    with progress_bar("symmetry point", stream=out, interval=3600) as progress:
        progress(10, 10)
    assert out.getvalue() == ""


def test_disabled_progress_yields_no_callback() -> None:
    with progress_bar("x", enabled=False, stream=io.StringIO()) as progress:
        assert progress is None
