"""The state of a simulated chip as bytes: what a resumed run needs to continue on the same chip.

A real chip keeps its conductances between two processes; a simulated one lives in memory, so a
run that is stopped and resumed would otherwise continue on a fresh chip drawn from the seed.
A snapshot holds, per array of the chip: the normalised state of every device, the per-device
parameters that device-to-device variation drew (bounds, steps, stuck flags) and the states of
the array's random streams (pulses, measurements, update bit streams), so that a restored chip
continues draw for draw as the chip it was taken from.

A chip driven through instruments (the virtual bench) has one more random stream per array on
the controlling side: the stochastic update's bit streams, which the computer draws and the
instruments fire (hil.backend.CrossbarBackend.bit_stream_state). A snapshot can carry those
beside the chip's, by array name, so that a resumed run on the virtual bench draws the same bits.

Format: a magic string, the length of a JSON header (8 bytes, little-endian), the header (format,
version, per array its shape, random streams' states and where each numpy array's raw bytes
lie: dtype, shape, offset, and optionally "bit_streams": the controller's streams by array
name), then those bytes. No pickles; a few tens of microseconds per
snapshot, since the run store writes one with every point.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from simulators.crossbar import SimulatedCrossbar
from simulators.devices import DeviceParameters

FORMAT = "protonic-hil simulated chip state"
VERSION = 1
_PARAMETERS = ("g_min", "g_max", "step_up", "step_down", "stuck")
_MAGIC = b"HILCHIP\n"


class SnapshotError(ValueError):
    """A snapshot that does not fit the chip it is restored into (or is not a snapshot)."""


def snapshot(
    arrays: Mapping[str, SimulatedCrossbar], bit_streams: Mapping[str, dict[str, Any]] | None = None
) -> bytes:
    """The state of every array (by name) as bytes; bit_streams: the controller's stochastic-update
    streams by array name (JSON-ready bit-generator states), kept beside them."""
    meta: dict[str, Any] = {"format": FORMAT, "version": VERSION, "arrays": {}}
    if bit_streams:
        meta["bit_streams"] = dict(bit_streams)
    chunks: list[bytes] = []
    offset = 0
    for name, array in arrays.items():
        state = array.chip_state()
        fields = {"x": state["x"], **{f: np.asarray(getattr(state["devices"], f)) for f in _PARAMETERS}}
        layout = {}
        for field, value in fields.items():
            data = np.ascontiguousarray(value).tobytes()
            layout[field] = {"dtype": value.dtype.str, "shape": list(value.shape), "offset": offset}
            chunks.append(data)
            offset += len(data)
        meta["arrays"][name] = {"shape": list(array.shape), "rngs": state["rngs"], "fields": layout}
    header = json.dumps(meta).encode("utf-8")
    return b"".join([_MAGIC, len(header).to_bytes(8, "little"), header, *chunks])


def read_snapshot(blob: bytes) -> dict[str, dict[str, Any]]:
    """The per-array states of a snapshot, by array name: "shape", and chip_state()'s fields."""
    try:
        meta, body = _header(blob)
        states = {}
        for name, entry in meta["arrays"].items():
            values = {field: _array(body, spec) for field, spec in entry["fields"].items()}
            states[name] = {
                "shape": tuple(entry["shape"]),
                "x": values["x"],
                "devices": DeviceParameters(*(values[f] for f in _PARAMETERS)),
                "rngs": entry["rngs"],
            }
        return states
    except (KeyError, ValueError, TypeError) as exc:
        if isinstance(exc, SnapshotError):
            raise
        raise SnapshotError(f"a simulated chip state could not be read: {exc}") from exc


def read_bit_streams(blob: bytes) -> dict[str, dict[str, Any]]:
    """The controller's bit-stream states a snapshot carries, by array name (empty: none)."""
    try:
        return dict(_header(blob)[0].get("bit_streams", {}))
    except (ValueError, TypeError) as exc:
        if isinstance(exc, SnapshotError):
            raise
        raise SnapshotError(f"a simulated chip state could not be read: {exc}") from exc


def _header(blob: bytes) -> tuple[dict[str, Any], memoryview]:
    """The JSON header of a snapshot and the bytes after it."""
    if not blob.startswith(_MAGIC):
        raise SnapshotError("not a simulated chip state (it does not start as one)")
    start = len(_MAGIC) + 8
    size = int.from_bytes(blob[len(_MAGIC) : start], "little")
    meta = json.loads(blob[start : start + size].decode("utf-8"))
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise SnapshotError(f"not a simulated chip state of version {VERSION}: {meta.get('format')!r}")
    return meta, memoryview(blob)[start + size :]


def _array(body: memoryview, spec: Mapping[str, Any]) -> np.ndarray:
    dtype = np.dtype(spec["dtype"])
    count = int(np.prod(spec["shape"], dtype=np.int64))
    flat = np.frombuffer(body, dtype=dtype, count=count, offset=int(spec["offset"]))
    return flat.reshape(spec["shape"]).copy()


def restore(array: SimulatedCrossbar, state: Mapping[str, Any], name: str) -> None:
    """Put one array's state (from read_snapshot) back into `array`; SnapshotError if the shape
    differs."""
    if tuple(state["shape"]) != array.shape:
        raise SnapshotError(
            f"array {name!r} was {tuple(state['shape'])} when its state was stored, not {array.shape}"
        )
    array.set_chip_state(dict(state))
