"""python-glanceclient, as a library and as the `glance` CLI, against a live server."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from glanceclient import Client

GLANCE = str(Path(sys.executable).parent / "glance")


@pytest.fixture
def glance(noauth_server):
    return Client(endpoint=f"{noauth_server.url}/v2", token="unused-in-noauth")


def test_library_workflow(glance, tmp_path: Path) -> None:
    data = os.urandom(3 * 2**20 + 7)
    image = glance.images.create(
        name="lib-test", disk_format="raw", container_format="bare", os_distro="cirros"
    )
    assert image.status == "queued"
    glance.images.upload(image.id, io.BytesIO(data))
    got = glance.images.get(image.id)
    assert got.status == "active" and got.checksum == hashlib.md5(data).hexdigest()
    assert b"".join(glance.images.data(image.id)) == data
    glance.images.update(image.id, name="renamed", hw_disk_bus="scsi", remove_props=["os_distro"])
    got = glance.images.get(image.id)
    assert got.name == "renamed" and got.hw_disk_bus == "scsi" and "os_distro" not in got
    glance.image_tags.update(image.id, "blue")
    assert "blue" in glance.images.get(image.id).tags
    names = [i.name for i in glance.images.list(filters={"name": "renamed"})]
    assert names == ["renamed"]
    glance.images.deactivate(image.id)
    assert glance.images.get(image.id).status == "deactivated"
    glance.images.reactivate(image.id)
    glance.images.delete(image.id)
    assert image.id not in [i.id for i in glance.images.list()]


def run_cli(server, *args: str) -> str:
    env = {**os.environ, "OS_IMAGE_URL": server.url, "OS_AUTH_TOKEN": "noauth"}
    out = subprocess.run([GLANCE, *args], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout


def test_cli_workflow(noauth_server, tmp_path: Path) -> None:
    src = tmp_path / "disk.raw"
    src.write_bytes(os.urandom(2 * 2**20))
    out = run_cli(noauth_server, "image-create", "--name", "cli-img", "--disk-format", "raw",
                  "--container-format", "bare", "--file", str(src), "--property", "os_name=rhel7.2")  # fmt: skip
    image_id = next(line.split("|")[2].strip() for line in out.splitlines() if "| id " in line)
    assert "active" in out
    assert image_id in run_cli(noauth_server, "image-list", "--property-filter", "os_name=rhel7.2")
    dest = tmp_path / "back.raw"
    run_cli(noauth_server, "image-download", "--file", str(dest), image_id)
    assert dest.read_bytes() == src.read_bytes()
    run_cli(
        noauth_server, "image-update", "--name", "cli-renamed", "--property", "hw_vif_model=virtio", image_id
    )
    shown = run_cli(noauth_server, "image-show", image_id)
    assert "cli-renamed" in shown and "virtio" in shown
    run_cli(noauth_server, "image-tag-update", image_id, "green")
    run_cli(noauth_server, "member-create", image_id, "other-project")
    assert "other-project" in run_cli(noauth_server, "member-list", "--image-id", image_id)
    run_cli(noauth_server, "image-deactivate", image_id)
    run_cli(noauth_server, "image-reactivate", image_id)
    run_cli(noauth_server, "image-delete", image_id)
