"""Upload and download: hashes, statuses, ranges, limits and failures."""

from __future__ import annotations

import hashlib
import os
import socket
import time

from actors import Actor


def test_upload_download_roundtrip(member: Actor) -> None:
    data = os.urandom(5 * 2**20 + 123)
    image = member.create()
    assert member.get(f"/v2/images/{image['id']}/file").status_code == 204
    assert member.upload(image["id"], data).status_code == 204
    body = member.get(f"/v2/images/{image['id']}").json()
    assert body["status"] == "active" and body["size"] == len(data)
    assert body["checksum"] == hashlib.md5(data).hexdigest()
    assert body["os_hash_algo"] == "sha512" and body["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert body["virtual_size"] == len(data)
    r = member.get(f"/v2/images/{image['id']}/file")
    assert r.status_code == 200 and r.content == data
    assert (
        r.headers["content-md5"] == body["checksum"]
        and r.headers["content-type"] == "application/octet-stream"
    )
    r = member.get(f"/v2/images/{image['id']}/file", headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == data[10:20]
    assert r.headers["content-range"] == f"bytes 10-19/{len(data)}"
    assert member.get(f"/v2/images/{image['id']}/file", headers={"Range": "bytes=-5"}).content == data[-5:]
    assert member.get(f"/v2/images/{image['id']}/file", headers={"Range": "bytes=100-"}).content == data[100:]
    assert (
        member.get(f"/v2/images/{image['id']}/file", headers={"Content-Range": "bytes 1-3/*"}).content
        == data[1:4]
    )
    assert member.get(f"/v2/images/{image['id']}/file", headers={"Range": "bytes=0-1,5-6"}).status_code == 400
    assert (
        member.get(f"/v2/images/{image['id']}/file", headers={"Range": f"bytes={len(data)}-"}).status_code
        == 416
    )
    assert member.get(f"/v2/images/{image['id']}/file", headers={"Range": "pages=1-2"}).status_code == 416
    # A second upload to an active image is refused.
    assert member.upload(image["id"], b"again").status_code == 409


def test_upload_preconditions(member: Actor, reader: Actor, other: Actor) -> None:
    image = member.create()
    r = member.put(f"/v2/images/{image['id']}/file", content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    no_formats = member.post("/v2/images", json={}).json()
    assert member.upload(no_formats["id"], b"xx").status_code == 400
    assert reader.upload(image["id"], b"xx").status_code == 403
    assert other.upload(image["id"], b"xx").status_code == 404
    r = member.put(f"/v2/images/{image['id']}/file", content=b"xx",
                   headers={"Content-Type": "application/octet-stream", "x-openstack-image-size": "many"})  # fmt: skip
    assert r.status_code == 400
    assert member.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def test_size_cap_and_retry(member: Actor, trusted_server) -> None:
    image = member.create()
    too_big = b"\0" * (64 * 2**20 + 1)  # the test server's image_size_cap is 64 MiB
    r = member.upload(image["id"], too_big)
    assert r.status_code == 413
    after = member.get(f"/v2/images/{image['id']}").json()
    assert after["status"] == "queued" and after["size"] is None
    assert image["id"] not in os.listdir(trusted_server.data_dir / "images")
    assert member.upload(image["id"], b"fine").status_code == 204


def test_declared_size_mismatch(member: Actor) -> None:
    image = member.create()
    r = member.put(f"/v2/images/{image['id']}/file", content=b"x" * 100,
                   headers={"Content-Type": "application/octet-stream", "x-openstack-image-size": "50"})  # fmt: skip
    assert r.status_code == 400
    assert member.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def test_client_disconnect_leaves_queued(member: Actor, trusted_server) -> None:
    image = member.create()
    sock = socket.create_connection(("127.0.0.1", trusted_server.port))
    head = (
        f"PUT /v2/images/{image['id']}/file HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {10 * 2**20}\r\nX-Identity-Status: Confirmed\r\nX-Project-Id: {member.project}\r\n"
        f"X-Roles: member,reader\r\n\r\n"
    )
    sock.sendall(head.encode() + b"\0" * 2**20)
    time.sleep(0.3)
    assert member.get(f"/v2/images/{image['id']}").json()["status"] == "saving"
    sock.close()
    deadline = time.monotonic() + 10
    while (
        member.get(f"/v2/images/{image['id']}").json()["status"] != "queued" and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert member.get(f"/v2/images/{image['id']}").json()["status"] == "queued"
    leftovers = [p for p in (trusted_server.data_dir / "images" / ".tmp").iterdir() if image["id"] in p.name]
    assert leftovers == []
    assert member.upload(image["id"], b"retry").status_code == 204


def test_concurrent_upload_conflicts(member: Actor, trusted_server) -> None:
    image = member.create()
    sock = socket.create_connection(("127.0.0.1", trusted_server.port))
    head = (
        f"PUT /v2/images/{image['id']}/file HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: 2000\r\nX-Identity-Status: Confirmed\r\nX-Project-Id: {member.project}\r\n"
        f"X-Roles: member,reader\r\n\r\n"
    )
    sock.sendall(head.encode() + b"a" * 1000)
    time.sleep(0.3)
    assert member.upload(image["id"], b"b" * 2000).status_code == 409
    sock.sendall(b"a" * 1000)
    reply = sock.recv(4096)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 204")
    assert member.get(f"/v2/images/{image['id']}").json()["checksum"] == hashlib.md5(b"a" * 2000).hexdigest()


def test_delete_during_upload_is_gone(member: Actor, trusted_server) -> None:
    image = member.create()
    sock = socket.create_connection(("127.0.0.1", trusted_server.port))
    head = (
        f"PUT /v2/images/{image['id']}/file HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: 2000\r\nX-Identity-Status: Confirmed\r\nX-Project-Id: {member.project}\r\n"
        f"X-Roles: member,reader\r\nAccept: application/json\r\n\r\n"
    )
    sock.sendall(head.encode() + b"a" * 1000)
    time.sleep(0.3)
    assert member.delete(f"/v2/images/{image['id']}").status_code == 204
    sock.sendall(b"a" * 1000)
    reply = sock.recv(4096)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 410"), reply[:200]
    assert image["id"] not in os.listdir(trusted_server.data_dir / "images")


def test_chunked_upload_without_length(member: Actor) -> None:
    image = member.create()

    def gen():
        for _ in range(5):
            yield b"z" * 100_000

    r = member.put(
        f"/v2/images/{image['id']}/file", content=gen(), headers={"Content-Type": "application/octet-stream"}
    )
    assert r.status_code == 204
    assert member.get(f"/v2/images/{image['id']}").json()["size"] == 500_000
