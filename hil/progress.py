"""Progress reporting for long protocols: a tqdm bar behind a plain callback, or, when the
output is not a terminal (a log file, a pipe, CI), a plain line at a steady interval."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from tqdm import tqdm

ProgressCallback = Callable[[int, int], None]
"""progress(done, total): called by protocols as they advance."""

LINE_INTERVAL_S = 30.0  # a log shows a run is alive, and how far, twice a minute


@contextmanager
def progress_bar(
    description: str, enabled: bool = True, stream: TextIO | None = None, interval: float = LINE_INTERVAL_S
) -> Iterator[ProgressCallback | None]:
    """Yield a callback that drives a tqdm bar on stderr (None when disabled).

    When the stream (default stderr) is not a terminal, a line every `interval` seconds says
    what runs, how far it is and when it should end (ProgressLines) instead of a bar.
    """
    if not enabled:
        yield None
        return
    out = sys.stderr if stream is None else stream
    if not out.isatty():
        lines = ProgressLines(description, out, interval)
        lines.start()
        try:
            yield lines.update
        finally:
            lines.close()
        return
    bar = tqdm(desc=description, unit="step", leave=False, dynamic_ncols=True, file=out)

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)  # tqdm redraws at most every mininterval seconds

    try:
        yield update
    finally:
        bar.close()


def duration(seconds: float) -> str:
    """'45 s', '3 min 20 s', '2 h 05 min'."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class ProgressLines:
    """One line per interval on a stream, from a timer thread, so that a log shows progress even
    while nothing is counted yet (a training's preparation); a last line at the end if any
    was written. ETA: what is left at the rate since the first counted step."""

    def __init__(
        self, description: str, stream: TextIO, interval: float, clock: Callable[[], float] = time.monotonic
    ):
        self.description, self.stream, self.interval, self.clock = description, stream, interval, clock
        self.started = clock()
        self.done, self.total = 0, 0
        self.first: tuple[float, int] | None = None  # (time, done) at the first update
        self.written = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress-lines", daemon=True)

    def update(self, done: int, total: int) -> None:
        if self.first is None:
            self.first = (self.clock(), done)
        self.done, self.total = done, total

    def line(self, now: float) -> str:
        elapsed = duration(now - self.started)
        done, total, first = self.done, self.total, self.first
        if first is None or total <= 0:
            return f"{self.description}: nothing counted yet, {elapsed} elapsed"
        text = (
            f"{self.description}: {done:,} of {total:,} steps ({100 * done / total:.0f} %), {elapsed} elapsed"
        )
        if done >= total:
            return text + ", done"
        if done > first[1] and now > first[0]:
            rate = (done - first[1]) / (now - first[0])
            text += f", ETA {duration((total - done) / rate)}"
        return text

    def write(self) -> None:
        print(self.line(self.clock()), file=self.stream, flush=True)
        self.written += 1

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.write()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.written:  # a short run stays silent; a long one says where it ended
            self.write()
