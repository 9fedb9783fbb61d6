"""Fixtures for location tests: a loopback web server with Range support and a few odd paths,
and Daguerre servers with an http store ("web") next to a filesystem store ("fast")."""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import threading
import time

from actors import Actor

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

            def log_message(self, *args) -> None:
                pass

            def do_HEAD(self) -> None:
                if self.path == "/nohead.raw":
                    self.send_response(405)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._serve(head=True)

            def do_GET(self) -> None:
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
