"""The dashboard's upload route streams: 50 MiB goes through without the server holding it in memory."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

import httpx
from webui import UI

from daguerre.testing.server import ServerProcess

MiB = 2**20


def _chunks(total: int, seed: bytes, digests: list) -> Iterator[bytes]:
    block = hashlib.sha512(seed).digest() * (MiB // 64)
    sent = 0
    while sent < total:
        piece = block[: min(MiB, total - sent)]
        for d in digests:
            d.update(piece)
        sent += len(piece)
        yield piece


def test_50_mib_upload_streams_and_lands_with_the_right_checksum(fresh_server: ServerProcess) -> None:
    ui = UI(fresh_server.url)
    api = httpx.Client(base_url=fresh_server.url, headers={"Accept": "application/json"}, timeout=120)
    try:
        warm = ui.create(name="warm-up")
        assert ui.upload(warm, os.urandom(2 * MiB)).status_code == 200
        peak_before = fresh_server.peak_rss_kib()

        image_id = ui.create(name="fifty", disk_format="raw", container_format="bare")
        md5, sha512 = hashlib.md5(), hashlib.sha512()
        total = 50 * MiB
        r = ui.upload(image_id, _chunks(total, b"fifty", [md5, sha512]))  # chunked: no Content-Length
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "active" and r.json()["size"] == total

        doc = api.get(f"/v2/images/{image_id}").json()
        assert doc["status"] == "active"
        assert doc["size"] == total
        assert doc["checksum"] == md5.hexdigest()
        assert doc["os_hash_algo"] == "sha512" and doc["os_hash_value"] == sha512.hexdigest()
        grown_mib = (fresh_server.peak_rss_kib() - peak_before) / 1024
        print(f"peak RSS growth {grown_mib:.1f} MiB")
        assert grown_mib < 25, f"peak RSS grew {grown_mib:.1f} MiB during a 50 MiB upload: not streaming"

        # And back out through the dashboard's download link, streamed too.
        back = hashlib.md5()
        with ui.client.stream("GET", f"/ui/images/{image_id}/download") as resp:
            assert resp.status_code == 200
            assert int(resp.headers["content-length"]) == total
            for piece in resp.iter_bytes():
                back.update(piece)
        assert back.hexdigest() == md5.hexdigest()
    finally:
        ui.close()
        api.close()


def test_declared_size_mismatch_is_refused_and_image_stays_queued(fresh_server: ServerProcess) -> None:
    ui = UI(fresh_server.url)
    try:
        image_id = ui.create(name="short")
        r = ui.upload(image_id, b"x" * 1000, **{"X-Image-Size": "5000"})
        assert r.status_code == 400 and "mismatch" in r.json()["message"]
        page = ui.get(f"/ui/images/{image_id}").text
        assert "status-queued" in page and 'id="upload-form"' in page
    finally:
        ui.close()
