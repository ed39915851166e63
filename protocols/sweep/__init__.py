"""Device-algorithm sweeps: a spec of axes, expanded to points, trained on Dask workers.

    spec        the TOML spec, its axes and the points they expand to (SweepSpec, PointTask)
    devices     DeviceConfig overrides by name, the derived axes asymmetry and states
    runner      one point on a worker: a fresh simulated chip, one training, plain results
    engine      the Dask cluster (local, or an existing scheduler) and the task loop
    results     stored points read back, what is left to run, the tidy CSV, the summary
    figures     accuracy against each axis per algorithm, a heatmap of two axes
    paper       the SHD paper's asymmetry sweep on a noise-matched footing

The algorithms are the rows of protocols.training.registry. The command is
`hil sweep SPEC.toml` (docs/sweeps.md).
"""

from protocols.sweep.devices import DeviceSource, device_overrides
from protocols.sweep.engine import ClusterOptions, compute, dask_client
from protocols.sweep.figures import plot_sweep
from protocols.sweep.results import PointWriter, latest, ordered, pending, summary, write_csv
from protocols.sweep.runner import run_point
from protocols.sweep.spec import PointTask, SpecError, SweepSpec, expand, load_spec, parse_spec, validate

__all__ = [
    "ClusterOptions",
    "DeviceSource",
    "PointTask",
    "PointWriter",
    "SpecError",
    "SweepSpec",
    "compute",
    "dask_client",
    "device_overrides",
    "expand",
    "latest",
    "load_spec",
    "ordered",
    "parse_spec",
    "pending",
    "plot_sweep",
    "run_point",
    "summary",
    "validate",
    "write_csv",
]
