"""`hil watch` and `--watch`: the address printed, a viewer that answers, and gone with its run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.watch.conftest import FilledStore

HIL = [sys.executable, "-c", "import sys; from hil.cli import main; sys.exit(main())"]
ADDRESS = re.compile(r"http://127\.0\.0\.1:(\d+)/")


def runs_at(url: str) -> list[dict]:
    with urllib.request.urlopen(url + "api/runs", timeout=10) as response:
        return json.loads(response.read())


def test_hil_watch_prints_its_address_and_serves_the_store(filled_store: FilledStore) -> None:
    child = subprocess.Popen(
        [*HIL, "watch", "--store", str(filled_store.path)], stdout=subprocess.PIPE, text=True
    )
    try:
        first = child.stdout.readline()
        url = ADDRESS.search(first).group(0)
        assert [r["id"] for r in runs_at(url)] == [4, 3, 2, 1]
    finally:
        child.terminate()
        child.wait(timeout=10)


def test_watch_on_a_run_prints_a_live_address_that_closes_with_the_run(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    argv = ["run", "symmetry-point", "--shape", "2x2", "--max-pairs", "100", "--window", "50", "--watch",
            "--store", str(store), "--out", str(tmp_path / "sym"), "--no-progress"]  # fmt: skip
    child = subprocess.Popen([*HIL, *argv], stdout=subprocess.PIPE, text=True)
    try:
        first = child.stdout.readline()
        assert first.startswith("  watch it live at http://127.0.0.1:"), first
        url = ADDRESS.search(first).group(0)
        runs_at(url)  # answers while the run goes on (and for a moment after, for the page's last update)
        output = child.stdout.read()
        assert child.wait(timeout=120) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert "devices converged" in output
    with pytest.raises(OSError):  # the viewer ended with the command
        runs_at(url)
