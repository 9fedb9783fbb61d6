"""Wire details where Daguerre and Glance were compared side by side: 405 and Allow, Location on
201, the legacy task's image_properties, ranged downloads and 416 (docs/api-differences.md)."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.routing import compile_path

from actors import Actor
from daguerre.api.routes import ROUTES
from daguerre.testing.server import ServerProcess
from fileserver import FileServer

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")


def _allow(r) -> set[str]:
    return {m.strip() for m in r.headers["allow"].split(",")}


def _concrete(path: str, image_id: str) -> str:
    """A request path for a route template: every parameter filled with something plausible."""
    _, path_format, convertors = compile_path(path)
    values = {name: image_id if name == "image_id" else "image" if name == "name" else f"x{name}"
              for name in convertors}  # fmt: skip
    return path_format.format(**values)


def test_every_path_answers_405_with_exactly_its_methods(admin: Actor) -> None:
    image = admin.create()
    walked = 0
    for route in ROUTES:
        path = _concrete(route.path, image["id"])
        for method in METHODS:
            if method in route.methods:
                continue
            r = admin.request(method, path)
            assert r.status_code == 405, (method, path, r.status_code, r.text)
            assert _allow(r) == set(route.methods), (method, path, r.headers["allow"])
            walked += 1
    assert walked > 100


def test_allow_lists_what_glance_lists(member: Actor) -> None:
    image = member.create()
    iid = image["id"]
    # The cases found by driving Daguerre and Glance with the same requests.
    expected = [
        ("POST", f"/v2/images/{iid}", {"GET", "PATCH", "DELETE"}),
        ("GET", f"/v2/images/{iid}/tags/x", {"PUT", "DELETE"}),
        ("DELETE", f"/v2/images/{iid}/file", {"GET", "PUT"}),
        ("PUT", "/v2/images", {"GET", "POST"}),
        ("PATCH", f"/v2/images/{iid}/members", {"GET", "POST"}),
        ("PUT", "/v2/tasks/" + str(uuid.uuid4()), {"GET", "DELETE"}),
        ("GET", f"/v2/images/{iid}/import", {"POST"}),
    ]
    for method, path, allow in expected:
        r = member.request(method, path, headers={"Accept": "application/json"})
        assert r.status_code == 405 and _allow(r) == allow, (method, path, r.headers.get("allow"))
        assert r.json()["title"] == "Method Not Allowed" and method in r.json()["message"]
    # A tag containing slashes still routes to the tag resource.
    assert member.put(f"/v2/images/{iid}/tags/a/b").status_code == 204
    assert member.get(f"/v2/images/{iid}").json()["tags"] == ["a/b"]
    # Tasks are never deleted: the DELETE route answers 405 with Allow: GET, as Glance.
    r = member.delete(f"/v2/tasks/{uuid.uuid4()}")
    assert r.status_code == 405 and _allow(r) == {"GET"}


def test_head_is_405_on_api_resources_as_in_glance(member: Actor, anon) -> None:
    image = member.create()
    member.upload(image["id"], b"data")
    for path in (
        f"/v2/images/{image['id']}",
        f"/v2/images/{image['id']}/file",
        "/v2/images",
        "/v2/schemas/image",
    ):
        r = member.head(path)
        assert r.status_code == 405 and "HEAD" not in _allow(r) and "GET" in _allow(r), path
    # The version documents answer HEAD: load balancers probe them with it.
    assert anon.head("/versions").status_code == 200
    assert anon.head("/").status_code == 300
    r = anon.post("/versions")
    assert r.status_code == 405 and _allow(r) == {"GET", "HEAD"}


def test_location_is_absolute(member: Actor, trusted_server: ServerProcess) -> None:
    r = member.post("/v2/images", json={"disk_format": "raw", "container_format": "bare"})
    assert r.status_code == 201
    assert r.headers["location"] == f"{trusted_server.url}/v2/images/{r.json()['id']}"
    assert r.headers["location"] == trusted_server.url + r.json()["self"]
    assert member.get(r.headers["location"]).json()["id"] == r.json()["id"]


def test_location_follows_public_endpoint(tmp_path: Path, closing) -> None:
    server = ServerProcess(tmp_path / "d", env={"DAGUERRE_AUTH__STRATEGY": "trusted-headers",
                                                "DAGUERRE_DEFAULT__PUBLIC_ENDPOINT": "https://images.example/image/"})  # fmt: skip
    server.start()
    try:
        admin = closing.enter_context(Actor(server.url, "admin-project", "admin,member,reader"))
        r = admin.post("/v2/images", json={})
        assert r.headers["location"] == f"https://images.example/image/v2/images/{r.json()['id']}"
        versions = admin.get("/versions").json()["versions"]
        assert versions[0]["links"][0]["href"] == "https://images.example/image/v2/"
        ns = admin.post("/v2/metadefs/namespaces", json={"namespace": f"ns-{uuid.uuid4().hex[:8]}"})
        assert ns.status_code == 201
        assert ns.headers["location"] == "https://images.example/image" + ns.json()["self"]
    finally:
        server.stop()


# --- ranged downloads ----------------------------------------------------------------------------


def test_ranges_and_416(member: Actor) -> None:
    data = bytes(range(256)) * 4
    image = member.create()
    assert member.upload(image["id"], data).status_code == 204
    url = f"/v2/images/{image['id']}/file"

    def get(**headers: str):
        return member.get(url, headers={"Accept": "application/json", **headers})

    r = get(Range="bytes=10-19")
    assert r.status_code == 206 and r.content == data[10:20]
    assert r.headers["content-range"] == f"bytes 10-19/{len(data)}" and r.headers["content-length"] == "10"
    assert r.headers["content-type"] == "application/octet-stream"
    # Deliberate difference: no Content-MD5 on 206 (Glance sends the whole image's there).
    assert "content-md5" not in r.headers
    assert get().headers["content-md5"] == hashlib.md5(data).hexdigest()
    # As Glance: cut to the end, suffix longer than the image is all of it, open-ended, spaces.
    r = get(Range=f"bytes=1000-{10 * len(data)}")
    assert r.status_code == 206 and r.content == data[1000:]
    assert r.headers["content-range"] == f"bytes 1000-{len(data) - 1}/{len(data)}"
    assert get(Range=f"bytes=-{2 * len(data)}").content == data
    assert get(Range="bytes=-5").content == data[-5:]
    assert get(Range="BYTES = 3 - 4").content == data[3:5]
    # The legacy request Content-Range: both ends, inside the image.
    r = get(**{"Content-Range": "bytes 1-3/*"})
    assert r.status_code == 206 and r.content == data[1:4] and r.headers["content-range"] == "bytes 1-3/1024"
    assert get(**{"Content-Range": f"bytes 1-3/{len(data)}"}).content == data[1:4]
    # Multiple ranges: 400, as Glance.
    assert get(Range="bytes=0-1,5-6").status_code == 400
    # 416, titled as webob titles it.
    for bad in (f"bytes={len(data)}-", "bytes=5-2", "pages=1-2", "bytes=-", "bytes=-0", "bytes=1-2x"):
        r = get(Range=bad)
        assert r.status_code == 416, bad
        assert r.json()["title"] == "Request Range Not Satisfiable"
        assert r.json()["code"] == "416 Request Range Not Satisfiable"
    for bad in (f"bytes 0-{len(data)}/*", "bytes -3/*", "bytes 3-/*", "bytes 1-3/2", "bytes */*"):
        assert get(**{"Content-Range": bad}).status_code == 416, bad


def test_range_of_an_empty_image_is_416(member: Actor) -> None:
    image = member.create()
    assert member.upload(image["id"], b"").status_code == 204
    url = f"/v2/images/{image['id']}/file"
    assert member.get(url).status_code == 200
    for spec in ("bytes=0-", "bytes=-5"):
        assert member.get(url, headers={"Range": spec}).status_code == 416


# --- legacy task: image_properties ------------------------------------------------------------------


@pytest.fixture(scope="module")
def task_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    served = tmp_path_factory.mktemp("served")
    (served / "disk.raw").write_bytes(b"\1" * 65536)
    files = FileServer(served)
    server = ServerProcess(tmp_path_factory.mktemp("tasks"), env={
        "DAGUERRE_AUTH__STRATEGY": "trusted-headers",
        "DAGUERRE_IMPORT_FILTERING_OPTS__ALLOWED_HOSTS": "127.0.0.1",
        "DAGUERRE_IMPORT_FILTERING_OPTS__ALLOWED_PORTS": str(files.port),
        "DAGUERRE_IMPORT_FILTERING_OPTS__RATE_LIMIT_PER_MINUTE": "1000",
        "DAGUERRE_DEFAULT__IMAGE_TAG_QUOTA": "3",
    }).start()  # fmt: skip
    yield server, f"http://127.0.0.1:{files.port}/disk.raw"
    server.stop()
    files.close()


def _task(props: object, url: str) -> dict:
    return {
        "type": "import",
        "input": {"import_from": url, "import_from_format": "raw", "image_properties": props},
    }


def _finished(admin: Actor, task_id: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        task = admin.get(f"/v2/tasks/{task_id}").json()
        if task["status"] in ("success", "failure"):
            return task
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not finish")


def test_task_image_properties_set_tags_and_typed_attributes(task_server, closing) -> None:
    server, url = task_server
    admin = closing.enter_context(Actor(server.url, "admin-project", "admin,member,reader"))
    props = {"disk_format": "raw", "container_format": "bare", "name": "legacy", "tags": ["x", "y", "x"],
             "min_ram": 512, "min_disk": 1, "protected": False, "os_hidden": True, "hw_disk_bus": "scsi"}  # fmt: skip
    r = admin.post("/v2/tasks", json=_task(props, url))
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"{server.url}/v2/tasks/{r.json()['id']}"
    assert r.json()["input"]["image_properties"] == props  # the input is kept as given
    task = _finished(admin, r.json()["id"])
    assert task["status"] == "success", task
    image = admin.get(f"/v2/images/{task['result']['image_id']}").json()
    assert image["status"] == "active" and image["name"] == "legacy"
    assert image["tags"] == ["x", "y"]
    assert image["min_ram"] == 512 and image["min_disk"] == 1 and image["os_hidden"] is True
    assert image["hw_disk_bus"] == "scsi"
    assert not any(re.search(r"[\[\]']", str(v)) for v in image.values() if isinstance(v, str))


def test_task_image_properties_bad_values_are_4xx(task_server, closing) -> None:
    server, url = task_server
    admin = closing.enter_context(Actor(server.url, "admin-project", "admin,member,reader"))
    before = len(admin.get("/v2/images").json()["images"])
    cases = [
        ({"tags": "x"}, 400),  # tags must be a list
        ({"tags": [1]}, 400),
        ({"min_ram": "512"}, 400),
        ({"protected": "yes"}, 400),
        ({"hw_video_ram": 64}, 400),  # custom properties are strings, as on POST /v2/images
        ({"hw_flags": ["a"]}, 400),
        ({"visibility": "everyone"}, 400),
        ({"status": "active"}, 403),
        ({"id": str(uuid.uuid4())}, 403),
        ({"os_glance_import_task": "x"}, 403),
        ({"tags": ["a", "b", "c", "d"]}, 413),  # image_tag_quota = 3
        ("not an object", 400),
    ]
    for props, status in cases:
        r = admin.post("/v2/tasks", json=_task(props, url), headers={"Accept": "application/json"})
        assert r.status_code == status, (props, r.status_code, r.text)
        assert r.json()["code"].startswith(str(status))
    assert len(admin.get("/v2/images").json()["images"]) == before
