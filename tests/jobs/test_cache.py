"""/v2/cache: queue, list, serve from cache, delete, clear; admin-only; 404 without a cache dir."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator

import pytest

from actors import Actor
from daguerre.testing.server import ServerProcess


@pytest.fixture(scope="module")
def cache_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("cache")
    server = ServerProcess(root / "data", env={"DAGUERRE_AUTH__STRATEGY": "trusted-headers",
                                               "DAGUERRE_DEFAULT__IMAGE_CACHE_DIR": str(root / "cache")}).start()  # fmt: skip
    yield server
    server.stop()


def test_cache_cycle(closing: contextlib.ExitStack, cache_server: ServerProcess) -> None:
    admin = closing.enter_context(Actor(cache_server.url, "c-admin", "admin,member,reader"))
    member = closing.enter_context(Actor(cache_server.url, "c-member", "member,reader"))
    assert member.get("/v2/cache").status_code == 403
    assert admin.get("/v2/cache").json() == {"cached_images": [], "queued_images": []}
    assert admin.put(f"/v2/cache/{uuid.uuid4()}").status_code == 404
    queued = admin.create(name="q")
    assert admin.put(f"/v2/cache/{queued['id']}").status_code == 400
    data = os.urandom(2 * 2**20)
    image = admin.create(name="cached")
    assert admin.upload(image["id"], data).status_code == 204
    assert admin.put(f"/v2/cache/{image['id']}").status_code == 202
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listing = admin.get("/v2/cache").json()
        if [c["image_id"] for c in listing["cached_images"]] == [image["id"]]:
            break
        time.sleep(0.1)
    entry = listing["cached_images"][0]
    assert entry["size"] == len(data) and entry["hits"] == 0
    assert admin.get(f"/v2/images/{image['id']}/file").content == data
    assert admin.get("/v2/cache").json()["cached_images"][0]["hits"] == 1
    assert admin.get(f"/v2/images/{image['id']}/file", headers={"Range": "bytes=5-9"}).content == data[5:10]
    assert (
        admin.request("DELETE", "/v2/cache", headers={"x-image-cache-clear-target": "invalid"}).status_code
        == 400
    )
    assert admin.delete(f"/v2/cache/{image['id']}").status_code == 204
    assert admin.get("/v2/cache").json()["cached_images"] == []
    assert admin.put(f"/v2/cache/{image['id']}").status_code == 202
    assert admin.delete("/v2/cache").status_code == 204
    listing = admin.get("/v2/cache").json()
    assert listing["queued_images"] == [] or listing["cached_images"] == []
    versions = admin.get("/versions").json()["versions"]
    assert next(v for v in versions if v["status"] == "CURRENT")["id"] == "v2.18"


def test_no_cache_dir_is_404(closing: contextlib.ExitStack, trusted_server) -> None:
    admin = closing.enter_context(Actor(trusted_server.url, "c-admin", "admin,member,reader"))
    assert admin.get("/v2/cache").status_code == 404
    member = closing.enter_context(Actor(trusted_server.url, "c-member", "member,reader"))
    assert member.get("/v2/cache").status_code == 403
