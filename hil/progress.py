"""Progress reporting for long protocols: a tqdm bar behind a plain callback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

ProgressCallback = Callable[[int, int], None]
"""progress(done, total): called by protocols as they advance."""


@contextmanager
def progress_bar(description: str, enabled: bool = True) -> Iterator[ProgressCallback | None]:
    """Yield a callback that drives a tqdm bar on stderr (None when disabled)."""
    if not enabled:
        yield None
        return
    # disable=None: no bar when stderr is not a terminal (CI logs, pipes).
    bar = tqdm(desc=description, unit="step", leave=False, dynamic_ncols=True, disable=None)

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)  # tqdm redraws at most every mininterval seconds

    try:
        yield update
    finally:
        bar.close()
