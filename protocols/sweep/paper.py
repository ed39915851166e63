"""The SHD paper's asymmetry sweep (Onen, Gokmen et al., Fig. 3) as a sweep spec.

The paper trains an LSTM with SGD and SHD on device models of increasing asymmetry and finds
that (1) SGD already loses accuracy at minimal asymmetry, (2) SHD trains every asymmetric
device, failing only on perfectly symmetric ones (asymmetry is its dissipation), and (3) SHD
on asymmetric devices can beat SGD on symmetric ones. The spec here asks the same of the 8x8
digits network on the simulator, on a noise-matched footing (specs/shd-paper-asymmetry.toml).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from protocols.records.sweep import SweepPoint
from protocols.sweep.spec import SweepSpec, parse_spec

PAPER_SPEC = Path(__file__).parent / "specs" / "shd-paper-asymmetry.toml"
ASYMMETRY = "device.asymmetry"
# The claim compares SHD with SGD: the table gives SHD's mean accuracy minus SGD's.
CLAIMED, BASELINE = "shd", "sgd"
CLAIM = (
    "paper (Fig. 3, LSTM): SGD loses accuracy already at minimal asymmetry; SHD trains every "
    "asymmetric device and fails only on perfectly symmetric ones"
)


def paper_spec(quick: bool = False) -> SweepSpec:
    """The measured spec, or a smoke run of it (2 epochs, one seed, the two ends of the axis)."""
    import tomllib

    raw = tomllib.loads(PAPER_SPEC.read_text(encoding="utf-8"))
    if quick:
        raw = copy.deepcopy(raw)
        raw["name"] += " (smoke run)"
        raw["base"]["epochs"] = 2
        raw["axes"] = {ASYMMETRY: [0.0, 1.0], "seed": [0]}
    return parse_spec(raw, source=str(PAPER_SPEC.name))


def paper_comparison(spec: SweepSpec, points: Sequence[SweepPoint]) -> dict[str, Any]:
    """Per asymmetry level, each algorithm's mean and standard deviation of the final test
    accuracy over seeds (fractions), SHD minus SGD, and the paper's claim beside them."""
    done = [p for p in points if p.completed]
    levels = sorted({p.coords[ASYMMETRY] for p in done if ASYMMETRY in p.coords})
    table = []
    for level in levels:
        row: dict[str, Any] = {"asymmetry": level}
        for name in spec.base.algorithms:
            acc = [
                p.metrics["test_accuracy"]
                for p in done
                if p.algorithm == name and p.coords.get(ASYMMETRY, level) == level
            ]
            if acc:
                row[name] = {"mean": float(np.mean(acc)), "std": float(np.std(acc)), "seeds": len(acc)}
        if CLAIMED in row and BASELINE in row:
            row[f"{CLAIMED}_minus_{BASELINE}"] = row[CLAIMED]["mean"] - row[BASELINE]["mean"]
        table.append(row)
    return {"paper": {"claim": CLAIM, "by_asymmetry": table}}
