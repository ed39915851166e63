"""TTv2: Tiki-Taka with a digital buffer between A and C (Gokmen 2021).

Gokmen, "Enabling training of neural networks on noisy hardware", Front. Artif. Intell. 4
(2021) 699148; the update rule as IBM's aihwkit implements it (BufferedTransferCompound).
Per layer the three arrays of SHD ("L<i>.A_main", "L<i>.A_ref", "L<i>.C_main"), prepared as
SHD prepares them (A_ref at A_main's symmetry points unless the config places it elsewhere).
Training: see protocols.training.transfer.BufferedTransferLayer; docs/protocols/ttv2.md has the
update equations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Unpack

from hil.pulses import Pulse, PulsePair
from protocols.training.analog_training import LayerSite
from protocols.training.datasets import Dataset
from protocols.training.loop import TrainerOptions
from protocols.training.network import MLPSpec
from protocols.training.preparation import ArraySource
from protocols.training.result import TrainingResult
from protocols.training.transfer import TransferConfig, TransferParts, train_transfer, transfer_recipe


@dataclass(frozen=True)
class TTv2Config(TransferConfig):
    """TTv2 hyperparameters: those of TransferConfig (eta_a, tau, buffer, reference, and the
    AnalogTrainingConfig fields). No chopper, no reference tracking."""


def _no_parts(site: LayerSite, config: Any) -> TransferParts:
    return TransferParts()


TTV2_LAYERS = transfer_recipe("ttv2", _no_parts)


def train_ttv2(
    get_array: ArraySource,
    spec: MLPSpec,
    data: Dataset,
    pulse: Pulse | PulsePair,
    config: TTv2Config | None = None,
    label: str = "TTv2",
    **options: Unpack[TrainerOptions],
) -> TrainingResult:
    """Prepare the arrays and train the MLP with TTv2; C is evaluated after every epoch.

    pulse: the write pulse (volts, seconds) for every write. options: TrainerOptions
    (checkpoint scope "ttv2").
    """
    cfg = config or TTv2Config()
    return train_transfer(TTV2_LAYERS, get_array, spec, data, pulse=pulse, config=cfg, label=label, **options)
