"""Daguerre on a real Ceph: qcow2 imported and converted to raw into RBD, a protected `snap` that
clones boot the same bytes, delete refused while a clone exists, copy-image to S3 (RADOS Gateway),
`daguerre stores check`, and nothing left behind."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from actors import Actor
from daguerre.testing.ceph_config import ceph_store_sections
from daguerre.testing.server import ServerProcess

pytestmark = pytest.mark.ceph


@pytest.fixture(scope="module")
def bucket(ceph_cluster) -> Iterator[str]:  # noqa: ANN001
    s3 = ceph_cluster["s3"]
    client = boto3.client("s3", endpoint_url=s3["endpoint_url"], aws_access_key_id=s3["access_key"],
                          aws_secret_access_key=s3["secret_key"], region_name=s3["region"])  # fmt: skip
    name = f"daguerre-svc-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=name)
    yield name
    leftovers = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=name)
                 for o in page.get("Contents", [])]  # fmt: skip
    uploads = client.list_multipart_uploads(Bucket=name).get("Uploads", [])
    for key in leftovers:
        client.delete_object(Bucket=name, Key=key)
    client.delete_bucket(Bucket=name)
    assert leftovers == [] and uploads == [], (leftovers, uploads)


def write_config(path: Path, ceph: dict, bucket: str, root: Path) -> Path:
    path.write_text(
        f"""
[DEFAULT]
enabled_backends = ceph:rbd, objects:s3, local:file
enabled_import_methods = glance-direct,web-download,copy-image
show_image_direct_url = true
[glance_store]
default_backend = ceph
{ceph_store_sections(ceph, bucket, rbd_weight=100)}[local]
filesystem_store_datadir = {root / "local"}
[image_import_opts]
image_import_plugins = image_conversion
[image_conversion]
output_format = raw
[auth]
strategy = trusted-headers
"""
    )
    return path


def wait_for(actor: Actor, image_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = actor.get(f"/v2/images/{image_id}").json()
        if body["status"] in ("active", "queued") and not body.get("os_glance_import_task"):
            return body
        time.sleep(0.1)
    raise AssertionError(body)


def test_qcow2_to_rbd_clone_and_copy_to_s3(tmp_path: Path, ceph_cluster, bucket: str) -> None:  # noqa: ANN001
    from daguerre.stores.rbd import load_bindings

    rados, rbd = load_bindings()
    conf = write_config(tmp_path / "daguerre.conf", ceph_cluster, bucket, tmp_path)
    check = subprocess.run([sys.executable, "-m", "daguerre.cli", "--config", str(conf), "stores", "check"],
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert check.returncode == 0, check.stderr
    assert "ceph (rbd) [default]: ok" in check.stdout and "objects (s3): ok" in check.stdout

    raw = tmp_path / "disk.raw"
    with open(raw, "wb") as f:
        f.truncate(32 * 2**20)
        f.seek(2**20)
        f.write(b"boot sector and friends " * 40000)
    qcow2 = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)], check=True)
    server = ServerProcess(tmp_path / "data", config=conf).start()
    actor = Actor(server.url, "ceph-proj", "admin,member,reader")
    try:
        image = actor.create(name="ceph", disk_format="qcow2")
        assert actor.put(f"/v2/images/{image['id']}/stage", content=qcow2.read_bytes(),
                         headers={"Content-Type": "application/octet-stream"}).status_code == 204  # fmt: skip
        assert (
            actor.post(
                f"/v2/images/{image['id']}/import", json={"method": {"name": "glance-direct"}}
            ).status_code
            == 202
        )
        done = wait_for(actor, image["id"])
        assert done["status"] == "active" and done["disk_format"] == "raw" and done["stores"] == "ceph", done
        assert done["direct_url"] == f"rbd://{ceph_cluster['fsid']}/{ceph_cluster['pool']}/{image['id']}/snap"
        assert done["checksum"] == hashlib.md5(raw.read_bytes()).hexdigest()

        cluster = rados.Rados(conffile=ceph_cluster["conf"], conf={"keyring": ceph_cluster["keyring"]})
        cluster.connect()
        ioctx = cluster.open_ioctx(ceph_cluster["pool"])
        clone = f"clone-{uuid.uuid4().hex[:8]}"
        try:
            with rbd.Image(ioctx, image["id"]) as img:
                assert img.is_protected_snap("snap")
            rbd.RBD().clone(ioctx, image["id"], "snap", ioctx, clone)
            digest = hashlib.md5()
            with rbd.Image(ioctx, clone, read_only=True) as c:
                size = c.size()
                for off in range(0, size, 4 * 2**20):
                    digest.update(c.read(off, min(4 * 2**20, size - off)))
            assert digest.hexdigest() == done["checksum"]  # the clone boots the same bytes
            r = actor.delete(f"/v2/images/{image['id']}")
            assert r.status_code == 409 and "clone" in r.text
            assert actor.get(f"/v2/images/{image['id']}").json()["status"] == "active"
        finally:
            rbd.RBD().remove(ioctx, clone)

        r = actor.post(
            f"/v2/images/{image['id']}/import", json={"method": {"name": "copy-image"}, "stores": ["objects"]}
        )
        assert r.status_code == 202
        deadline = time.monotonic() + 120
        while (
            actor.get(f"/v2/images/{image['id']}").json().get("stores") != "ceph,objects"
            and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        assert actor.get(f"/v2/images/{image['id']}").json()["stores"] == "ceph,objects"
        assert actor.delete(f"/v2/stores/ceph/{image['id']}").status_code == 204
        body = actor.get(f"/v2/images/{image['id']}/file").content
        assert hashlib.md5(body).hexdigest() == done["checksum"]  # now served from S3
        assert actor.delete(f"/v2/images/{image['id']}").status_code == 204
        assert image["id"] not in rbd.RBD().list(ioctx)
        ioctx.close()
        cluster.shutdown()
    finally:
        server.stop()


def test_stores_check_reports_a_missing_pool(tmp_path: Path, ceph_cluster, bucket: str) -> None:  # noqa: ANN001
    conf = write_config(
        tmp_path / "daguerre.conf", {**ceph_cluster, "pool": "no-such-pool"}, bucket, tmp_path
    )
    out = subprocess.run([sys.executable, "-m", "daguerre.cli", "--config", str(conf), "stores", "check"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 1 and "no-such-pool" in out.stderr


def test_server_memory_stays_bounded_through_ceph_stores(tmp_path: Path, ceph_cluster, bucket: str) -> None:  # noqa: ANN001
    """1 GiB up and down through RBD, then through S3: the server's peak RSS grows by the stores'
    documented windows (RBD: 5 x 8 MiB writing, 5 x 4 MiB reading plus librados' copy; S3: 5 x
    8 MiB parts) and the allocator's slack, not with the image. Seen: 70-94 MiB of growth over
    four runs; a store that buffered the image would add ~1 GiB. The bound does not tell the
    malloc arena cap (cli._tune_malloc) apart: growth was the same range without it."""
    import httpx

    conf = write_config(tmp_path / "daguerre.conf", ceph_cluster, bucket, tmp_path)
    server = ServerProcess(tmp_path / "data", config=conf).start()
    try:
        actor = Actor(server.url, "mem", "member,reader")
        block = bytes(range(256)) * (4 * 2**20 // 256)

        def roundtrip(store: str, size: int) -> None:
            image = actor.create(name=f"mem-{store}")
            expected = hashlib.md5(usedforsecurity=False)

            def body() -> Iterator[bytes]:
                for _ in range(size // len(block)):
                    expected.update(block)
                    yield block

            headers = {**actor.headers, "Content-Type": "application/octet-stream",
                       "Content-Length": str(size), "X-Image-Meta-Store": store}  # fmt: skip
            r = httpx.put(f"{server.url}/v2/images/{image['id']}/file", content=body(), headers=headers,
                          timeout=300)  # fmt: skip
            assert r.status_code == 204, r.text
            got = hashlib.md5(usedforsecurity=False)
            with httpx.stream("GET", f"{server.url}/v2/images/{image['id']}/file", headers=actor.headers,
                              timeout=300) as resp:  # fmt: skip
                assert resp.status_code == 200
                for chunk in resp.iter_raw(4 * 2**20):
                    got.update(chunk)
            assert got.hexdigest() == expected.hexdigest()
            assert actor.client.delete(f"/v2/images/{image['id']}").status_code == 204

        for store in ("ceph", "objects"):  # every code path once, so the baseline holds the libraries
            roundtrip(store, 16 * 2**20)
        time.sleep(0.2)
        baseline = server.rss_kib()
        for store in ("ceph", "objects"):
            roundtrip(store, 2**30)
        growth_mib = (server.peak_rss_kib() - baseline) / 1024
        print(f"server RSS baseline {baseline / 1024:.1f} MiB, growth to peak {growth_mib:.1f} MiB")
        assert growth_mib < 128
    finally:
        server.stop()
