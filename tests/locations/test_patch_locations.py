"""PATCH /locations (show_multiple_locations = True): contract §2.3, and what Tempest's
ImageLocationsTest / ImageLocationsAdminTest assert."""

from __future__ import annotations

import contextlib

import httpx
from location_helpers import DATA, WebServer, digests

from actors import Actor
from daguerre.testing.server import ServerProcess

V20 = "application/openstack-images-v2.0-json-patch"


def add(
    actor: Actor, image_id: str, url: str, metadata: dict | None = None, where: str = "-", **extra
) -> httpx.Response:
    value = {"url": url, "metadata": metadata if metadata is not None else {}, **extra}
    return actor.patch(image_id, [{"op": "add", "path": f"/locations/{where}", "value": value}])


def test_new_image_shows_empty_locations_and_upload_adds_one(owner: Actor, reader: Actor) -> None:
    image = owner.create()
    assert image["status"] == "queued" and image["locations"] == [] and "direct_url" not in image
    assert owner.upload(image["id"], b"x" * 1000).status_code == 204
    shown = reader.get(f"/v2/images/{image['id']}").json()
    assert len(shown["locations"]) == 1
    assert shown["direct_url"] == shown["locations"][0]["url"]
    assert shown["locations"][0]["metadata"] == {"store": "fast"}


def test_add_http_location_activates_without_hashing(owner: Actor, web: WebServer) -> None:
    image = owner.create()
    r = owner.patch(
        image["id"],
        [{"add": "/locations/-", "value": {"url": web.url("/image.raw"), "metadata": {"foo": "bar"}}}],
        V20,
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["status"] == "active" and doc["size"] == len(DATA)
    assert doc["os_hash_algo"] is None and doc["os_hash_value"] is None and doc["checksum"] is None
    assert doc["locations"] == [{"url": web.url("/image.raw"), "metadata": {"foo": "bar", "store": "web"}}]
    assert doc["direct_url"] == web.url("/image.raw") and doc["stores"] == "web"
    assert owner.get(f"/v2/images/{image['id']}").json() == doc


def test_download_streams_from_the_web_server_with_ranges(owner: Actor, web: WebServer) -> None:
    for path in ("/image.raw", "/norange.raw"):
        image = owner.create()
        assert add(owner, image["id"], web.url(path)).status_code == 200
        r = owner.get(f"/v2/images/{image['id']}/file")
        assert r.status_code == 200 and r.content == DATA
        r = owner.get(f"/v2/images/{image['id']}/file", headers={"Range": "bytes=1000-2999999"})
        assert r.status_code == 206 and r.content == DATA[1000:3000000]


def test_validation_data_is_copied_and_hidden(owner: Actor, reader: Actor, web: WebServer) -> None:
    image = owner.create()
    vd = {"checksum": "1" * 32, "os_hash_algo": "sha512", "os_hash_value": "deadbeef" * 16}
    assert add(owner, image["id"], web.url("/image.raw"), validation_data=vd).status_code == 200
    shown = reader.get(f"/v2/images/{image['id']}").json()
    assert (shown["checksum"], shown["os_hash_algo"], shown["os_hash_value"]) == (
        "1" * 32,
        "sha512",
        "deadbeef" * 16,
    )
    assert "validation_data" not in shown["locations"][0] and shown["status"] == "active"
    # A second location with the same values is fine; any different value is a 409.
    assert add(owner, image["id"], web.url("/image.raw#new"), validation_data=vd).status_code == 200
    for key, value in {
        "checksum": "2" * 32,
        "os_hash_value": "beefdead" * 16,
        "os_hash_algo": "sha256",
    }.items():
        r = add(owner, image["id"], web.url("/image.raw#other"), validation_data={**vd, key: value})
        assert r.status_code == 409, (key, r.text)
    assert len(reader.get(f"/v2/images/{image['id']}").json()["locations"]) == 2


def test_validation_data_rules_on_a_queued_image(owner: Actor, web: WebServer) -> None:
    image = owner.create()
    url = web.url("/image.raw")
    cases = [
        {"os_hash_algo": "sha256", "os_hash_value": digests()["sha256"]},  # not hashing_algorithm
        {"os_hash_algo": "sha512", "os_hash_value": "zz" * 64},  # not hex
        {"os_hash_algo": "sha512", "os_hash_value": "ab" * 32},  # wrong size
        {"os_hash_algo": "sha512", "os_hash_value": "ab" * 64, "checksum": "g" * 32},  # checksum not hex
    ]
    for vd in cases:
        assert add(owner, image["id"], url, validation_data=vd).status_code == 409, vd
    two = [{"op": "replace", "path": "/locations", "value": [
        {"url": url, "metadata": {}, "validation_data": {"os_hash_algo": "sha512", "os_hash_value": "ab" * 64}},
        {"url": url + "#2", "metadata": {}, "validation_data": {"os_hash_algo": "sha512", "os_hash_value": "cd" * 64}},
    ]}]  # fmt: skip
    assert owner.patch(image["id"], two).status_code == 409  # conflicting values between locations
    schema = [{"os_hash_algo": "sha512"}, {"os_hash_algo": "sha512", "os_hash_value": "ab" * 64, "x": "1"},
              {"os_hash_algo": "sha512", "os_hash_value": "ab" * 64, "checksum": "1"}]  # fmt: skip
    for vd in schema:
        assert add(owner, image["id"], url, validation_data=vd).status_code == 400, vd
    assert owner.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def test_bad_locations_are_400(owner: Actor, web: WebServer) -> None:
    image = owner.create()
    bad_urls = [
        "gopher://info.cern.ch",  # no store for the scheme
        web.url("/missing.raw"),  # 404 at the server
        f"http://127.0.0.1:{web.port + 1 if web.port < 65535 else 1}/image.raw",  # port refused by filtering
        "http://[::1]:80/x",  # host refused by filtering
        web.url("/redirect-out"),  # redirect to a refused port
        web.url("/" + "a" * 260),  # longer than 255
    ]
    for url in bad_urls:
        assert add(owner, image["id"], url).status_code == 400, url
    for value in ({"url": web.url("/image.raw")}, {"metadata": {}}, {"url": 5, "metadata": {}}, "x",
                  {"url": web.url("/image.raw"), "metadata": [], }, {"url": web.url("/image.raw"), "metadata": {}, "z": 1}):  # fmt: skip
        r = owner.patch(image["id"], [{"op": "add", "path": "/locations/-", "value": value}])
        assert r.status_code == 400, (value, r.text)
    for path in ("/locations", "/locations/x", "/locations/5", "/locations/0/url"):
        r = owner.patch(
            image["id"],
            [{"op": "add", "path": path, "value": {"url": web.url("/image.raw"), "metadata": {}}}],
        )
        assert r.status_code == 400, (path, r.text)
    r = owner.patch(image["id"], [{"op": "replace", "path": "/locations/0", "value": []}])
    assert r.status_code == 400
    # Nothing stuck: still queued, no location, and a good add works after all of that.
    assert owner.get(f"/v2/images/{image['id']}").json()["locations"] == []
    assert add(owner, image["id"], web.url("/image.raw"), where="0").status_code == 200


def test_duplicate_and_quota(owner: Actor, web: WebServer) -> None:
    image = owner.create()
    assert add(owner, image["id"], web.url("/image.raw"), {"a": "1"}).status_code == 200
    assert add(owner, image["id"], web.url("/image.raw"), {"a": "1"}).status_code == 400  # duplicate
    assert add(owner, image["id"], web.url("/image.raw"), {"a": "2"}, where="0").status_code == 200
    for n in range(2):
        assert add(owner, image["id"], web.url(f"/image.raw#{n}")).status_code == 200
    r = add(owner, image["id"], web.url("/image.raw#5"))
    assert r.status_code == 413, r.text  # image_location_quota = 4
    locs = owner.get(f"/v2/images/{image['id']}").json()["locations"]
    assert [loc["metadata"].get("a") for loc in locs] == ["2", "1", None, None]


def test_replace_only_changes_metadata(owner: Actor, reader: Actor, web: WebServer) -> None:
    image = owner.create()
    assert add(owner, image["id"], web.url("/image.raw"), {"foo": "bar"}).status_code == 200
    assert add(owner, image["id"], web.url("/image.raw#new"), {"speed": "88mph"}).status_code == 200
    locs = owner.get(f"/v2/images/{image['id']}").json()["locations"]
    r = owner.patch(image["id"], [{"replace": "/locations", "value": locs}], V20)
    assert r.status_code == 200, r.text
    locs[0]["metadata"]["date"] = "2015-10-15"
    assert (
        owner.patch(image["id"], [{"op": "replace", "path": "/locations", "value": locs}]).status_code == 200
    )
    assert (
        owner.patch(image["id"], [{"op": "replace", "path": "/locations", "value": [locs[0]]}]).status_code
        == 400
    )
    moved = [locs[0], {"url": web.url("/image.raw#new3"), "metadata": locs[1]["metadata"]}]
    assert (
        owner.patch(image["id"], [{"op": "replace", "path": "/locations", "value": moved}]).status_code == 400
    )
    assert owner.patch(image["id"], [{"op": "replace", "path": "/locations", "value": []}]).status_code == 403
    assert reader.get(f"/v2/images/{image['id']}").json()["locations"] == locs
    # Reordering is a metadata-only replace too.
    assert (
        owner.patch(image["id"], [{"op": "replace", "path": "/locations", "value": locs[::-1]}]).status_code
        == 200
    )
    assert reader.get(f"/v2/images/{image['id']}").json()["locations"] == locs[::-1]


def test_replace_on_a_queued_image_sets_locations(owner: Actor, web: WebServer) -> None:
    image = owner.create()
    value = [{"url": web.url("/image.raw"), "metadata": {}}, {"url": web.url("/image.raw#b"), "metadata": {}}]
    r = owner.patch(image["id"], [{"op": "replace", "path": "/locations", "value": value}])
    assert r.status_code == 200, r.text
    assert (
        r.json()["status"] == "active" and len(r.json()["locations"]) == 2 and r.json()["size"] == len(DATA)
    )


def test_remove_needs_admin_and_never_the_last(owner: Actor, admin: Actor, web: WebServer) -> None:
    image = owner.create()
    remove = [{"op": "remove", "path": "/locations/0"}]
    assert owner.patch(image["id"], remove).status_code == 403  # delete_image_location is admin-only
    assert admin.patch(image["id"], remove).status_code == 409  # queued: nothing to remove
    assert add(owner, image["id"], web.url("/image.raw")).status_code == 200
    assert add(owner, image["id"], web.url("/image.raw#new")).status_code == 200
    assert owner.patch(image["id"], remove).status_code == 403
    assert admin.patch(image["id"], [{"op": "remove", "path": "/locations/7"}]).status_code == 400
    r = admin.patch(image["id"], remove)
    assert r.status_code == 200, r.text
    doc = owner.get(f"/v2/images/{image['id']}").json()
    assert [loc["url"] for loc in doc["locations"]] == [web.url("/image.raw#new")]
    assert doc["direct_url"] == web.url("/image.raw#new")
    assert admin.patch(image["id"], remove).status_code == 403  # the last one


def test_remove_of_stored_data_deletes_it(
    owner: Actor, admin: Actor, web: WebServer, loc_server: ServerProcess
) -> None:
    import time

    image = owner.create()
    assert owner.upload(image["id"], b"y" * 4096).status_code == 204
    path = loc_server.data_dir / "stores" / "fast" / image["id"]
    assert path.exists()
    assert add(owner, image["id"], web.url("/image.raw")).status_code == 200
    assert admin.patch(image["id"], [{"op": "remove", "path": "/locations/0"}]).status_code == 200
    deadline = time.monotonic() + 10
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not path.exists()
    doc = owner.get(f"/v2/images/{image['id']}").json()
    assert doc["stores"] == "web" and doc["size"] == 4096  # the record keeps what the upload measured


def test_status_and_permission_rules(owner: Actor, reader: Actor, stranger: Actor, web: WebServer) -> None:
    image = owner.create()
    assert add(reader, image["id"], web.url("/image.raw")).status_code == 403  # modify_image
    assert add(stranger, image["id"], web.url("/image.raw")).status_code == 404
    assert add(owner, image["id"], web.url("/image.raw")).status_code == 200
    assert owner.post(f"/v2/images/{image['id']}/actions/deactivate").status_code == 204
    assert add(owner, image["id"], web.url("/image.raw#x")).status_code == 409
    noformat = owner.post("/v2/images", json={"name": "no formats"}).json()
    assert add(owner, noformat["id"], web.url("/image.raw")).status_code == 400


def test_deleting_the_image_leaves_the_web_data_alone(owner: Actor, web: WebServer) -> None:
    image = owner.create()
    assert add(owner, image["id"], web.url("/image.raw")).status_code == 200
    assert owner.delete(f"/v2/images/{image['id']}").status_code == 204
    assert httpx.get(web.url("/image.raw")).content == DATA


def test_locations_invisible_means_403(
    closing: contextlib.ExitStack, plain_server: ServerProcess, project: str, web: WebServer
) -> None:
    actor = closing.enter_context(Actor(plain_server.url, project, "member,reader"))
    image = actor.create()
    assert "locations" not in image
    for op in ({"op": "add", "path": "/locations/-", "value": {"url": web.url("/image.raw"), "metadata": {}}},
               {"op": "replace", "path": "/locations", "value": []}, {"op": "remove", "path": "/locations/0"}):  # fmt: skip
        r = actor.patch(image["id"], [op])
        assert r.status_code == 403, (op, r.text)
