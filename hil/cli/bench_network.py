"""The network `hil train` puts on the bench: sized to fit it, or the bench built to fit it.

With sim or virtual the network is the options' (or the data set's default) and a virtual
bench is built to carry its arrays. A bench file's arrays are fixed: without --hidden the
network is the largest they carry; a --hidden they do not carry stops before anything is
connected, with the option to change.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

from hil.benches import BenchArgumentError, bench_array_shapes
from hil.cli.common import UsageError, bench_from_options
from protocols.training.arrays import carried_network, network_arrays
from protocols.training.network import MLPSpec
from protocols.training.registry import algorithm


def hidden_for_bench(
    args: argparse.Namespace, n_inputs: int, n_outputs: int, default: tuple[int, ...]
) -> tuple[int, ...]:
    """The hidden widths to train with on args.bench; sets args.bench_arrays (name -> shape)
    to what a virtual bench must carry. Raises UsageError naming the option to change."""
    analog = [name for name in args.algorithm if algorithm(name).analog]
    try:
        shapes = bench_array_shapes(args.bench) if analog else None
    except BenchArgumentError as exc:
        raise UsageError(f"{bench_from_options(exc.argument)} {exc.problem}") from None
    if shapes is None:
        hidden = default if args.hidden is None else args.hidden
        args.bench_arrays = network_arrays(analog, MLPSpec((n_inputs, *hidden, n_outputs)))
        return hidden
    carried = carried_network(analog, shapes, n_inputs, n_outputs)
    if args.hidden is None:
        if carried is None:
            raise UsageError(_no_network(args.bench, analog, n_inputs, n_outputs))
        return carried.sizes[1:-1]
    wanted = network_arrays(analog, MLPSpec((n_inputs, *args.hidden, n_outputs)))
    _check_carried(args.bench, wanted, shapes, carried)
    return args.hidden


def _check_carried(
    bench: str,
    wanted: Mapping[str, tuple[int, int]],
    shapes: Mapping[str, tuple[int, int]],
    carried: MLPSpec | None,
) -> None:
    for name, shape in wanted.items():
        have = shapes.get(name)
        if have == shape:
            continue
        found = "has no array" if have is None else f"has array {name!r} of {have[0]} x {have[1]}, not"
        target = f"{name!r} of {shape[0]} x {shape[1]}" if have is None else f"{shape[0]} x {shape[1]}"
        fix = (
            f"use --hidden {_hidden_text(carried)} (the largest network its arrays carry) or omit --hidden"
            if carried is not None
            else "add the arrays to the bench file or use --bench virtual"
        )
        raise UsageError(f"--hidden: bench file {bench} {found} {target}, which the network needs; {fix}")


def _no_network(bench: str, analog: Sequence[str], n_inputs: int, n_outputs: int) -> str:
    first = network_arrays(analog[:1], MLPSpec((n_inputs, n_outputs)))
    name = next(iter(first))
    return (
        f"--bench: the arrays of bench file {bench} carry no network from {n_inputs} inputs to "
        f"{n_outputs} classes for {', '.join(analog)} (layer 0 needs {name} and its partners with "
        f"{n_inputs + 1} rows); add such arrays to the bench file or use --bench virtual"
    )


def _hidden_text(spec: MLPSpec) -> str:
    return ",".join(str(n) for n in spec.sizes[1:-1]) or "0"
