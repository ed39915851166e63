"""`hil watch`'s web server: the standard library's threading HTTP server and server-sent events.

Why no framework: the viewer needs a handful of GET routes and one-way pushes, which
http.server and server-sent events (plain HTTP, reconnected by the browser on its own) give
without a dependency; plots are drawn by a small script shipped in the package (static/), so
the page fetches nothing but this server's own files.

Safety: only GET and HEAD are answered; the store is opened read-only (reader.ReadOnlyStore);
files are served only from the package's static/ folder (a fixed table of three names) and
stored figures by run id and a name the run's summary lists (reader.figure_path). On the
loopback interface the Host header must name it (a web page elsewhere cannot reach the viewer
by rebinding a DNS name to 127.0.0.1); on any other interface every request needs the access
token, given once as ?token= (the page then keeps it as a cookie).
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from hil.store import RunNotFoundError
from hil.watch.reader import BATCH, ProgressTracker, ReadOnlyStore, figure_path, run_json
from hil.watch.views import view_for

__all__ = ["POLL_S", "WatchServer"]

POLL_S = 0.5  # how often a stream looks for new points: pages are at most ~one poll behind
# A client that takes no data for this long is dropped; the run never waits for a client.
SEND_TIMEOUT_S = 10.0
KEEPALIVE_S = 15.0
COOKIE = "hil_watch_token"
STATIC = {
    "watch.js": "text/javascript; charset=utf-8",
    "watch.css": "text/css; charset=utf-8",
    "index.html": "text/html; charset=utf-8",
}
HEADERS = {
    # Nothing but this server's own files: no CDN, no inline script, no framing by other sites.
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _static(name: str) -> bytes:
    return resources.files("hil.watch").joinpath("static", name).read_bytes()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WatchServer(ThreadingHTTPServer):
    """Serves the runs of one store; `url` is the address to open (with the token if any)."""

    daemon_threads = True  # a stalled stream never keeps the process alive
    block_on_close = False

    def __init__(self, store: str | Path, host: str = "127.0.0.1", port: int = 0, token: str | None = None):
        self.store_path = Path(store)
        self.loopback = is_loopback(host)
        self.token = token if token is not None else (None if self.loopback else secrets.token_urlsafe(24))
        self.stopping = threading.Event()
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        name = f"[{host}]" if ":" in str(host) else host
        return f"http://{name}:{port}/" + (f"?token={self.token}" if self.token else "")

    def open_store(self) -> ReadOnlyStore | None:
        """A read-only connection; None while the store does not exist."""
        try:
            return ReadOnlyStore(self.store_path)
        except FileNotFoundError:
            return None

    @contextmanager
    def store(self) -> Iterator[ReadOnlyStore | None]:
        """A read-only connection for one request or stream, closed after it."""
        store = self.open_store()
        try:
            yield store
        finally:
            if store is not None:
                store.close()

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="hil-watch", daemon=True)
        thread.start()
        return thread

    def shutdown(self) -> None:
        self.stopping.set()
        super().shutdown()


class _Handler(BaseHTTPRequestHandler):
    server: WatchServer
    timeout = SEND_TIMEOUT_S
    protocol_version = "HTTP/1.1"
    server_version = "hil-watch"

    def log_message(self, format: str, *args: Any) -> None:
        return None  # the command's output is the address and errors, not an access log

    # ------------------------------------------------------------------ routing
    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if not self._allowed(query):
            return
        parts = [unquote(p) for p in url.path.split("/") if p]
        try:
            self._route(parts, query)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    def _refuse_others(self) -> None:
        self.close_connection = True  # its body, if any, is never read
        self._send_error(HTTPStatus.METHOD_NOT_ALLOWED, "the viewer only reads")

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_others

    def _route(self, parts: list[str], query: dict[str, list[str]]) -> None:
        match parts:
            case [] | ["run", _]:
                self._send(HTTPStatus.OK, _static("index.html"), STATIC["index.html"], self._cookie(query))
            case ["static", name] if name in STATIC:
                self._send(HTTPStatus.OK, _static(name), STATIC[name])
            case ["api", "runs"]:
                self._send_json(self._runs_once())
            case ["api", "runs", "events"]:
                self._stream_runs()
            case ["api", "runs", run] if run.isdigit():
                self._send_run(int(run))
            case ["api", "runs", run, "events"] if run.isdigit():
                self._stream_run(int(run), _int(query.get("device", ["0"])[0]))
            case ["api", "runs", run, "figures", name] if run.isdigit():
                self._send_figure(int(run), name)
            case _:
                self._send_error(HTTPStatus.NOT_FOUND, "no such page")

    # ------------------------------------------------------------------ access
    def _allowed(self, query: dict[str, list[str]]) -> bool:
        if self.server.loopback:
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
            if not is_loopback(host):
                self._send_error(HTTPStatus.FORBIDDEN, "the viewer answers requests for 127.0.0.1 only")
                return False
        token = self.server.token
        if token is None:
            return True
        given = query.get("token", [None])[0] or self._cookie_token()
        if given is not None and secrets.compare_digest(given.encode(), token.encode()):
            return True
        self._send_error(HTTPStatus.UNAUTHORIZED, "open the address with the token `hil watch` printed")
        return False

    def _cookie_token(self) -> str | None:
        for part in (self.headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE:
                return value
        return None

    def _cookie(self, query: dict[str, list[str]]) -> dict[str, str]:
        if self.server.token is None or "token" not in query:
            return {}
        return {"Set-Cookie": f"{COOKIE}={self.server.token}; HttpOnly; SameSite=Strict; Path=/"}

    # ------------------------------------------------------------------ answers
    def _send(self, status: HTTPStatus, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {**HEADERS, **(extra or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, value: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
        self._send(status, json.dumps(value, allow_nan=False).encode(), "application/json")

    def _send_error(self, status: HTTPStatus, message: str) -> None:
        self._send(status, json.dumps({"error": message}).encode(), "application/json")

    def _runs_once(self) -> list[dict[str, Any]]:
        with self.server.store() as store:
            if store is None:
                return []
            tracker = ProgressTracker(store)
            return _runs(store, tracker)

    def _send_run(self, run_id: int) -> None:
        with self.server.store() as store:
            try:
                info = store.run(run_id) if store is not None else None
            except RunNotFoundError:
                info = None
            if info is None:
                self._send_error(HTTPStatus.NOT_FOUND, f"no run {run_id}")
                return
            self._send_json(run_json(info, ProgressTracker(store).progress(info), detail=True))

    def _send_figure(self, run_id: int, name: str) -> None:
        with self.server.store() as store:
            try:
                path = figure_path(store.run(run_id), name) if store is not None else None
            except RunNotFoundError:
                path = None
        if path is None:
            self._send_error(HTTPStatus.NOT_FOUND, "no such figure")
            return
        ctype = "image/svg+xml" if path.suffix == ".svg" else "image/png"
        self._send(HTTPStatus.OK, path.read_bytes(), ctype)

    # ------------------------------------------------------------------ streams
    def _start_stream(self) -> None:
        self.send_response(HTTPStatus.OK)
        for name, value in HEADERS.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def _event(self, name: str, value: Any) -> None:
        self.wfile.write(f"event: {name}\ndata: {json.dumps(value, allow_nan=False)}\n\n".encode())
        self.wfile.flush()
        self._sent = time.monotonic()

    def _wait(self) -> bool:
        """Sleep one poll; False when the server stops. A stream quiet for KEEPALIVE_S gets a
        comment line, so a client that went away is noticed (the write fails)."""
        if time.monotonic() - getattr(self, "_sent", 0.0) > KEEPALIVE_S:
            self.wfile.write(b": keep-alive\n\n")
            self.wfile.flush()
            self._sent = time.monotonic()
        return not self.server.stopping.wait(POLL_S)

    def _stream_runs(self) -> None:
        """The run list, sent again whenever it changes (progress of running runs included)."""
        self._start_stream()
        store, tracker, last = None, None, None
        try:
            while True:
                if store is None and (store := self.server.open_store()) is not None:
                    tracker = ProgressTracker(store)
                runs = _runs(store, tracker) if store is not None and tracker is not None else []
                if runs != last:
                    self._event("runs", runs)
                    last = runs
                if not self._wait():
                    return
        finally:
            if store is not None:
                store.close()

    def _stream_run(self, run_id: int, device: int) -> None:
        """A run's metadata when it changes, and its new points as the view's updates."""
        with self.server.store() as store:
            if store is None:
                self._send_error(HTTPStatus.NOT_FOUND, f"no run {run_id}")
                return
            try:
                info = store.run(run_id)
            except RunNotFoundError:
                self._send_error(HTTPStatus.NOT_FOUND, f"no run {run_id}")
                return
            self._start_stream()
            self._event("reset", {"id": run_id})  # a reconnected page starts over from the first point
            view = view_for(info.protocol, device)
            tracker = ProgressTracker(store)
            after, last = -1, None
            while True:
                points = store.points_after(run_id, after, arrays_of=view.ARRAYS)
                if points:
                    after = points[-1].seq
                    self._event("points", {"view": view.name, **view.feed(points)})
                info = store.run(run_id)
                meta = run_json(info, tracker.progress(info), detail=True)
                if meta != last:
                    self._event("run", meta)
                    last = meta
                caught_up = len(points) < BATCH  # else the next batch is sent at once
                if (caught_up and not self._wait()) or self.server.stopping.is_set():
                    return


def _runs(store: ReadOnlyStore, tracker: ProgressTracker) -> list[dict[str, Any]]:
    """Every run, newest first; progress for running ones."""
    runs = store.runs()
    return [run_json(r, tracker.progress(r) if r.status == "running" else None) for r in reversed(runs)]


def _int(text: str) -> int:
    return int(text) if text.isdigit() else 0
