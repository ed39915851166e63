"""The viewer in a real browser: Debian's chromium, headless, driven by Playwright.

A run on the virtual bench (the simulator behind the real drivers, slow enough to watch) goes
on in a child process while the page shows its points arriving; the numbers on the page are
then checked against the store. Screenshots go to the test's folder, and to the folder named
by HIL_WATCH_SCREENSHOTS if set (docs/ holds one made that way).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hil.watch import WatchServer
from hil.watch.reader import ReadOnlyStore
from tests.watch.conftest import FilledStore

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]  # fmt: skip
TIMEOUT_S = 240


def _unavailable(why: str) -> None:
    message = f"{why}: install Debian's chromium package (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"under CI the browser tests must run; {message}")
    pytest.skip(message)


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        _unavailable(f"no chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is missing (pip install -e '.[test]')")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def server_for(request: pytest.FixtureRequest) -> Iterator[Any]:
    servers = []

    def start(store: Path) -> WatchServer:
        server = WatchServer(store)
        server.serve_in_thread()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=False)
    if folder := os.environ.get("HIL_WATCH_SCREENSHOTS"):
        shutil.copy(path, Path(folder) / name)
    return path


def microsiemens(value: float, digits: int) -> str:
    """As the page writes a conductance of a few µS: `digits` significant digits, no trailing zeros."""
    return f"{float(f'{value * 1e6:.{digits}g}'):g} µS"


def wait_for(condition: Any, what: str) -> Any:
    deadline = time.monotonic() + TIMEOUT_S
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
    return value


def run_count(store: Path) -> int:
    try:
        with ReadOnlyStore(store) as s:
            return sum(r.points for r in s.runs())
    except FileNotFoundError:  # not created yet, or its tables not yet
        return 0


def test_a_running_symmetry_run_is_shown_live_and_its_numbers_equal_the_store(
    browser: Any, server_for: Any, tmp_path: Path
) -> None:
    store = tmp_path / "runs.sqlite"
    command = [sys.executable, "-c", "import sys; from hil.cli import main; sys.exit(main())", "run",
               "symmetry-point", "--bench", "virtual", "--max-pairs", "240", "--window", "80",
               "--store", str(store), "--out", str(tmp_path / "sym"), "--no-progress"]  # fmt: skip
    child = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_for(lambda: run_count(store) > 0, "the run's first point")
        server = server_for(store)
        base = server.url.rstrip("/")
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/run/1")

        # Points arrive while the run goes on: the count shown grows while the page says running.
        seen: set[int] = set()

        def live_growth() -> bool:
            status = page.text_content("#status") if page.query_selector("#status") else None
            if status == "running":
                seen.add(int(page.text_content("#points").split()[0]))
            return len(seen) >= 3

        wait_for(live_growth, "three different point counts while running")
        wait_for(lambda: page.query_selector("#estimates") is not None, "the first window's estimates")
        shot = screenshot(page, tmp_path, "watch-symmetry.png")
        assert shot.stat().st_size > 10_000
        output, _ = child.communicate(timeout=TIMEOUT_S)
        assert child.returncode == 0, output
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    wait_for(lambda: page.text_content("#status") == "completed", "the page to say completed")
    with ReadOnlyStore(store) as s:
        info = s.run(1)
        last = list(s.points(1, "window"))[-1].arrays
    wait_for(lambda: page.text_content("#points") == f"{info.points} points", "every point on the page")
    wait_for(lambda: page.query_selector("img.figure"), "the stored figures")
    cells = page.query_selector_all("#estimates td")
    assert len(cells) == last["mean"].size == 16
    for cell in cells:
        k = int(cell.get_attribute("data-device"))
        mean = last["mean"].flat[k]
        assert float(cell.get_attribute("data-value")) == mean
        assert cell.text_content().startswith(microsiemens(mean, 4) + " ± ")
        assert ("converged" in cell.get_attribute("class")) == bool(last["converged"].flat[k])
    total = info.summary["instrument_transactions"]["total"]
    assert f"({total} in all)" in page.text_content("#transactions")
    loaded = "[...document.querySelectorAll('img.figure')].every(i => i.complete && i.naturalWidth > 0)"
    wait_for(lambda: page.evaluate(loaded), "the figures to load")

    # Another device: the stream restarts for it and its reads are drawn.
    page.select_option("#device", "5")
    wait_for(lambda: "(1, 1)" in page.text_content(".chart .title"), "the chart of device (1, 1)")
    assert all(url.startswith(base) for url in requests), [u for u in requests if not u.startswith(base)]
    assert errors == []


def test_completed_jump_table_and_training_pages_show_the_stored_numbers(
    browser: Any, server_for: Any, filled_store: FilledStore, tmp_path: Path
) -> None:
    server = server_for(filled_store.path)
    base = server.url.rstrip("/")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    with ReadOnlyStore(filled_store.path) as s:
        jump_points = list(s.points(filled_store.jump))
        epochs = list(s.points(filled_store.train, "epoch"))
    steps = sum(p.kind == "jump" for p in jump_points) * 2  # every pulse moves both devices one step

    page.goto(f"{base}/run/{filled_store.jump}")
    page.wait_for_selector(f"#steps[data-steps='{steps}']")
    assert page.query_selector_all(".chart")  # traces and the step cloud are drawn

    page.goto(f"{base}/run/{filled_store.train}")
    last = epochs[-1].scalars
    line = page.wait_for_selector("#epochs li[data-epoch='3']")
    expected = (
        f"FP epoch 3: test accuracy {100 * last['test_accuracy']:.2f} %, train loss {last['train_loss']:.4f}"
    )
    assert line.text_content() == expected
    screenshot(page, tmp_path, "watch-training.png")

    page.goto(base + "/")
    page.wait_for_selector("#runs tr[data-run='4']")
    rows = page.query_selector_all("#runs tr[data-run]")
    assert [r.get_attribute("data-run") for r in rows] == ["4", "3", "2", "1"]
    assert all("completed" in r.text_content() for r in rows)


def test_without_chromium_the_tests_skip_naming_the_package_and_fail_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"apt-get install chromium"):
        _unavailable("no chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"under CI .*apt-get install chromium"):
        _unavailable("no chromium")
