"""The backends the conformance suite runs against.

Each factory builds a fresh backend of the given shape with quiet reads (no read noise), no
stuck devices and every device away from its bounds, so that exact contract checks apply.
Register a new backend here and the whole conformance suite runs against it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from hil.backend import CrossbarBackend
from hil.mock import IdealCrossbar

BackendFactory = Callable[[tuple[int, int], int], "contextmanager[CrossbarBackend]"]


@contextmanager
def mock_backend(shape: tuple[int, int], seed: int) -> Iterator[CrossbarBackend]:
    with IdealCrossbar(shape, seed=seed) as backend:
        yield backend


FACTORIES: dict[str, Callable[[tuple[int, int], int], contextmanager]] = {
    "mock": mock_backend,
}
