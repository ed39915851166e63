"""A run store filled by small real protocol runs on the simulator, shared by the viewer's tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from hil.cli import main


@dataclass(frozen=True)
class FilledStore:
    path: Path
    symmetry: int  # run ids
    jump: int
    jump_trains: int
    train: int


@pytest.fixture(scope="session")
def filled_store(tmp_path_factory: pytest.TempPathFactory) -> FilledStore:
    root = tmp_path_factory.mktemp("watch-store")
    store = root / "runs.sqlite"
    runs = [
        ["run", "symmetry-point", "--shape", "2x3", "--max-pairs", "120", "--window", "40"],
        ["run", "jump-table", "--devices", "2", "--cycles", "2", "--train", "20", "--trains", "off"],
        ["run", "jump-table", "--devices", "3", "--cycles", "1", "--train", "15", "--trains", "on"],
        ["train", "--algorithm", "fp", "--dataset", "iris", "--epochs", "3"],
    ]
    for k, argv in enumerate(runs):
        assert main([*argv, "--store", str(store), "--out", str(root / f"run{k}"), "--no-progress"]) == 0
    return FilledStore(store, 1, 2, 3, 4)
