"""POST/GET /v2/images/{id}/locations (API 2.17): contract §2.9 and Tempest's LocationImportTest."""

from __future__ import annotations

import contextlib
import time
import uuid

import httpx
from location_helpers import DATA, WebServer, digests, wait_task

from actors import Actor
from daguerre.testing.server import ServerProcess


def post(actor: Actor, image_id: str, url: str, vd: dict | None = None) -> httpx.Response:
    return actor.post(f"/v2/images/{image_id}/locations", json={"url": url, "validation_data": vd or {}})


def test_versions_list_2_17(loc_server: ServerProcess) -> None:
    ids = [v["id"] for v in httpx.get(loc_server.url + "/versions").json()["versions"]]
    assert "v2.17" in ids


def test_stores_info_marks_the_http_store_read_only(owner: Actor, admin: Actor) -> None:
    stores = owner.get("/v2/info/stores").json()["stores"]
    assert stores == [{"id": "fast", "description": "file", "default": "true"},
                      {"id": "web", "description": "http", "read-only": "true"}]  # fmt: skip
    detail = {s["id"]: s for s in admin.get("/v2/info/stores/detail").json()["stores"]}
    assert detail["web"]["read-only"] == "true" and detail["web"]["type"] == "http"
    assert detail["web"]["properties"] == {} and "read-only" not in detail["fast"]


def test_add_with_matching_sha256(owner: Actor, web: WebServer) -> None:
    image = owner.create(visibility="private")
    d = digests()
    r = post(
        owner, image["id"], web.url("/image.raw"), {"os_hash_algo": "sha256", "os_hash_value": d["sha256"]}
    )
    assert r.status_code == 202, r.text
    task = wait_task(owner, image["id"])
    assert task["status"] == "success", task
    assert task["type"] == "location_import" and task["input"]["loc_url"] == web.url("/image.raw")
    doc = owner.get(f"/v2/images/{image['id']}").json()
    assert (doc["status"], doc["os_hash_algo"], doc["os_hash_value"], doc["checksum"], doc["size"]) == (
        "active", "sha256", d["sha256"], d["md5"], len(DATA))  # fmt: skip
    assert (
        doc["stores"] == "web" and "os_glance_import_task" not in doc and "os_glance_hash_op_host" not in doc
    )
    assert owner.get(f"/v2/images/{image['id']}/file").content == DATA


def test_add_without_validation_data_hashes_with_sha512(owner: Actor, web: WebServer) -> None:
    image = owner.create()
    assert (
        owner.post(f"/v2/images/{image['id']}/locations", json={"url": web.url("/image.raw")}).status_code
        == 202
    )
    assert wait_task(owner, image["id"])["status"] == "success"
    doc = owner.get(f"/v2/images/{image['id']}").json()
    assert (doc["status"], doc["os_hash_algo"], doc["os_hash_value"], doc["checksum"]) == (
        "active", "sha512", digests()["sha512"], digests()["md5"])  # fmt: skip
    assert len(owner.get(f"/v2/images/{image['id']}/tasks").json()["tasks"]) == 1


def test_wrong_hash_fails_the_task_and_requeues(owner: Actor, web: WebServer) -> None:
    image = owner.create()
    r = post(
        owner,
        image["id"],
        web.url("/image.raw"),
        {"os_hash_algo": "sha512", "os_hash_value": "beefdead" * 16},
    )
    assert r.status_code == 202
    task = wait_task(owner, image["id"])
    assert task["status"] == "failure" and "not matched" in task["message"]
    doc = owner.get(f"/v2/images/{image['id']}").json()
    assert (doc["status"], doc["os_hash_algo"], doc["checksum"], doc["os_hash_value"], doc["size"]) == (
        "queued", None, None, None, None)  # fmt: skip
    # As in Glance (and asserted by Tempest): the http location stays on the queued image.
    assert doc["stores"] == "web" and "os_glance_import_task" not in doc
    # The image can be given its location again.
    assert post(owner, image["id"], web.url("/image.raw")).status_code == 202
    assert wait_task(owner, image["id"])["status"] == "success"
    doc = owner.get(f"/v2/images/{image['id']}").json()
    assert doc["status"] == "active" and len(doc["locations"]) == 1


def test_bad_validation_data_is_400(owner: Actor, web: WebServer) -> None:
    image = owner.create()
    url, d = web.url("/image.raw"), digests()
    for vd in (
        {"os_hash_algo": "sha512", "os_hash_value": "dbc9e0f80d131e64b94913a7b40bb5"},  # short
        {"os_hash_value": d["sha512"]},  # no algo
        {"os_hash_algo": "sha512"},  # no value
        {"os_hash_algo": "sha123", "os_hash_value": d["sha512"]},  # unknown algo
        {"os_hash_algo": "sha512", "os_hash_value": d["sha256"]},  # sha256-sized value
        {"os_hash_algo": "sha256", "os_hash_value": "z" * 64},  # not hex
        {"os_hash_algo": "sha256", "os_hash_value": d["sha256"], "checksum": d["md5"]},  # unknown key
        "sha256",
    ):
        r = owner.post(f"/v2/images/{image['id']}/locations", json={"url": url, "validation_data": vd})
        assert r.status_code == 400, (vd, r.text)
    for body in ({}, {"url": ""}, {"url": 5}, {"url": url, "extra": 1}, [url]):
        assert owner.post(f"/v2/images/{image['id']}/locations", json=body).status_code == 400, body
    for bad in (
        "gopher://info.cern.ch/x",
        "http://127.0.0.1:1/x",
        "http://[::1]/x",
        web.url("/" + "a" * 260),
    ):
        assert post(owner, image["id"], bad).status_code in (400, 403), bad
    assert post(owner, image["id"], "http://127.0.0.1:1/x").status_code == 400  # refused by filtering
    assert owner.get(f"/v2/images/{image['id']}/tasks").json()["tasks"] == []
    assert owner.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def test_status_lock_and_permissions(owner: Actor, reader: Actor, stranger: Actor, service: Actor,
                                     web: WebServer) -> None:  # fmt: skip
    image = owner.create()
    url = web.url("/image.raw")
    assert post(reader, image["id"], url).status_code == 403  # add_image_location: owner's member
    assert post(stranger, image["id"], url).status_code == 404
    assert owner.post(f"/v2/images/{uuid.uuid4()}/locations", json={"url": url}).status_code == 404
    # Users may only add http URLs; a file URL is for services (and must be one of our objects).
    assert post(owner, image["id"], "file:///etc/passwd").status_code == 403
    assert post(service, image["id"], "file:///etc/passwd").status_code == 400
    # A slow download keeps the task running: a second request meets the lock (or, once
    # importing, the status).
    assert post(owner, image["id"], web.url("/slow.raw")).status_code == 202
    assert post(owner, image["id"], url).status_code == 409
    assert wait_task(owner, image["id"])["status"] == "success"
    assert post(owner, image["id"], url).status_code == 409  # active now
    noformat = owner.post("/v2/images", json={"name": "x"}).json()
    assert post(owner, noformat["id"], url).status_code == 409  # formats first, as for imports


def test_service_may_reference_an_object_of_a_writable_store(
    owner: Actor, service: Actor, loc_server: ServerProcess
) -> None:
    src = owner.create()
    assert owner.upload(src["id"], b"z" * 5000).status_code == 204
    file_url = f"file://{loc_server.data_dir / 'stores' / 'fast' / src['id']}"
    target = owner.create()
    # Another image's data: refused.
    assert post(service, target["id"], file_url).status_code == 400
    # An object nobody uses (as Nova's direct snapshots are): accepted and hashed.
    orphan = loc_server.data_dir / "stores" / "fast" / str(uuid.uuid4())
    orphan.write_bytes(b"q" * 3000)
    assert post(service, target["id"], f"file://{orphan}").status_code == 202
    assert wait_task(owner, target["id"])["status"] == "success"
    doc = owner.get(f"/v2/images/{target['id']}").json()
    assert doc["status"] == "active" and doc["size"] == 3000 and doc["stores"] == "fast"
    assert owner.get(f"/v2/images/{target['id']}/file").content == b"q" * 3000


def test_get_locations_is_for_services(
    owner: Actor, admin: Actor, service: Actor, stranger: Actor, web: WebServer
) -> None:
    image = owner.create()
    assert service.get(f"/v2/images/{image['id']}/locations").json() == []
    assert post(owner, image["id"], web.url("/image.raw")).status_code == 202
    wait_task(owner, image["id"])
    assert owner.get(f"/v2/images/{image['id']}/locations").status_code == 403
    assert stranger.get(f"/v2/images/{image['id']}/locations").status_code == 404
    for who in (service, admin):
        r = who.get(f"/v2/images/{image['id']}/locations")
        assert r.status_code == 200, r.text
        assert r.json() == [{"url": web.url("/image.raw"), "metadata": {"store": "web"}}]
    r = service.request("GET", f"/v2/images/{image['id']}/locations", content=b"{}")
    assert r.status_code == 400  # no body on GET


def test_http_retries(owner: Actor, web: WebServer) -> None:
    tag = uuid.uuid4().hex
    image = owner.create()
    assert post(owner, image["id"], web.url(f"/flaky/2/{tag}.raw")).status_code == 202
    assert wait_task(owner, image["id"])["status"] == "success"  # 2 failures, 3 tries
    assert owner.get(f"/v2/images/{image['id']}").json()["os_hash_value"] == digests()["sha512"]
    image = owner.create()
    assert post(owner, image["id"], web.url(f"/flaky/3/{tag}x.raw")).status_code == 202
    task = wait_task(owner, image["id"])
    assert task["status"] == "failure" and "after 3 attempts" in task["message"]
    assert owner.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def test_do_secure_hash_off(
    closing: contextlib.ExitStack, nohash_server: ServerProcess, project: str, web: WebServer
) -> None:
    actor = closing.enter_context(Actor(nohash_server.url, project, "member,reader"))
    image = actor.create()
    vd = {"os_hash_algo": "sha256", "os_hash_value": "ab" * 32}
    assert post(actor, image["id"], web.url("/image.raw"), vd).status_code == 202
    assert wait_task(actor, image["id"])["status"] == "success"
    doc = actor.get(f"/v2/images/{image['id']}").json()
    assert (doc["status"], doc["size"], doc["checksum"], doc["os_hash_algo"], doc["os_hash_value"]) == (
        "active", len(DATA), None, "sha256", "ab" * 32)  # fmt: skip
    image = actor.create()
    assert post(actor, image["id"], web.url("/image.raw")).status_code == 202
    assert wait_task(actor, image["id"])["status"] == "success"
    doc = actor.get(f"/v2/images/{image['id']}").json()
    assert (doc["status"], doc["size"], doc["checksum"], doc["os_hash_value"]) == (
        "active",
        len(DATA),
        None,
        None,
    )


def test_without_an_http_store_users_get_403(
    closing: contextlib.ExitStack, plain_server: ServerProcess, project: str, web: WebServer
) -> None:
    actor = closing.enter_context(Actor(plain_server.url, project, "member,reader"))
    image = actor.create()
    assert post(actor, image["id"], web.url("/image.raw")).status_code == 403
    service = closing.enter_context(Actor(plain_server.url, project, "member,reader,service"))
    assert post(service, image["id"], web.url("/image.raw")).status_code == 400
    assert actor.get("/v2/info/stores").status_code == 404


def test_deleting_during_the_task(owner: Actor, web: WebServer) -> None:
    image = owner.create()
    assert post(owner, image["id"], web.url("/slow.raw")).status_code == 202
    time.sleep(0.5)
    assert owner.delete(f"/v2/images/{image['id']}").status_code == 204
    time.sleep(2.5)
    assert owner.get(f"/v2/images/{image['id']}").status_code == 404


def test_patch_after_a_failed_task_measures_the_data_again(owner: Actor, web: WebServer) -> None:
    image = owner.create()
    post(owner, image["id"], web.url("/image.raw"), {"os_hash_algo": "sha512", "os_hash_value": "00" * 64})
    assert wait_task(owner, image["id"])["status"] == "failure"
    r = owner.patch(image["id"], [{"op": "add", "path": "/locations/-",
                                   "value": {"url": web.url("/image.raw"), "metadata": {"k": "v"}}}])  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["size"], len(r.json()["locations"])) == ("active", len(DATA), 2)
