"""Exact status codes and shapes of /v2/images, against a live server (httpx)."""

from __future__ import annotations

import uuid

import httpx

V20 = "application/openstack-images-v2.0-json-patch"

BASE_KEYS = {"id", "name", "status", "visibility", "protected", "os_hidden", "checksum", "os_hash_algo",
             "os_hash_value", "owner", "size", "virtual_size", "min_disk", "min_ram", "container_format",
             "disk_format", "created_at", "updated_at", "tags", "self", "file", "schema"}  # fmt: skip


def test_versions(anon: httpx.Client) -> None:
    r = anon.get("/")
    assert r.status_code == 300
    ids = [v["id"] for v in r.json()["versions"]]
    assert "v2.0" in ids and any(v["status"] == "CURRENT" for v in r.json()["versions"])
    assert anon.get("/versions").status_code == 200
    assert anon.get("/v1/images").status_code == 300
    assert r.headers["x-openstack-request-id"].startswith("req-")


def test_unauthenticated_is_401(anon: httpx.Client) -> None:
    r = anon.get("/v2/images")
    assert r.status_code == 401
    assert r.json()["code"] == "401 Unauthorized"


def test_create_defaults_and_headers(member) -> None:
    r = member.post("/v2/images", json={"name": "cirros", "disk_format": "qcow2", "container_format": "bare"})
    assert r.status_code == 201
    body = r.json()
    assert set(body) >= BASE_KEYS
    assert body["status"] == "queued" and body["visibility"] == "shared"
    assert body["owner"] == member.project and body["checksum"] is None and body["tags"] == []
    assert r.headers["location"] == f"{member.client.base_url}/v2/images/{body['id']}"  # absolute, as Glance
    assert "glance-direct" in r.headers["openstack-image-import-methods"]
    assert body["created_at"].endswith("Z") and "." not in body["created_at"]


def test_create_with_id_and_duplicate(member) -> None:
    image_id = str(uuid.uuid4())
    assert member.post("/v2/images", json={"id": image_id}).status_code == 201
    assert member.post("/v2/images", json={"id": image_id}).status_code == 409


def test_create_refusals(member) -> None:
    for body in ({"status": "active"}, {"checksum": "x"}, {"size": 1}, {"os_glance_foo": "bar"},
                 {"locations": []}, {"self": "x"}, {"deleted": True}):  # fmt: skip
        assert member.post("/v2/images", json=body).status_code == 403, body
    for body in ({"disk_format": "bogus"}, {"name": "x" * 256}, {"visibility": "everyone"}, {"min_ram": "big"},
                 {"custom": 5}, {"tags": ["x" * 256]}, {"protected": "yes"}, {"x" * 256: "v"}, {"min_disk": -1}):  # fmt: skip
        r = member.post("/v2/images", json=body)
        assert r.status_code == 400, (body, r.text)
    assert member.post("/v2/images", json={"visibility": "public"}).status_code == 403
    assert member.post("/v2/images", json={"owner": "someone-else"}).status_code == 403
    assert member.post("/v2/images", json={"tags": [f"t{i}" for i in range(21)]}).status_code == 413


def test_min_ram_and_min_disk_are_32_bit(member) -> None:
    """Glance refuses min_ram/min_disk past 2**31 - 1 with a 400; past 2**63 SQLite used to answer 500."""
    top = 2**31 - 1
    body = member.create(min_ram=top, min_disk=top)
    assert (body["min_ram"], body["min_disk"]) == (top, top)
    for name in ("min_ram", "min_disk"):
        for value in (top + 1, 99_999_999_999_999, 2**63, 2**64 + 1, 10**40):
            r = member.post("/v2/images", json={name: value})
            assert r.status_code == 400, (name, value, r.text)
            assert r.json()["code"] == "400 Bad Request"
            if value < 2**63:  # larger ones are refused as JSON already (tests/api/test_bodies.py)
                assert f"'{name}' value out of range, must not exceed {top}." in r.json()["message"]
            r = member.patch(body["id"], [{"op": "replace", "path": f"/{name}", "value": value}])
            assert r.status_code == 400, (name, value, r.text)
    assert member.get(f"/v2/images/{body['id']}").json()["min_ram"] == top


def test_null_kernel_and_ramdisk_ids_mean_unset(member) -> None:
    """The schema allows null for kernel_id/ramdisk_id; it was a 500 (NOT NULL property value)."""
    r = member.post("/v2/images", json={"kernel_id": None, "ramdisk_id": None, "os_distro": "x"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert "kernel_id" not in body and "ramdisk_id" not in body and body["os_distro"] == "x"
    kernel = str(uuid.uuid4())
    r = member.patch(body["id"], [{"op": "add", "path": "/kernel_id", "value": kernel}])
    assert r.status_code == 200 and r.json()["kernel_id"] == kernel
    r = member.patch(body["id"], [{"op": "replace", "path": "/kernel_id", "value": None},
                                  {"op": "add", "path": "/ramdisk_id", "value": None}])  # fmt: skip
    assert r.status_code == 200, r.text
    assert "kernel_id" not in r.json() and "ramdisk_id" not in r.json()
    assert "kernel_id" not in member.get(f"/v2/images/{body['id']}").json()
    assert member.post("/v2/images", json={"os_distro": None}).status_code == 400


def test_bad_bodies(member) -> None:
    r = member.post("/v2/images", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "Malformed JSON" in r.json()["message"]
    r = member.post("/v2/images", content=b'"a string"', headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = member.post("/v2/images", content=b"[1,2]", headers={"Content-Type": "application/json"})
    assert r.status_code == 400


def test_show_and_invisible_is_404(member, other, admin) -> None:
    image = member.create(name="mine", visibility="private")
    assert member.get(f"/v2/images/{image['id']}").status_code == 200
    assert other.get(f"/v2/images/{image['id']}").status_code == 404
    assert other.delete(f"/v2/images/{image['id']}").status_code == 404
    assert other.patch(image["id"], [{"op": "replace", "path": "/name", "value": "x"}]).status_code == 404
    assert admin.get(f"/v2/images/{image['id']}").status_code == 200
    assert member.get(f"/v2/images/{uuid.uuid4()}").status_code == 404
    assert member.get("/v2/images/" + "x" * 40).status_code == 404


def test_patch_v21_and_v20(member) -> None:
    image = member.create(name="a")
    r = member.patch(image["id"], [{"op": "replace", "path": "/name", "value": "b"},
                                   {"op": "add", "path": "/os_distro", "value": "cirros"},
                                   {"op": "add", "path": "/hw_disk_bus", "value": "scsi"},
                                   {"op": "replace", "path": "/tags", "value": ["x", "y"]},
                                   {"op": "replace", "path": "/min_ram", "value": 512}])  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert (
        body["name"] == "b"
        and body["os_distro"] == "cirros"
        and body["tags"] == ["x", "y"]
        and body["min_ram"] == 512
    )
    # v2.1 add over an existing property overwrites; v2.0 add of an existing one conflicts.
    assert (
        member.patch(image["id"], [{"op": "add", "path": "/os_distro", "value": "ubuntu"}]).json()[
            "os_distro"
        ]
        == "ubuntu"
    )
    assert member.patch(image["id"], [{"add": "/os_distro", "value": "z"}], V20).status_code == 409
    assert member.patch(image["id"], [{"replace": "/name", "value": "c"}], V20).json()["name"] == "c"
    r = member.patch(image["id"], [{"op": "remove", "path": "/hw_disk_bus"}])
    assert r.status_code == 200 and "hw_disk_bus" not in r.json()


def test_patch_refusals(member) -> None:
    image = member.create()
    iid = image["id"]
    for path in ("/status", "/checksum", "/size", "/id", "/created_at", "/os_hash_value", "/self"):
        assert member.patch(iid, [{"op": "replace", "path": path, "value": "x"}]).status_code == 403, path
    assert member.patch(iid, [{"op": "add", "path": "/os_glance_x", "value": "y"}]).status_code == 403
    assert member.patch(iid, [{"add": "/os_glance_foo", "value": "bar"}], V20).status_code == 403
    assert member.patch(iid, [{"op": "add", "path": "/deleted", "value": "y"}]).status_code == 403
    assert member.patch(iid, [{"op": "remove", "path": "/name"}]).status_code == 403
    assert member.patch(iid, [{"op": "replace", "path": "/nope", "value": "y"}]).status_code == 409
    assert member.patch(iid, [{"op": "remove", "path": "/nope"}]).status_code == 409
    assert member.patch(iid, [{"op": "replace", "path": "/visibility", "value": "public"}]).status_code == 403
    assert member.patch(iid, [{"op": "replace", "path": "/owner", "value": "x"}]).status_code == 403
    assert member.patch(iid, [{"op": "add", "path": "/custom", "value": 5}]).status_code == 400
    assert member.patch(iid, [{"op": "replace", "path": "/min_disk", "value": -1}]).status_code == 400
    assert member.patch(iid, [{"op": "move", "path": "/name", "value": "x"}]).status_code == 400
    assert member.patch(iid, [{"op": "replace", "value": "x"}]).status_code == 400
    assert member.patch(iid, [{"op": "replace", "path": "/name"}]).status_code == 400
    assert member.patch(iid, [{"op": "replace", "path": "name", "value": "x"}]).status_code == 400
    assert member.patch(iid, [{"op": "replace", "path": "/a/b", "value": "x"}]).status_code == 400
    assert member.patch(iid, {"op": "replace"}).status_code == 400
    r = member.patch(iid, [{"op": "replace", "path": "/name", "value": "x"}], "application/json")
    assert r.status_code == 415 and "openstack-images-v2.1-json-patch" in r.headers["accept-patch"]
    assert member.patch(iid, [{"op": "replace", "path": "/disk_format", "value": "nope"}]).status_code == 400
    # Nothing of a refused patch is applied.
    assert member.patch(iid, [{"op": "replace", "path": "/name", "value": "zz"},
                              {"op": "replace", "path": "/status", "value": "active"}]).status_code == 403  # fmt: skip
    assert member.get(f"/v2/images/{iid}").json()["name"] != "zz"
    too_many = [{"op": "add", "path": f"/p{i}", "value": "v"} for i in range(31)]
    assert member.patch(iid, too_many).status_code == 413


def test_formats_locked_after_queued(member) -> None:
    image = member.create()
    assert member.upload(image["id"], b"x" * 1024).status_code == 204
    r = member.patch(image["id"], [{"op": "replace", "path": "/disk_format", "value": "qcow2"}])
    assert r.status_code == 403


def test_community_visibility_and_protected(member, admin) -> None:
    image = member.create()
    r = member.patch(image["id"], [{"op": "replace", "path": "/visibility", "value": "community"}])
    assert r.status_code == 200 and r.json()["visibility"] == "community"
    assert (
        member.patch(image["id"], [{"op": "replace", "path": "/protected", "value": True}]).status_code == 200
    )
    assert member.delete(f"/v2/images/{image['id']}").status_code == 403
    assert admin.delete(f"/v2/images/{image['id']}").status_code == 403
    assert (
        member.patch(image["id"], [{"op": "replace", "path": "/protected", "value": False}]).status_code
        == 200
    )
    assert member.delete(f"/v2/images/{image['id']}").status_code == 204
    assert member.get(f"/v2/images/{image['id']}").status_code == 404
    assert member.delete(f"/v2/images/{image['id']}").status_code == 404


def test_reader_cannot_write(reader, member) -> None:
    image = member.create()
    assert reader.get(f"/v2/images/{image['id']}").status_code == 200
    assert reader.post("/v2/images", json={}).status_code == 403
    assert reader.patch(image["id"], [{"op": "replace", "path": "/name", "value": "x"}]).status_code == 403
    assert reader.delete(f"/v2/images/{image['id']}").status_code == 403


def test_tags(member) -> None:
    image = member.create()
    iid = image["id"]
    assert member.put(f"/v2/images/{iid}/tags/blue").status_code == 204
    assert member.put(f"/v2/images/{iid}/tags/blue").status_code == 204
    assert member.get(f"/v2/images/{iid}").json()["tags"] == ["blue"]
    assert member.delete(f"/v2/images/{iid}/tags/blue").status_code == 204
    assert member.delete(f"/v2/images/{iid}/tags/blue").status_code == 404
    assert member.put(f"/v2/images/{iid}/tags/" + "t" * 256).status_code == 400


def test_deactivate_reactivate(member, admin, other) -> None:
    image = member.create(visibility="public") if False else admin.create(visibility="public")
    iid = image["id"]
    assert admin.post(f"/v2/images/{iid}/actions/deactivate").status_code == 403  # queued: not allowed
    assert admin.upload(iid, b"data" * 100).status_code == 204
    assert admin.post(f"/v2/images/{iid}/actions/deactivate").status_code == 204
    assert admin.post(f"/v2/images/{iid}/actions/deactivate").status_code == 204
    assert admin.get(f"/v2/images/{iid}").json()["status"] == "deactivated"
    assert other.get(f"/v2/images/{iid}/file").status_code == 403
    assert admin.get(f"/v2/images/{iid}/file").status_code == 200
    assert other.post(f"/v2/images/{iid}/actions/reactivate").status_code == 403
    assert admin.post(f"/v2/images/{iid}/actions/reactivate").status_code == 204
    assert other.get(f"/v2/images/{iid}/file").status_code == 200
    assert admin.post(f"/v2/images/{iid}/actions/reactivate", content=b"{}").status_code == 400


def test_error_shapes_follow_accept(member) -> None:
    missing = f"/v2/images/{uuid.uuid4()}"
    r = member.get(missing, headers={"Accept": "*/*"})
    assert (
        r.status_code == 404
        and r.headers["content-type"].startswith("text/html")
        and "404 Not Found" in r.text
    )
    r = member.get(missing, headers={"Accept": "application/json"})
    assert r.json()["code"] == "404 Not Found" and r.json()["title"] == "Not Found"
    r = member.client.get(missing, headers={"Accept": ""})
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/plain")


def test_method_not_allowed_and_request_id(member) -> None:
    r = member.put("/v2/images")
    assert r.status_code == 405 and "GET" in r.headers["allow"]
    r = member.get("/v2/images", headers={"X-Openstack-Request-Id": "req-abc"})
    assert r.headers["x-openstack-request-id"] == "req-abc"
    assert member.get("/v2/images", headers={"X-Openstack-Request-Id": "x" * 70}).status_code == 431
    assert member.get("/v2/nothing-here").status_code == 404
    assert member.request("OPTIONS", "/v2/images").status_code == 501


def test_schemas(anon, member) -> None:
    for name in ("image", "images", "member", "members", "task", "tasks"):
        r = member.get(f"/v2/schemas/{name}")
        assert r.status_code == 200 and r.json()["name"] == name
    image = member.get("/v2/schemas/image").json()
    assert image["properties"]["kernel_id"]["is_base"] is False
    assert "raw" in image["properties"]["disk_format"]["enum"]
    assert member.request("GET", "/v2/schemas/image", content=b"{}").status_code == 400
