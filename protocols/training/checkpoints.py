"""Training checkpoints: the digital state a stopped training needs to continue.

What lives on the chip (conductances: the analog weights, A and C of SHD, the references)
cannot be written back, and need not be: a resumed run continues on the same arrays as they
stand. A checkpoint holds only the digital state, under the scope of the algorithm (its
row's scope in protocols.training.registry):

- stage "preparation": the setup records of the layers prepared so far (symmetry point,
  mapping, dw_min), so that a resumed run prepares only the others;
- stage "training": the setup records, every layer's digital state (FP weights, SHD's sample,
  row and transfer counters), the loop's position (epochs done, samples done in the current
  epoch, the state of the sample-order generator at the start of that epoch, the losses so far),
  the learning curve, the operation counts and the training time.

A resume must repeat the algorithm, its parameters, the network and the data (checked by
value, including a fingerprint of the samples); anything else raises before a pulse.

The chip itself: a real chip keeps its conductances; a simulated chip's state (conductances,
per-device parameters, random streams) is stored with every checkpoint by the run store
(hil.store.Run.keep_chip) and put back on resume (`hil train --resume`), so that a resumed
training continues on the chip as it stood at its newest checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from hil.recording import Checkpoint, Point
from hil.results import to_jsonable
from protocols.records.resume import ResumeRecord
from protocols.records.training import Epoch
from protocols.training.datasets import Dataset
from protocols.training.result import BackendOps, EpochRecord, TrainingResult


def _identity(result: TrainingResult, data: Dataset) -> dict[str, Any]:
    """What must not change between a run and its resume, JSON-normalised."""
    identity = {
        "algorithm": result.algorithm,
        "parameters": result.parameters,
        "dataset": result.dataset,
        "network": result.network,
        "data_fingerprint": data.fingerprint(),
    }
    return json.loads(json.dumps(to_jsonable(identity)))


def preparation_state(result: TrainingResult, data: Dataset) -> dict[str, Any]:
    """State after some layers were prepared (result.setup["layers"] holds their records)."""
    return {"protocol": "training", "stage": "preparation", **_identity(result, data), "setup": result.setup}


def training_state(
    result: TrainingResult, data: Dataset, layer_states: Sequence[dict[str, Any]], loop: dict[str, Any]
) -> dict[str, Any]:
    """State at a sample boundary; loop as written by protocols.training.loop.run_training."""
    return {
        "protocol": "training",
        "stage": "training",
        **_identity(result, data),
        "setup": result.setup,
        "epochs": [asdict(e) for e in result.epochs],
        "ops": asdict(result.ops),
        "seconds_training": result.seconds_training,
        "layers": list(layer_states),
        "loop": loop,
    }


def state_to_resume(
    checkpoint: Checkpoint | None, result: TrainingResult, data: Dataset
) -> dict[str, Any] | None:
    """The checkpoint state of this training (scope: the algorithm), checked against the call.

    None when there is nothing to resume (no checkpoint, or this algorithm never checkpointed).
    Raises ValueError naming what differs when the call does not repeat the stopped run's settings.
    """
    if checkpoint is None:
        return None
    state = checkpoint.state(result.algorithm)
    if state is None:
        return None
    wanted = _identity(result, data)
    differs = [key for key, value in wanted.items() if state.get(key) != value]
    if differs:
        details = "; ".join(f"{key}: run has {state.get(key)!r}, call has {wanted[key]!r}" for key in differs)
        raise ValueError(
            f"run {checkpoint.run} trained {result.algorithm} with other settings ({details}); resume it "
            "with the settings it was started with"
        )
    return state


def restore_result(result: TrainingResult, state: dict[str, Any]) -> None:
    """Put a training-stage state's curve, counts, setup and time into result."""
    result.epochs[:] = [EpochRecord(**e) for e in state["epochs"]]
    result.ops = BackendOps(**state["ops"])
    result.setup = dict(state["setup"])
    result.seconds_training = float(state["seconds_training"])


def resume_into(
    checkpoint: Checkpoint | None, result: TrainingResult, data: Dataset
) -> dict[str, Any] | None:
    """state_to_resume, and at stage "training" the state's curve, counts, setup and time put
    into result (before any layer is built: the layers count their operations into result.ops)."""
    state = state_to_resume(checkpoint, result, data)
    if state is not None and state["stage"] == "training":
        restore_result(result, state)
    return state


@dataclass(frozen=True)
class ResumeMark:
    """Where a training was stopped and resumed: after `epoch` evaluated epochs of its
    algorithm; chip_restored as the run's "resume" point says."""

    epoch: int
    chip_restored: bool


def resume_marks(points: Iterable[Point]) -> dict[str, list[ResumeMark]]:
    """By algorithm, the resumes of a stored training run (its "resume" points), each at the
    last epoch that algorithm had evaluated before it. An algorithm that had not started by a
    resume gets no mark for it."""
    last: dict[str, int] = {}
    marks: dict[str, list[ResumeMark]] = {}
    current: str | None = None
    for point in points:
        if point.kind == Epoch.KIND:
            epoch = Epoch.from_row(point)
            current = epoch.algorithm
            last[current] = epoch.record.epoch
        elif point.kind == ResumeRecord.KIND and current is not None:
            resume = ResumeRecord.from_row(point)
            marks.setdefault(current, []).append(ResumeMark(last[current], bool(resume.chip_restored)))
    return marks
