"""The viewer's HTTP server: what it serves, what it refuses, and that a client costs the run nothing."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from hil.store import RunStore
from hil.watch import WatchServer
from hil.watch.reader import ReadOnlyStore
from tests.watch.conftest import FilledStore


@contextmanager
def serving(store: Path, **kwargs) -> Iterator[WatchServer]:
    server = WatchServer(store, **kwargs)
    server.serve_in_thread()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def get(server: WatchServer, path: str, method: str = "GET", headers: dict | None = None):
    """One request with the path sent exactly as given (no client-side normalisation)."""
    port = server.server_address[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for name, value in {"Host": f"127.0.0.1:{port}", **(headers or {})}.items():
        conn.putheader(name, value)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


def read_events(server: WatchServer, path: str, wanted: set[str]) -> dict[str, list]:
    """Server-sent events of a stream until each wanted event name has come once."""
    port = server.server_address[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    assert response.status == 200 and response.getheader("Content-Type") == "text/event-stream"
    events: dict[str, list] = {}
    name = None
    while not wanted <= events.keys():
        line = response.fp.readline().decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.setdefault(name, []).append(json.loads(line[6:]))
    conn.close()
    return events


def test_pages_and_runs_are_served_with_a_policy_that_allows_only_this_server(
    filled_store: FilledStore,
) -> None:
    with serving(filled_store.path) as server:
        assert server.server_address[0] == "127.0.0.1" and server.token is None
        for path in ("/", "/run/1", "/static/watch.js", "/static/watch.css"):
            response, body = get(server, path)
            assert response.status == 200 and body
            assert response.getheader("Content-Security-Policy").startswith("default-src 'self'")
        response, body = get(server, "/api/runs")
        runs = json.loads(body)
    assert [(r["id"], r["protocol"], r["status"]) for r in runs] == [
        (4, "train", "completed"), (3, "jump-table", "completed"),
        (2, "jump-table", "completed"), (1, "symmetry-point", "completed"),
    ]  # fmt: skip
    assert b"cdn" not in body.lower()


def test_a_run_stream_sends_the_points_and_the_run(filled_store: FilledStore) -> None:
    with serving(filled_store.path) as server:
        events = read_events(server, "/api/runs/1/events?device=2", {"reset", "points", "run"})
    with ReadOnlyStore(filled_store.path) as store:
        pairs = list(store.points(1, "pair"))
        info = store.run(1)
    update = events["points"][0]
    assert update["view"] == "symmetry" and update["device"] == 2
    assert [p[1] for p in update["pairs"]] == [p.arrays["g_up"].flat[2] for p in pairs]
    run = events["run"][0]
    assert (run["status"], run["points"], run["summary"]) == ("completed", info.points, info.summary)
    assert run["figures"] == info.summary["figures"]


def test_stored_figures_are_served_by_run_and_listed_name(filled_store: FilledStore) -> None:
    with ReadOnlyStore(filled_store.path) as store:
        info = store.run(1)
    name = info.summary["figures"][0]
    with serving(filled_store.path) as server:
        response, body = get(server, f"/api/runs/1/figures/{name}")
    assert response.status == 200 and response.getheader("Content-Type") == "image/png"
    assert body == (Path(info.out_dir) / name).read_bytes()


TRAVERSALS = [
    "/api/runs/1/figures/..%2Fsummary.json",
    "/api/runs/1/figures/%2e%2e%2f%2e%2e%2fruns.sqlite",
    "/api/runs/1/figures/%2Fetc%2Fpasswd",
    "/api/runs/1/figures/../../runs.sqlite",
    "/api/runs/1/figures/summary.json",
    "/api/runs/1/figures/..",
    "/static/..%2Fserver.py",
    "/static/../reader.py",
    "/static/%2e%2e/server.py",
    "/static/__init__.py",
    "//etc/passwd",
    "/etc/passwd",
    "/../../../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/api/runs/1/../../../etc/passwd",
    "/api/runs/..%2f1",
    "/api/runs/-1",
    "http://127.0.0.1/../etc/passwd",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_no_path_reaches_a_file_outside_the_listed_figures(filled_store: FilledStore, path: str) -> None:
    with serving(filled_store.path) as server:
        response, body = get(server, path)
    assert response.status == 404, body
    assert b"root:" not in body and b"import" not in body and b"SQLite" not in body


def test_a_listed_figure_that_is_a_symlink_out_of_the_run_folder_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG secret")
    out = tmp_path / "run"
    out.mkdir()
    (out / "escape.png").symlink_to(secret)
    (out / "inside.png").write_bytes(b"\x89PNG fine")
    with RunStore(tmp_path / "s.sqlite") as writer:
        run = writer.start_run("symmetry-point", {}, {"bench": "test"}, out_dir=out)
        run.finish("completed", summary={"figures": ["escape.png", "inside.png", "../secret.png"]})
    with serving(tmp_path / "s.sqlite") as server:
        escape, body = get(server, "/api/runs/1/figures/escape.png")
        inside, fine = get(server, "/api/runs/1/figures/inside.png")
        up, _ = get(server, "/api/runs/1/figures/..%2Fsecret.png")
        _, meta = get(server, "/api/runs/1")
    assert (escape.status, up.status, inside.status) == (404, 404, 200)
    assert b"secret" not in body and fine == b"\x89PNG fine"
    assert json.loads(meta)["figures"] == ["inside.png"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_requests_other_than_get_change_nothing(filled_store: FilledStore, method: str) -> None:
    with ReadOnlyStore(filled_store.path) as store:
        before = [(r.status, r.points, r.summary) for r in store.runs()]
    with serving(filled_store.path) as server:
        for path in ("/api/runs/1", "/api/runs", "/"):
            response, _ = get(server, path, method, {"Content-Length": "0"})
            assert response.status == 405
    with ReadOnlyStore(filled_store.path) as store:
        assert [(r.status, r.points, r.summary) for r in store.runs()] == before


def test_on_loopback_a_request_for_another_host_name_is_refused(filled_store: FilledStore) -> None:
    # A page on another site that rebinds its DNS name to 127.0.0.1 sends its own name as Host.
    with serving(filled_store.path) as server:
        refused, _ = get(server, "/api/runs", headers={"Host": "attacker.example:80"})
        ok, _ = get(server, "/api/runs", headers={"Host": f"localhost:{server.server_address[1]}"})
    assert (refused.status, ok.status) == (403, 200)


def test_another_interface_needs_the_printed_token(filled_store: FilledStore) -> None:
    with serving(filled_store.path, host="0.0.0.0") as server:
        token = server.token
        assert token is not None and len(token) >= 32 and f"?token={token}" in server.url
        bare, _ = get(server, "/api/runs")
        wrong, _ = get(server, "/api/runs?token=" + "x" * len(token))
        page, _ = get(server, f"/?token={token}")
        cookie = page.getheader("Set-Cookie").split(";")[0]
        with_cookie, body = get(server, "/api/runs", headers={"Cookie": cookie})
        figure, _ = get(server, "/api/runs/1/figures/symmetry_convergence.png")
    assert (bare.status, wrong.status, page.status, with_cookie.status, figure.status) == (
        401,
        401,
        200,
        200,
        401,
    )
    assert "HttpOnly" in page.getheader("Set-Cookie") and len(json.loads(body)) == 4
    with serving(filled_store.path, host="0.0.0.0") as other:
        assert other.token != token  # drawn afresh at every start


def test_a_stalled_client_does_not_hold_up_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with RunStore(path) as writer:
        run = writer.start_run("symmetry-point", {"max_pairs": 10**6, "window": 10}, {"bench": "test"})
        for pair in range(1, 2001):
            run.record("pair", pair, g_up=np.zeros((8, 8)), g_down=np.zeros((8, 8)))
        writer._db.execute("PRAGMA busy_timeout=0")  # a lock held by the viewer would raise at once
        with serving(path) as server:
            stalled = socket.create_connection(server.server_address[:2])
            stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stalled.sendall(f"GET /api/runs/{run.id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            # The client reads nothing: the stream's thread blocks on a full socket, the run goes on.
            for pair in range(2001, 3001):
                run.record("pair", pair, g_up=np.zeros((8, 8)), g_down=np.zeros((8, 8)))
            run.finish("completed")
            stalled.close()
    with ReadOnlyStore(path) as store:
        assert store.run(1).points == 3000 and store.run(1).status == "completed"
