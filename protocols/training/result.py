"""What a training run returns: learning curves, final numbers, operation counts, parameters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Self

from hil.results import to_jsonable
from protocols.records.training import EpochRecord


@dataclass
class BackendOps:
    """Backend operations issued by a trainer during training and evaluation (not setup).

    vmm_calls: VMM calls on single arrays (a differential read is two); vmm_vectors: input
    vectors they carried (a batched call carries many); updates: stochastic_update calls;
    pulses: pulses the backends reported firing; unreported_updates: updates whose backend
    did not report its pulses; clipped_updates: updates whose bit probabilities were cut at
    1 (the largest elements got less than asked for); empty_updates: updates skipped because
    x or delta was all zero.
    """

    vmm_calls: int = 0
    vmm_vectors: int = 0
    updates: int = 0
    pulses: int = 0
    unreported_updates: int = 0
    clipped_updates: int = 0
    empty_updates: int = 0


@dataclass
class TrainingResult:
    """One training run of one algorithm on one data set."""

    algorithm: str  # the checkpoint scope of its algorithm (protocols.training.registry)
    label: str  # legend text, e.g. "SHD, protonic-asymmetric"
    dataset: dict[str, Any]
    network: dict[str, Any]
    parameters: dict[str, Any]
    epochs: list[EpochRecord] = field(default_factory=list)
    ops: BackendOps = field(default_factory=BackendOps)
    setup: dict[str, Any] = field(default_factory=dict)
    seconds_training: float = 0.0

    @property
    def final(self) -> EpochRecord:
        if not self.epochs:
            raise ValueError("the run has no evaluated epoch yet")
        return self.epochs[-1]

    @property
    def seconds_per_epoch(self) -> float:
        trained = [e.seconds for e in self.epochs if e.epoch > 0]
        return sum(trained) / len(trained) if trained else 0.0

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any]) -> Self:
        """The result whose summary() this is, e.g. one of the "runs" a stored `hil train` run
        keeps in its summary. Its summary() gives the same dict back."""
        return cls(
            algorithm=summary["algorithm"],
            label=summary["label"],
            dataset=dict(summary["dataset"]),
            network=dict(summary["network"]),
            parameters=dict(summary["parameters"]),
            epochs=[EpochRecord(**e) for e in summary["curves"]],
            ops=BackendOps(**summary["backend_ops"]),
            setup=dict(summary["setup"]),
            seconds_training=float(summary["seconds_training"]),
        )

    def summary(self) -> dict[str, Any]:
        """JSON-ready: final numbers, curves, parameters, operation counts, setup."""
        last = self.final
        return to_jsonable(
            {
                "algorithm": self.algorithm,
                "label": self.label,
                "dataset": self.dataset,
                "network": self.network,
                "parameters": self.parameters,
                "final": {
                    "epoch": last.epoch,
                    "train_loss": last.train_loss,
                    "train_accuracy": last.train_accuracy,
                    "test_loss": last.test_loss,
                    "test_accuracy": last.test_accuracy,
                },
                "best_test_accuracy": max(e.test_accuracy for e in self.epochs),
                "seconds_training": self.seconds_training,
                "seconds_per_epoch": self.seconds_per_epoch,
                "backend_ops": asdict(self.ops),
                "setup": self.setup,
                "curves": [asdict(e) for e in self.epochs],
            }
        )
