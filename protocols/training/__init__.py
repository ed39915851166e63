"""Closed-loop training on crossbar arrays: SHD (3-array Tiki-Taka), TTv2, chopped TTv2, AGAD,
analog SGD, FP baseline.

Trainers take arrays from a caller-supplied source get_array(name, (rows, cols)) (e.g. a
hil.bench.Bench's array method) and speak only hil.CrossbarBackend and hil.mapping.
"""

from protocols.training.agad import AGADConfig, train_agad
from protocols.training.analog import CountedOps, SGDLayer, SHDLayer, UpdateSettings
from protocols.training.chopped import ChoppedConfig, train_chopped
from protocols.training.datasets import Dataset, load_dataset
from protocols.training.floating_point import FloatConfig, train_float
from protocols.training.loop import TrainerOptions
from protocols.training.network import MLPSpec
from protocols.training.plots import plot_learning_curves
from protocols.training.preparation import ArraySource, CalibrationSettings
from protocols.training.result import BackendOps, EpochRecord, TrainingResult
from protocols.training.sgd import SGDConfig, train_sgd
from protocols.training.shd import SHDConfig, build_shd_layers, train_shd
from protocols.training.transfer import (
    BufferSettings,
    PlacedSHDConfig,
    ReferenceSettings,
    TransferConfig,
    train_placed_shd,
)
from protocols.training.ttv2 import TTv2Config, train_ttv2

__all__ = [
    "AGADConfig",
    "ArraySource",
    "BackendOps",
    "BufferSettings",
    "CalibrationSettings",
    "ChoppedConfig",
    "CountedOps",
    "Dataset",
    "EpochRecord",
    "FloatConfig",
    "MLPSpec",
    "PlacedSHDConfig",
    "ReferenceSettings",
    "SGDConfig",
    "SGDLayer",
    "SHDConfig",
    "SHDLayer",
    "TTv2Config",
    "TrainerOptions",
    "TrainingResult",
    "TransferConfig",
    "UpdateSettings",
    "build_shd_layers",
    "load_dataset",
    "plot_learning_curves",
    "train_agad",
    "train_chopped",
    "train_float",
    "train_placed_shd",
    "train_sgd",
    "train_shd",
    "train_ttv2",
]
