"""Import hardening through the API: SSRF refusals, redirects, rate limits, policy, crash recovery."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from import_helpers import wait_for

from actors import Actor
from daguerre.testing.server import ServerProcess

ATTACKS = [
    "http://127.0.0.1/x", "http://localhost/x", "http://127.1/x", "http://2130706433/x", "http://0x7f000001/x",
    "http://017700000001/x", "http://0177.0.0.1/x", "http://[::1]/x", "http://[::ffff:127.0.0.1]/x",
    "http://[::ffff:7f00:1]/x", "http://[64:ff9b::7f00:1]/x", "http://[2002:7f00:1::]/x", "http://0.0.0.0/x",
    "http://[::]/x", "http://10.0.0.1/x", "http://172.16.0.1/x", "http://192.168.1.1/x",
    "http://169.254.169.254/latest/meta-data/", "http://100.64.0.1/x", "http://224.0.0.1/x", "http://240.0.0.1/x",
    "http://255.255.255.255/x", "http://[fc00::1]/x", "http://[fe80::1]/x", "http://user:pass@example.org/x",
    "http://example.org@127.0.0.1/x", "file:///etc/passwd", "ftp://example.org/x", "gopher://example.org/x",
    "http://example.org:8080/x",
]  # fmt: skip


@pytest.mark.parametrize("url", ATTACKS)
def test_attack_urls_refused_with_400(importer: Actor, url: str) -> None:
    image = importer.create(name="ssrf")
    r = importer.post(
        f"/v2/images/{image['id']}/import", json={"method": {"name": "web-download", "uri": url}}
    )
    assert r.status_code == 400, (url, r.text)
    assert "does not pass filtering" in r.text
    assert importer.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


class _Redirect(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


class _Counting(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"oops")

    def log_message(self, *args) -> None:
        pass


def test_redirect_to_loopback_is_refused_without_connecting(
    closing: contextlib.ExitStack, tmp_path: Path
) -> None:
    forbidden = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    threading.Thread(target=forbidden.serve_forever, daemon=True).start()
    _Redirect.target = f"http://127.0.0.1:{forbidden.server_address[1]}/secret"
    redirector = http.server.ThreadingHTTPServer(("127.0.0.2", 0), _Redirect)
    threading.Thread(target=redirector.serve_forever, daemon=True).start()
    port = redirector.server_address[1]
    server = ServerProcess(tmp_path / "d", env={
        "DAGUERRE_AUTH__STRATEGY": "trusted-headers",
        "DAGUERRE_IMPORT_FILTERING_OPTS__ALLOWED_HOSTS": "127.0.0.2",
        "DAGUERRE_IMPORT_FILTERING_OPTS__ALLOWED_PORTS": str(port)}).start()  # fmt: skip
    try:
        actor = closing.enter_context(Actor(server.url, "redir", "member,reader"))
        image = actor.create(name="redir")
        r = actor.post(f"/v2/images/{image['id']}/import",
                       json={"method": {"name": "web-download", "uri": f"http://127.0.0.2:{port}/image"}})  # fmt: skip
        assert r.status_code == 202
        done = wait_for(actor, image["id"])
        assert done["status"] == "queued" and done["os_glance_failed_import"] == "file"
        task = actor.get(f"/v2/images/{image['id']}/tasks").json()["tasks"][-1]
        assert task["status"] == "failure" and "does not pass filtering" in task["message"]
        assert _Counting.hits == 0
        audit = server.log_tail(20000)
        assert "web-download" in audit and "127.0.0.2" in audit
    finally:
        server.stop()
        for httpd in (redirector, forbidden):
            httpd.shutdown()
            httpd.server_close()  # shutdown() only stops serve_forever; this closes the listening socket


def test_rate_limit_and_policy_restriction(
    closing: contextlib.ExitStack, tmp_path: Path, file_server
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text('"web_download": "role:admin"\n')
    from conftest_env import import_env

    server = ServerProcess(tmp_path / "d", env=import_env(file_server, DAGUERRE_IMPORT_FILTERING_OPTS__RATE_LIMIT_PER_MINUTE="2", DAGUERRE_OSLO_POLICY__POLICY_FILE=str(policy))).start()  # fmt: skip
    try:
        member = closing.enter_context(Actor(server.url, "rl", "member,reader"))
        admin = closing.enter_context(Actor(server.url, "rl", "admin,member,reader"))
        image = member.create(name="x")
        body = {"method": {"name": "web-download", "uri": file_server.url("disk.raw")}}
        assert member.post(f"/v2/images/{image['id']}/import", json=body).status_code == 403
        codes = []
        for _ in range(3):
            img = admin.create(name="y")
            r = admin.post(f"/v2/images/{img['id']}/import", json=body)
            codes.append(r.status_code)
        assert codes == [202, 202, 429]
        assert int(r.headers["retry-after"]) > 0
        assert admin.get(f"/v2/images/{img['id']}").json()["status"] == "queued"
    finally:
        server.stop()


def test_introspected_properties_admin_only(
    closing: contextlib.ExitStack, importer: Actor, import_server, images_dir: Path
) -> None:
    image = importer.create(name="intro", disk_format="raw")
    importer.put(f"/v2/images/{image['id']}/stage", content=(images_dir / "disk.raw").read_bytes()[: 2**20],
                 headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    assert (
        importer.post(
            f"/v2/images/{image['id']}/import", json={"method": {"name": "glance-direct"}}
        ).status_code
        == 202
    )
    done = wait_for(importer, image["id"])
    assert done["os_daguerre_format"] == "raw"
    assert (
        importer.patch(
            image["id"], [{"op": "replace", "path": "/os_daguerre_format", "value": "x"}]
        ).status_code
        == 403
    )
    assert importer.post("/v2/images", json={"os_daguerre_format": "qcow2"}).status_code == 403
    admin = closing.enter_context(Actor(import_server.url, "adm", "admin,member,reader"))
    assert (
        admin.patch(
            image["id"], [{"op": "replace", "path": "/os_daguerre_format", "value": "raw-ish"}]
        ).status_code
        == 200
    )


@pytest.mark.slow
def test_sigkill_during_conversion(
    closing: contextlib.ExitStack, tmp_path: Path, file_server, images_dir: Path
) -> None:
    from conftest_env import import_env

    big = images_dir / "big.qcow2"
    if not big.exists():
        raw = tmp_path / "big.raw"
        with open(raw, "wb") as f:
            for _ in range(384):
                f.write(os.urandom(2**20))
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(big)], check=True)
        raw.unlink()
    env = import_env(file_server)
    server = ServerProcess(tmp_path / "d", env=env).start()
    actor = closing.enter_context(Actor(server.url, "kill", "member,reader"))
    image = actor.create(name="kill", disk_format="qcow2")
    r = actor.post(
        f"/v2/images/{image['id']}/import",
        json={"method": {"name": "web-download", "uri": file_server.url("big.qcow2")}},
    )
    assert r.status_code == 202
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        task = actor.get(f"/v2/images/{image['id']}/tasks").json()["tasks"][-1]
        if task["message"].startswith("Converting"):
            break
        time.sleep(0.05)
    assert task["message"].startswith("Converting"), task
    server.kill()
    server = ServerProcess(tmp_path / "d", env=env, port=server.port).start()
    try:
        done = wait_for(actor, image["id"], timeout=120)
        task = actor.get(f"/v2/images/{image['id']}/tasks").json()["tasks"][-1]
        assert (done["status"], task["status"]) in (("active", "success"), ("queued", "failure")), (
            done,
            task,
        )
        time.sleep(0.5)
        assert list((tmp_path / "d" / "work").iterdir()) == []
        leftovers = list((tmp_path / "d" / "images" / ".tmp").iterdir())
        assert leftovers == []
        assert not (tmp_path / "d" / "staging" / image["id"]).exists()
    finally:
        server.stop()


@pytest.fixture
def noauth_import_server(tmp_path: Path, file_server):
    from conftest_env import import_env

    env = import_env(file_server)
    env.pop("DAGUERRE_AUTH__STRATEGY")
    server = ServerProcess(tmp_path / "d", env=env).start()
    yield server
    server.stop()


def test_red_hat_task_create_command(noauth_import_server, file_server) -> None:
    glance = str(Path(sys.executable).parent / "glance")
    env = {**os.environ, "OS_IMAGE_URL": noauth_import_server.url, "OS_AUTH_TOKEN": "noauth"}
    task_input = json.dumps(
        {
            "import_from_format": "qcow2",
            "import_from": file_server.url("disk.qcow2"),
            "image_properties": {"disk_format": "qcow2", "container_format": "bare"},
        }
    )
    out = subprocess.run([glance, "task-create", "--type", "import", "--input", task_input], env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    task_id = next(line.split("|")[2].strip() for line in out.stdout.splitlines() if "| id " in line)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        shown = subprocess.run(
            [glance, "task-show", task_id], env=env, capture_output=True, text=True, timeout=60
        ).stdout
        if "success" in shown or "failure" in shown:
            break
        time.sleep(0.2)
    assert "success" in shown, shown
    image_id = next(line.split("|")[2].strip() for line in shown.splitlines() if "| result " in line).split(
        '"'
    )[3]
    image = subprocess.run([glance, "image-show", image_id], env=env, capture_output=True, text=True).stdout
    assert "active" in image
