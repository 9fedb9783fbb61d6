"""The corpus through the service: every valid image is accepted and every malicious one refused,
both by PUT /file (415 naming the checks) and by glance-direct import (a failed task naming them)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from formats_helpers import qemu_info
from test_formats_malicious import CASES, Ctx
from test_formats_valid import REFUSED_ANYWAY, VALID

from actors import Actor
from daguerre.testing.server import ServerProcess

# Every claim the corpus makes must be creatable on this server.
DISK_FORMATS = "ami,ari,aki,vhd,vhdx,vmdk,raw,qcow2,vdi,iso,ploop,qed,luks,parallels,gpt"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("formats-api"), env={
        "DAGUERRE_AUTH__STRATEGY": "trusted-headers", "DAGUERRE_IMAGE_FORMAT__DISK_FORMATS": DISK_FORMATS,
        "DAGUERRE_DEFAULT__IMAGE_SIZE_CAP": str(2**30)}).start()  # fmt: skip
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def actor(server: ServerProcess) -> Iterator[Actor]:
    with Actor(server.url, f"fmt-{uuid.uuid4().hex[:6]}", "member,reader") as actor:
        yield actor


def _upload(actor: Actor, claim: str, data: bytes):
    image = actor.create(disk_format=claim, container_format="bare")
    return image, actor.upload(image["id"], data)


def _import(actor: Actor, claim: str, data: bytes) -> tuple[dict, dict]:
    image = actor.create(disk_format=claim, container_format="ovf")  # inspection ignores the container
    r = actor.put(
        f"/v2/images/{image['id']}/stage", content=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert r.status_code == 204, r.text
    assert (
        actor.post(f"/v2/images/{image['id']}/import", json={"method": {"name": "glance-direct"}}).status_code
        == 202
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = actor.get(f"/v2/images/{image['id']}").json()
        if body["status"] in ("active", "queued") and not body.get("os_glance_import_task"):
            break
        time.sleep(0.05)
    task = actor.get(f"/v2/images/{image['id']}/tasks").json()["tasks"][-1]
    return body, task


@pytest.mark.parametrize("name", sorted(CASES))
def test_malicious_refused_on_upload_and_import(actor: Actor, corpus, workdir, name: str) -> None:
    builder, claim, expected = CASES[name]
    data = bytes(builder(Ctx(corpus, workdir, f"api-{name}")))
    image, r = _upload(actor, claim, data)
    assert r.status_code == 415, (name, r.status_code, r.text)
    for check in expected:
        assert check in r.text, (name, check, r.text)
    after = actor.get(f"/v2/images/{image['id']}").json()
    assert after["status"] == "queued" and after["size"] is None

    body, task = _import(actor, claim, data)
    assert body["status"] == "queued" and task["status"] == "failure", (name, body, task)
    for check in expected:
        assert check in task["message"], (name, check, task["message"])


@pytest.mark.parametrize("name", VALID)
def test_valid_accepted_on_upload_and_import(actor: Actor, corpus, name: str) -> None:
    img = corpus[name]
    data = img.read()
    expected_virtual = qemu_info(img.path, img.qemu_fmt)["virtual-size"]
    image, r = _upload(actor, img.claim, data)
    assert r.status_code == 204, (name, r.text)
    body = actor.get(f"/v2/images/{image['id']}").json()
    assert (
        body["status"] == "active" and body["virtual_size"] == expected_virtual and body["size"] == len(data)
    )
    body, task = _import(actor, img.claim, data)
    assert body["status"] == "active", (name, task)
    assert body["virtual_size"] == expected_virtual
    assert body["os_daguerre_format"] == img.fmt


@pytest.mark.parametrize("name", sorted(REFUSED_ANYWAY))
def test_qed_and_luks_refused_through_the_api(actor: Actor, corpus, name: str) -> None:
    img = corpus[name]
    image, r = _upload(actor, img.claim, img.read())
    assert r.status_code == 415 and all(c in r.text for c in REFUSED_ANYWAY[name])
