"""Fixtures for location tests: a loopback web server with Range support and a few odd paths,
and Daguerre servers with an http store ("web") next to a filesystem store ("fast")."""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors import Actor
from daguerre.testing.server import ServerProcess

DATA = os.urandom(3 * 2**20 + 12345)


class WebServer:
    """Serves DATA at /image.raw (ranges honoured), /norange.raw (ranges ignored), /nohead.raw
    (HEAD refused, ranges ignored), /slow.raw,
    /flaky/<n>/<id>.raw (the first n GETs of each id answer 503), /redirect-out (to a port that
    filtering refuses) and 404 elsewhere. Counts requests by path."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

            def do_HEAD(self) -> None:  # noqa: N802
                if self.path == "/nohead.raw":
                    self.send_response(405)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._serve(head=True)

            def do_GET(self) -> None:  # noqa: N802
                self._serve(head=False)

            def _serve(self, head: bool) -> None:
                path = self.path.split("?")[0]
                with server.lock:
                    server.hits[path] = server.hits.get(path, 0) + 1
                    count = server.hits[path]
                ranges = path == "/image.raw" or path.startswith("/flaky/")
                if path == "/redirect-out":
                    self.send_response(302)
                    self.send_header("Location", "http://127.0.0.1:1/image.raw")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if path == "/slow.raw" and not head:
                    time.sleep(2)
                elif path.startswith("/flaky/") and not head:
                    if count <= int(path.split("/")[2]):
                        self.send_response(503)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                elif path not in ("/image.raw", "/norange.raw", "/slow.raw", "/nohead.raw"):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, status = DATA, 200
                m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
                if ranges and m:
                    start = int(m[1])
                    end = int(m[2]) + 1 if m[2] else len(DATA)
                    body, status = DATA[start:end], 206
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(DATA)}")
                self.end_headers()
                if not head:
                    try:
                        self.wfile.write(body)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the client stopped reading (an early close)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def digests(data: bytes = DATA) -> dict[str, str]:
    return {
        "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "sha512": hashlib.sha512(data).hexdigest(),
    }


@pytest.fixture(scope="session")
def web() -> Iterator[WebServer]:
    server = WebServer()
    yield server
    server.close()


def location_env(web: WebServer, **extra: str) -> dict[str, str]:
    return {
        "DAGUERRE_AUTH__STRATEGY": "trusted-headers",
        "DAGUERRE_DEFAULT__ENABLED_BACKENDS": "fast:file,web:http",
        "DAGUERRE_GLANCE_STORE__DEFAULT_BACKEND": "fast",
        "DAGUERRE_DEFAULT__SHOW_MULTIPLE_LOCATIONS": "true",
        "DAGUERRE_DEFAULT__SHOW_IMAGE_DIRECT_URL": "true",
        "DAGUERRE_DEFAULT__IMAGE_LOCATION_QUOTA": "4",
        "DAGUERRE_IMPORT_FILTERING_OPTS__ALLOWED_HOSTS": "127.0.0.1",
        "DAGUERRE_IMPORT_FILTERING_OPTS__ALLOWED_PORTS": str(web.port),
        "DAGUERRE_IMPORT_FILTERING_OPTS__IDLE_TIMEOUT": "10",
        **extra,
    }


@pytest.fixture(scope="session")
def loc_server(tmp_path_factory: pytest.TempPathFactory, web: WebServer) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("locations"), env=location_env(web)).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nohash_server(tmp_path_factory: pytest.TempPathFactory, web: WebServer) -> Iterator[ServerProcess]:
    env = location_env(web, DAGUERRE_DEFAULT__DO_SECURE_HASH="false")
    server = ServerProcess(tmp_path_factory.mktemp("nohash"), env=env).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def plain_server(tmp_path_factory: pytest.TempPathFactory, web: WebServer) -> Iterator[ServerProcess]:
    """Defaults: one filesystem store, no http store, show_multiple_locations off."""
    env = {"DAGUERRE_AUTH__STRATEGY": "trusted-headers",
           "DAGUERRE_IMPORT_FILTERING_OPTS__ALLOWED_HOSTS": "127.0.0.1",
           "DAGUERRE_IMPORT_FILTERING_OPTS__ALLOWED_PORTS": str(web.port)}  # fmt: skip
    server = ServerProcess(tmp_path_factory.mktemp("plain"), env=env).start()
    yield server
    server.stop()


@pytest.fixture
def project() -> str:
    return f"proj-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def owner(loc_server: ServerProcess, project: str) -> Actor:
    return Actor(loc_server.url, project, "member,reader")


@pytest.fixture
def reader(loc_server: ServerProcess, project: str) -> Actor:
    return Actor(loc_server.url, project, "reader")


@pytest.fixture
def stranger(loc_server: ServerProcess) -> Actor:
    return Actor(loc_server.url, f"other-{uuid.uuid4().hex[:8]}", "member,reader")


@pytest.fixture
def admin(loc_server: ServerProcess) -> Actor:
    return Actor(loc_server.url, "admin-project", "admin,member,reader")


@pytest.fixture
def service(loc_server: ServerProcess, project: str) -> Actor:
    """A service (e.g. Nova) acting with the owner's project and the service role."""
    return Actor(loc_server.url, project, "member,reader,service")


def wait_task(actor: Actor, image_id: str, timeout: float = 30) -> dict:
    """The image's single task once it is finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = actor.get(f"/v2/images/{image_id}/tasks")
        assert r.status_code == 200, r.text
        tasks = r.json()["tasks"]
        if tasks and all(t["status"] in ("success", "failure") for t in tasks):
            return tasks[-1]
        time.sleep(0.1)
    raise AssertionError(f"tasks of {image_id} did not finish: {tasks}")


def data_dir(server: ServerProcess) -> Path:
    return server.data_dir
