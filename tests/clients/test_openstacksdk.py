"""openstacksdk and the `openstack image` CLI against a live server."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import openstack

OPENSTACK = str(Path(sys.executable).parent / "openstack")


@pytest.fixture
def conn(noauth_server):
    with openstack.connection.Connection(auth_type="none", endpoint_override=noauth_server.url + "/v2",
                                         image_endpoint_override=noauth_server.url) as conn:  # fmt: skip
        yield conn


def test_sdk_workflow(conn, tmp_path: Path) -> None:
    data = os.urandom(2 * 2**20 + 3)
    image = conn.image.create_image(name="sdk-img", data=data, disk_format="raw", container_format="bare",
                                    allow_duplicates=True, validate_checksum=False)  # fmt: skip
    image = conn.image.get_image(image.id)
    assert image.status == "active" and image.checksum == hashlib.md5(data).hexdigest()
    assert conn.image.download_image(image).content == data
    conn.image.update_image(image, name="sdk-renamed", hw_disk_bus="virtio")
    image = conn.image.get_image(image.id)
    assert image.name == "sdk-renamed" and image.hw_disk_bus == "virtio"
    conn.image.add_tag(image, "sdk-tag")
    assert "sdk-tag" in conn.image.get_image(image.id).tags
    listed = [i.id for i in conn.image.images(name="sdk-renamed")]
    assert listed == [image.id]
    member = conn.image.add_member(image, member_id="proj-x")
    assert member.status == "pending"
    conn.image.deactivate_image(image)
    assert conn.image.get_image(image.id).status == "deactivated"
    conn.image.reactivate_image(image)
    conn.image.delete_image(image)
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.image.find_image(image.id, ignore_missing=False)


def run_osc(server, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    cmd = [OPENSTACK, "--os-auth-type", "none", "--os-endpoint", server.url, *args]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout


def test_openstack_image_cli(noauth_server, tmp_path: Path) -> None:
    src = tmp_path / "osc.raw"
    src.write_bytes(os.urandom(2**20))
    created = json.loads(run_osc(noauth_server, "image", "create", "--disk-format", "raw", "--container-format",
                                 "bare", "--file", str(src), "-f", "json", "osc-img"))  # fmt: skip
    image_id = created["id"]
    listed = json.loads(run_osc(noauth_server, "image", "list", "--name", "osc-img", "-f", "json"))
    assert [i["ID"] for i in listed] == [image_id]
    run_osc(noauth_server, "image", "set", "--property", "os_name=rhel7.2", image_id)
    shown = json.loads(run_osc(noauth_server, "image", "show", "-f", "json", image_id))
    assert shown["properties"]["os_name"] == "rhel7.2" and shown["status"] == "active"
    dest = tmp_path / "saved.raw"
    run_osc(noauth_server, "image", "save", "--file", str(dest), image_id)
    assert dest.read_bytes() == src.read_bytes()
    run_osc(noauth_server, "image", "delete", image_id)
