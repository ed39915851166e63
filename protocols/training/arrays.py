"""The arrays a network takes on a bench: one definition for the trainers' callers.

A trainer asks its array source for "L<i>.<kind>" of layer i's shape (inputs plus the bias
row, outputs), one per kind its algorithm uses (its row's arrays in
protocols.training.registry). network_arrays lists
them before a bench is opened, so that a virtual bench can be built to carry them;
carried_network reads the other way: the network whose arrays a bench already has.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from protocols.training.analog_training import layer_array_name
from protocols.training.network import MLPSpec
from protocols.training.registry import algorithm

Shape = tuple[int, int]


def network_arrays(algorithms: Iterable[str], spec: MLPSpec) -> dict[str, Shape]:
    """Every array the algorithms ask for to train `spec`: name -> (rows, cols), in the order
    they are asked for. Empty when no algorithm runs on arrays (fp)."""
    out: dict[str, Shape] = {}
    for name in algorithms:
        for index, shape in enumerate(spec.layer_shapes):
            for kind in algorithm(name).arrays:
                out[layer_array_name(index, kind)] = shape
    return out


def carried_network(
    algorithms: Iterable[str], shapes: Mapping[str, Shape], n_inputs: int, n_outputs: int
) -> MLPSpec | None:
    """The largest network from n_inputs to n_outputs whose every array the algorithms need is
    in `shapes` (name -> (rows, cols)) with its layer's shape; None if there is none.

    Layer i's arrays must all exist and agree; layer i + 1 takes layer i's outputs plus the bias
    row. Of the chains that start with n_inputs + 1 rows, the longest ending in n_outputs wins.
    """
    kinds = [kind for name in algorithms for kind in algorithm(name).arrays]
    if not kinds:
        return None
    sizes = [n_inputs]
    best: MLPSpec | None = None
    for index in range(len(shapes)):
        layer = {shapes.get(layer_array_name(index, kind)) for kind in kinds}
        if len(layer) != 1 or None in layer:
            break
        ((rows, cols),) = layer
        if rows != sizes[-1] + 1:
            break
        sizes.append(cols)
        if cols == n_outputs and cols >= 2:
            best = MLPSpec(tuple(sizes))
    return best
