"""Multi-store: uploads to a chosen store, imports to several, copy-image, per-store delete."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator

import pytest
from import_helpers import wait_for

from actors import Actor
from daguerre.testing.server import ServerProcess


@pytest.fixture(scope="module")
def multi_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("multi")
    conf = root / "daguerre.conf"
    conf.write_text(f"""
[DEFAULT]
enabled_backends = fast:file, cheap:file, archive:file
enabled_import_methods = glance-direct,web-download,copy-image
[glance_store]
default_backend = fast
[fast]
filesystem_store_datadir = {root / "fast"}
weight = 100
description = Fast local disks
[cheap]
filesystem_store_datadir = {root / "cheap"}
weight = 50
[archive]
filesystem_store_datadir = {root / "archive"}
[auth]
strategy = trusted-headers
""")
    server = ServerProcess(root / "data", config=conf).start()
    yield server
    server.stop()


@pytest.fixture
def admin(multi_server: ServerProcess) -> Iterator[Actor]:
    with Actor(multi_server.url, "ms-admin", "admin,member,reader") as actor:
        yield actor


def test_discovery(closing: contextlib.ExitStack, admin: Actor) -> None:
    stores = admin.get("/v2/info/stores").json()["stores"]
    assert [s["id"] for s in stores] == ["archive", "cheap", "fast"]
    assert next(s for s in stores if s["id"] == "fast")["default"] == "true"
    detail = {s["id"]: s for s in admin.get("/v2/info/stores/detail").json()["stores"]}
    assert detail["fast"]["weight"] == 100 and detail["fast"]["type"] == "file"
    member = closing.enter_context(Actor(admin.client.base_url.__str__(), "ms-member", "member,reader"))
    assert member.get("/v2/info/stores/detail").status_code == 403
    r = admin.post("/v2/images", json={"name": "h"})
    assert r.headers["openstack-image-store-ids"] == "fast,cheap,archive"
    ids = [v["id"] for v in admin.get("/versions").json()["versions"]]
    assert "v2.8" in ids and "v2.13" in ids


def test_upload_to_chosen_store(admin: Actor, multi_server: ServerProcess) -> None:
    image = admin.create(name="chosen")
    r = admin.put(f"/v2/images/{image['id']}/file", content=b"abc" * 1000,
                  headers={"Content-Type": "application/octet-stream", "X-Image-Meta-Store": "cheap"})  # fmt: skip
    assert r.status_code == 204
    assert admin.get(f"/v2/images/{image['id']}").json()["stores"] == "cheap"
    other = admin.create(name="bad-store")
    r = admin.put(f"/v2/images/{other['id']}/file", content=b"abc",
                  headers={"Content-Type": "application/octet-stream", "X-Image-Meta-Store": "nowhere"})  # fmt: skip
    assert r.status_code == 400


def test_import_to_all_stores_then_delete_one(admin: Actor, multi_server: ServerProcess) -> None:
    data = os.urandom(3 * 2**20)
    image = admin.create(name="everywhere")
    admin.put(
        f"/v2/images/{image['id']}/stage", content=data, headers={"Content-Type": "application/octet-stream"}
    )
    r = admin.post(
        f"/v2/images/{image['id']}/import", json={"method": {"name": "glance-direct"}, "all_stores": True}
    )
    assert r.status_code == 202
    done = wait_for(admin, image["id"])
    assert done["status"] == "active" and done["stores"] == "archive,cheap,fast", done
    assert done["os_glance_importing_to_stores"] == "" and done["os_glance_failed_import"] == ""
    for store in ("fast", "cheap", "archive"):
        assert (
            hashlib.sha256((multi_server.data_dir.parent / store / image["id"]).read_bytes()).digest()
            == hashlib.sha256(data).digest()
        )
    assert admin.delete(f"/v2/stores/cheap/{image['id']}").status_code == 204
    assert admin.get(f"/v2/images/{image['id']}").json()["stores"] == "archive,fast"
    assert not (multi_server.data_dir.parent / "cheap" / image["id"]).exists()
    assert admin.delete(f"/v2/stores/cheap/{image['id']}").status_code == 404
    assert admin.delete(f"/v2/stores/nowhere/{image['id']}").status_code == 409
    assert admin.delete(f"/v2/stores/archive/{image['id']}").status_code == 204
    assert admin.delete(f"/v2/stores/fast/{image['id']}").status_code == 403  # the last copy


def test_import_to_specific_stores_and_copy(
    closing: contextlib.ExitStack, admin: Actor, multi_server: ServerProcess
) -> None:
    data = os.urandom(2**20 + 5)
    image = admin.create(name="copy-me")
    admin.put(
        f"/v2/images/{image['id']}/stage", content=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert (
        admin.post(
            f"/v2/images/{image['id']}/import",
            json={"method": {"name": "glance-direct"}, "stores": ["cheap"]},
        ).status_code
        == 202
    )
    done = wait_for(admin, image["id"])
    assert done["stores"] == "cheap"
    r = admin.post(
        f"/v2/images/{image['id']}/import", json={"method": {"name": "copy-image"}, "stores": ["cheap"]}
    )
    assert r.status_code == 400  # already there
    assert (
        admin.post(
            f"/v2/images/{image['id']}/import", json={"method": {"name": "copy-image"}, "stores": ["moon"]}
        ).status_code
        == 409
    )
    r = admin.post(
        f"/v2/images/{image['id']}/import", json={"method": {"name": "copy-image"}, "all_stores": True}
    )
    assert r.status_code == 202
    done = wait_for(admin, image["id"], statuses=("active",))
    assert done["stores"] == "archive,cheap,fast" and done["status"] == "active"
    # Reads prefer the heaviest store; the bytes are the same everywhere.
    assert admin.get(f"/v2/images/{image['id']}/file").content == data
    # Everything is already everywhere: accepted, nothing to do.
    assert (
        admin.post(
            f"/v2/images/{image['id']}/import", json={"method": {"name": "copy-image"}, "all_stores": True}
        ).status_code
        == 202
    )
    member = closing.enter_context(Actor(str(admin.client.base_url), "ms-admin", "member,reader"))
    assert (
        member.post(
            f"/v2/images/{image['id']}/import", json={"method": {"name": "copy-image"}, "all_stores": True}
        ).status_code
        == 403
    )
    assert admin.delete(f"/v2/images/{image['id']}").status_code == 204
    for store in ("fast", "cheap", "archive"):
        assert not (multi_server.data_dir.parent / store / image["id"]).exists()


def test_import_body_checks(admin: Actor) -> None:
    image = admin.create(name="checks")
    iid = image["id"]
    admin.put(
        f"/v2/images/{iid}/stage", content=b"x" * 100, headers={"Content-Type": "application/octet-stream"}
    )
    bad = [{"method": {"name": "glance-direct"}, "all_stores": True, "stores": ["fast"]},
           {"method": {"name": "glance-direct"}, "stores": "fast"}]  # fmt: skip
    for body in bad:
        assert admin.post(f"/v2/images/{iid}/import", json=body).status_code == 400, body
    r = admin.post(f"/v2/images/{iid}/import", json={"method": {"name": "glance-direct"}, "stores": ["fast"]},
                   headers={"X-Image-Meta-Store": "cheap"})  # fmt: skip
    assert r.status_code == 400
