"""The code's shape, checked: functions that read as one step, one definition per concept, no
paths of one machine. Each failure names the places to fix."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ("hil", "drivers", "simulators", "protocols")
MAX_FUNCTION_LINES = 80

# Functions allowed to be longer, each with the reason it stays whole.
LONG_ON_PURPOSE: dict[str, str] = {
    "simulators/kernels.py:_update_rows": "the compiled update kernel keeps its three row paths "
    "inlined: a separate _slot_row cost instructions (2.87 M against 2.77 M per update, "
    "docs/benchmarks.md); its length is the argument lists, one argument a line",
}


def _library_files() -> list[Path]:
    return sorted(p for package in LIBRARY for p in (ROOT / package).rglob("*.py"))


def _tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py", "*.md", "*.toml", "Makefile", ".ci/*"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the tracked files cannot be listed")
    return [ROOT / name for name in listed.stdout.split()]


def test_no_library_function_is_longer_than_one_screen() -> None:
    long = []
    for path in _library_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                where = f"{path.relative_to(ROOT)}:{node.name}"
                if lines > MAX_FUNCTION_LINES and where not in LONG_ON_PURPOSE:
                    long.append(f"{where} ({lines} lines, line {node.lineno})")
    assert not long, f"split these into steps of at most {MAX_FUNCTION_LINES} lines: " + "; ".join(long)


def test_no_absolute_path_of_a_machine() -> None:
    pattern = re.compile(r"(?<![\w.])/(work|home|Users|root|mnt/c)/\w")
    found = []
    for path in _tracked_text_files():
        if path.resolve() == Path(__file__).resolve() or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:80]}")
    assert not found, "paths of one machine: " + "; ".join(found)


def test_device_models_are_not_compared_by_name() -> None:
    """A step model's behaviour belongs to its type (hil.stepmodels); comparing its name outside
    the registry spreads one model over many files again."""
    names = r"(soft-bounds|linear-step|power-step|exp-step|table)"
    compare = re.compile(rf"""(==|!=|\bin)\s*\(?\s*["']{names}["']|["']{names}["']\s*(==|!=)""")
    found = []
    for path in _library_files():
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith("hil/stepmodels") or relative == "simulators/preset_files.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if compare.search(line):
                found.append(f"{relative}:{number}: {line.strip()}")
    assert not found, "compare model types, not names: " + "; ".join(found)


def test_training_algorithms_are_not_compared_by_name() -> None:
    """What an algorithm is and does belongs to its row of protocols.training.registry (or to
    its configuration's type); comparing its name elsewhere starts another table of them."""
    names = r"(fp|sgd|shd|ttv2|cttv2|agad)"
    compare = re.compile(rf"""(==|!=|\bin)\s*\(?\s*["']{names}["']|["']{names}["']\s*(==|!=|\bin\b)""")
    found = []
    for path in _library_files():
        relative = path.relative_to(ROOT).as_posix()
        if relative == "protocols/training/registry.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if compare.search(line):
                found.append(f"{relative}:{number}: {line.strip()}")
    assert not found, "use the algorithm's registry row, not its name: " + "; ".join(found)
