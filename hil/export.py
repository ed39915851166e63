"""Export a stored run to CSV (long format) or HDF5 (one group per point kind)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from hil.results import to_jsonable
from hil.store import RunStore

FORMATS = ("csv", "hdf5")


def export_run(store: RunStore, key: str | int, out: str | Path, fmt: str) -> Path:
    """Write run `key` to `out` in format 'csv' or 'hdf5'; returns the path written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    (_export_csv if fmt == "csv" else _export_hdf5)(store, key, path)
    return path


def _export_csv(store: RunStore, key: str | int, path: Path) -> None:
    """One row per value: arrays are flattened with their index, scalars have an empty index."""
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["seq", "kind", "step", "t_unix_s", "name", "index", "value"])
        for p in store.points(key):
            head = [p.seq, p.kind, "" if p.step is None else p.step, f"{p.t:.6f}"]
            for name, value in p.scalars.items():
                text = json.dumps(value) if isinstance(value, dict | list) else value
                writer.writerow([*head, name, "", text])
            for name, array in p.arrays.items():
                for index, value in np.ndenumerate(array):
                    writer.writerow([*head, name, ";".join(map(str, index)), repr(value.item())])


def _export_hdf5(store: RunStore, key: str | int, path: Path) -> None:
    """Per kind: arrays of equal shape stacked along a leading point axis, plus seq/step/t."""
    import h5py

    info = store.run(key)
    grouped: dict[str, list] = {}
    for p in store.points(key):
        grouped.setdefault(p.kind, []).append(p)
    with h5py.File(path, "w") as h5:
        for field in ("uid", "protocol", "status", "started", "ended", "seed"):
            value = getattr(info, field)
            if value is not None:
                h5.attrs[field] = value
        for field in ("params", "bench", "instruments", "software", "summary"):
            h5.attrs[field] = json.dumps(to_jsonable(getattr(info, field)))
        for kind, points in grouped.items():
            group = h5.create_group(kind)
            group["seq"] = [p.seq for p in points]
            group["step"] = [-1 if p.step is None else p.step for p in points]
            group["t_unix_s"] = [p.t for p in points]
            for name in sorted({n for p in points for n in p.arrays}):
                arrays = [p.arrays.get(name) for p in points]
                if all(a is not None and a.shape == arrays[0].shape for a in arrays):
                    group[name] = np.stack(arrays)
                else:  # ragged: one dataset per point
                    sub = group.create_group(name)
                    for p, a in zip(points, arrays, strict=True):
                        if a is not None:
                            sub[str(p.seq)] = a
            group.attrs["scalars"] = json.dumps([to_jsonable(p.scalars) for p in points])
