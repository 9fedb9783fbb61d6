"""SIGKILL in the middle of an upload, and memory that stays flat whatever the image size."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time

import httpx
import pytest

from actors import Actor
from daguerre.testing.server import ServerProcess

pytestmark = pytest.mark.slow
GiB = 2**30


def _start_upload(server: ServerProcess, actor: Actor, image_id: str, total: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port))
    head = (
        f"PUT /v2/images/{image_id}/file HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {total}\r\nX-Identity-Status: Confirmed\r\nX-Project-Id: {actor.project}\r\n"
        f"X-Roles: member,reader\r\n\r\n"
    )
    sock.sendall(head.encode())
    return sock


def test_sigkill_mid_upload_then_restart(closing: contextlib.ExitStack, tmp_path) -> None:
    env = {"DAGUERRE_AUTH__STRATEGY": "trusted-headers"}
    server = ServerProcess(tmp_path / "data", env=env).start()
    actor = closing.enter_context(Actor(server.url, "crash", "member,reader"))
    image = actor.create(name="crash")
    sock = _start_upload(server, actor, image["id"], GiB)
    block = os.urandom(2**20)
    for _ in range(400):  # 400 MiB of the 1 GiB
        sock.sendall(block)
    assert actor.get(f"/v2/images/{image['id']}").json()["status"] == "saving"
    server.kill()
    sock.close()
    tmp_files = list((tmp_path / "data" / "images" / ".tmp").iterdir())
    assert tmp_files, "the killed upload should have left a temporary behind for start-up to reap"

    server = ServerProcess(tmp_path / "data", env=env, port=server.port).start()
    try:
        after = actor.get(f"/v2/images/{image['id']}").json()
        assert after["status"] == "queued" and after["size"] is None and after["checksum"] is None
        images_dir = tmp_path / "data" / "images"
        assert list((images_dir / ".tmp").iterdir()) == []
        assert [p for p in images_dir.iterdir() if p.is_file()] == []
        data = os.urandom(8 * 2**20)
        assert actor.upload(image["id"], data).status_code == 204
        assert actor.get(f"/v2/images/{image['id']}").json()["checksum"] == hashlib.md5(data).hexdigest()
    finally:
        server.stop()


def test_rss_flat_for_4gib_upload_and_download(closing: contextlib.ExitStack, tmp_path) -> None:
    server = ServerProcess(tmp_path / "data", env={"DAGUERRE_AUTH__STRATEGY": "trusted-headers"}).start()
    try:
        actor = closing.enter_context(Actor(server.url, "mem", "member,reader"))
        # Warm up every code path once with a small image so the baseline includes imports and pools.
        warm = actor.create(name="warm")
        actor.upload(warm["id"], os.urandom(16 * 2**20))
        actor.get(f"/v2/images/{warm['id']}/file")
        time.sleep(0.2)
        baseline = server.rss_kib()

        image = actor.create(name="big")
        size = 4 * GiB
        block = os.urandom(4 * 2**20)
        sock = _start_upload(server, actor, image["id"], size)
        for _ in range(size // len(block)):
            sock.sendall(block)
        sock.settimeout(120)
        reply = sock.recv(4096)
        sock.close()
        assert reply.startswith(b"HTTP/1.1 204"), reply[:200]
        received = 0
        with httpx.stream(
            "GET", f"{server.url}/v2/images/{image['id']}/file", headers=actor.headers, timeout=120
        ) as r:
            assert r.status_code == 200
            for chunk in r.iter_raw(4 * 2**20):
                received += len(chunk)
        assert received == size
        peak = server.peak_rss_kib()
        growth_mib = (peak - baseline) / 1024
        print(
            f"server RSS baseline {baseline / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB, growth {growth_mib:.1f} MiB"
        )
        assert growth_mib < 64
    finally:
        server.stop()
