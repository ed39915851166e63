"""A virtual bench built to carry the arrays it is asked for.

The shipped bench files fix their arrays' shapes; a virtual chip has no such limit, so
carrying(config, arrays) returns the configuration with a chip that holds the file's arrays
and the requested ones (a requested name replaces the file's array of that name). The layout is
the one the shipped virtual-bench-iris.toml spells out by hand: arrays side by side, each
device with its own gate pad and drain pad, each array its own source pad, so the relay matrix
switches every device apart from every other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from hil.benchconfig import ArrayRegion, BenchConfig


def carrying(config: BenchConfig, arrays: Mapping[str, tuple[int, int]]) -> BenchConfig:
    """config with its chip laid out anew to hold its own arrays and `arrays` (name -> (rows,
    cols), devices): gate pads 1..R*C, drain pads R*C+1..2*R*C, then one source pad per array,
    where R x C is the chip (rows: the tallest array; columns: all arrays' columns in turn)."""
    shapes = {name: region.shape for name, region in config.arrays.items()}
    shapes.update({name: (int(rows), int(cols)) for name, (rows, cols) in arrays.items()})
    for name, (rows, cols) in shapes.items():
        if rows < 1 or cols < 1:
            raise ValueError(f"array {name!r} needs at least one row and one column, got {rows} x {cols}")
    n_rows = max(rows for rows, _ in shapes.values())
    n_cols = sum(cols for _, cols in shapes.values())
    regions, owner, start = {}, [], 0
    for index, (name, (rows, cols)) in enumerate(shapes.items()):
        regions[name] = ArrayRegion(name, 0, rows, start, start + cols)
        owner += [index] * cols
        start += cols
    devices = n_rows * n_cols
    pins = {
        "gate": _grid(n_rows, n_cols, lambda r, c: 1 + r * n_cols + c),
        "drain": _grid(n_rows, n_cols, lambda r, c: 1 + devices + r * n_cols + c),
        "source": _grid(n_rows, n_cols, lambda r, c: 1 + 2 * devices + owner[c]),
    }
    return dataclasses.replace(config, chip_shape=(n_rows, n_cols), pins=pins, arrays=regions)


def _grid(rows: int, cols: int, pad: Callable[[int, int], int]) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(pad(r, c) for c in range(cols)) for r in range(rows))
