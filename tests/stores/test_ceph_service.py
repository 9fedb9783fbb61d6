"""Daguerre on a real Ceph: qcow2 imported and converted to raw into RBD, a protected `snap` that
clones boot the same bytes, delete refused while a clone exists, copy-image to S3 (RADOS Gateway),
`daguerre stores check`, and nothing left behind."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from actors import Actor
from daguerre.testing.ceph_config import ceph_store_sections
from daguerre.testing.server import ServerProcess

pytestmark = pytest.mark.ceph


def s3_client(ceph: dict):
    s3 = ceph["s3"]
    return boto3.client("s3", endpoint_url=s3["endpoint_url"], aws_access_key_id=s3["access_key"],
                        aws_secret_access_key=s3["secret_key"], region_name=s3["region"])  # fmt: skip


@pytest.fixture(scope="module")
def bucket(ceph_cluster) -> Iterator[str]:
    client = s3_client(ceph_cluster)
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


def write_config(path: Path, ceph: dict, bucket: str, root: Path, *, short_bounds: bool = False) -> Path:
    """The service's config; ``short_bounds``: librados operations bounded at 3 s and S3 reads at
    2 s (defaults 60 s), so a frozen daemon shows within seconds."""
    sections = ceph_store_sections(ceph, bucket, rbd_weight=100)
    if short_bounds:
        sections = sections.replace("[ceph]\n", "[ceph]\nrbd_store_op_timeout = 3\n", 1)
        sections = sections.replace("[objects]\n", "[objects]\ns3_store_read_timeout = 2\n", 1)
    path.write_text(
        f"""
[DEFAULT]
enabled_backends = ceph:rbd, objects:s3, local:file
enabled_import_methods = glance-direct,web-download,copy-image
show_image_direct_url = true
[glance_store]
default_backend = ceph
{sections}[local]
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


def test_qcow2_to_rbd_clone_and_copy_to_s3(
    closing: contextlib.ExitStack, tmp_path: Path, ceph_cluster, bucket: str
) -> None:
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
    actor = closing.enter_context(Actor(server.url, "ceph-proj", "admin,member,reader"))
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
            # ...and as an operator sees it with Ceph's own rbd tool: snap protected, a clone of it
            # exported byte for byte.
            spec = f"{ceph_cluster['pool']}/{image['id']}"

            def rbd_cli(*args: str) -> bytes:
                return subprocess.run(["rbd", "-c", ceph_cluster["conf"], *args], capture_output=True, check=True,
                                      timeout=120).stdout  # fmt: skip

            snaps = json.loads(rbd_cli("snap", "ls", "--format", "json", spec))
            assert [(x["name"], str(x["protected"]).lower()) for x in snaps] == [("snap", "true")], snaps
            rbd_cli("clone", f"{spec}@snap", f"{ceph_cluster['pool']}/{clone}-cli")
            try:
                exported = rbd_cli("export", "--no-progress", f"{ceph_cluster['pool']}/{clone}-cli", "-")
            finally:
                rbd_cli("rm", "--no-progress", f"{ceph_cluster['pool']}/{clone}-cli")
            assert hashlib.md5(exported).hexdigest() == done["checksum"]
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


def test_stores_check_reports_a_missing_pool(tmp_path: Path, ceph_cluster, bucket: str) -> None:
    conf = write_config(
        tmp_path / "daguerre.conf", {**ceph_cluster, "pool": "no-such-pool"}, bucket, tmp_path
    )
    out = subprocess.run([sys.executable, "-m", "daguerre.cli", "--config", str(conf), "stores", "check"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 1 and "no-such-pool" in out.stderr


def test_server_memory_stays_bounded_through_ceph_stores(
    closing: contextlib.ExitStack, tmp_path: Path, ceph_cluster, bucket: str
) -> None:
    """1 GiB up and down through RBD, then through S3: the server's peak RSS grows by the stores'
    documented windows (RBD: 5 x 8 MiB writing, 5 x 4 MiB reading plus librados' copy; S3: 5 x
    8 MiB parts) and the allocator's slack, not with the image. Seen: 65-89 MiB of growth over
    four runs; a store that buffered the image would add ~1 GiB. The bound does not tell the
    malloc arena cap (cli._tune_malloc) apart: one run without it (16 arenas) grew 94 MiB."""
    conf = write_config(tmp_path / "daguerre.conf", ceph_cluster, bucket, tmp_path)
    server = ServerProcess(tmp_path / "data", config=conf).start()
    try:
        actor = closing.enter_context(Actor(server.url, "mem", "member,reader"))
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


# -------------------------------------------------------------------- a store that goes away


def _daemon_pid(ceph: dict, name: str) -> int:
    return int((Path(ceph["conf"]).parent / "run" / f"{name}.pid").read_text())


def _state(pid: int) -> str:
    try:
        return next(
            line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("State:")
        )
    except (OSError, StopIteration):
        return "State:\tX"


def _wait_gone(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and "\tZ" not in _state(pid):
        assert time.monotonic() < deadline, f"process {pid} did not stop"
        time.sleep(0.05)


@contextlib.contextmanager
def radosgw_stopped(ceph: dict) -> Iterator[None]:
    """The gateway really stops (SIGTERM, the process gone) and is started again with its own
    command line: radosgw keeps no state of its own, everything is in RADOS."""
    pid = _daemon_pid(ceph, "client.rgw.a")
    argv = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    os.kill(pid, signal.SIGTERM)
    _wait_gone(pid)
    try:
        yield
    finally:
        subprocess.run(argv, check=True, timeout=60, capture_output=True)  # daemonizes, as up.sh starts it
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(ceph["s3"]["endpoint_url"], timeout=2).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "radosgw did not come back"
            time.sleep(0.1)


@contextlib.contextmanager
def _frozen(ceph: dict, daemon: str) -> Iterator[None]:
    """The daemon stops answering (SIGSTOP: a hung host or a partition looks like this to a
    client) and then carries on (SIGCONT) with its state intact."""
    pid = _daemon_pid(ceph, daemon)
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def radosgw_frozen(ceph: dict) -> contextlib.AbstractContextManager[None]:
    """The gateway keeps its port: connections are accepted by the kernel and then nothing comes
    back, the case only a read timeout ends."""
    return _frozen(ceph, "client.rgw.a")


def osd_frozen(ceph: dict) -> contextlib.AbstractContextManager[None]:
    """The only OSD: every RBD operation (and radosgw's) waits on it."""
    return _frozen(ceph, "osd.0")


def test_ceph_stores_going_away_give_503_and_come_back_without_a_restart(
    closing: contextlib.ExitStack,
    tmp_path: Path,
    ceph_cluster,
    bucket: str,
) -> None:
    """S3: radosgw stopped and started again, then frozen and thawed (a read timeout ends each
    request). RBD: the OSD frozen and thawed; librados would wait for it without end (the test
    hangs with rbd_store_op_timeout = 100000), the store's operation bound turns that into a 503."""
    conf = write_config(tmp_path / "daguerre.conf", ceph_cluster, bucket, tmp_path, short_bounds=True)
    server = ServerProcess(tmp_path / "data", config=conf).start()
    try:
        actor = closing.enter_context(Actor(server.url, "outage", "member,reader"))

        def upload(image_id: str, store: str, data: bytes) -> httpx.Response:
            return actor.client.put(f"/v2/images/{image_id}/file", content=data,
                                    headers={"Content-Type": "application/octet-stream", "X-Image-Meta-Store": store})  # fmt: skip

        def status(image_id: str) -> str:
            return actor.get(f"/v2/images/{image_id}").json()["status"]

        for store, outage in (
            ("objects", radosgw_stopped),
            ("objects", radosgw_frozen),
            ("ceph", osd_frozen),
        ):
            kept = actor.create(name=f"kept-{store}")
            assert upload(kept["id"], store, b"k" * 100_000).status_code == 204
            image = actor.create(name=f"during-{store}")
            with outage(ceph_cluster):
                t0 = time.monotonic()
                r = upload(image["id"], store, b"x" * 3_000_000)
                failed_after = time.monotonic() - t0
                assert r.status_code == 503, (store, r.status_code, r.text)
                body = r.json()
                assert f"store {store}" in body["message"], body
                r = actor.get(f"/v2/images/{kept['id']}/file")
                assert r.status_code == 503 and f"store {store}" in r.json()["message"], r.text
            print(f"{store} ({outage.__name__}): 503 after {failed_after:.1f} s; "
                  f"image {status(image['id'])} after the outage")  # fmt: skip
            assert failed_after < 30
            # Back without a restart: the old image reads, the failed one uploads (once the failed
            # attempt's guard is settled, if it had to wait for the store to clean up).
            assert actor.get(f"/v2/images/{kept['id']}/file").content == b"k" * 100_000
            deadline = time.monotonic() + 120
            while status(image["id"]) != "queued":
                assert time.monotonic() < deadline, status(image["id"])
                time.sleep(0.5)
            assert upload(image["id"], store, b"x" * 3_000_000).status_code == 204
            assert actor.get(f"/v2/images/{image['id']}/file").content == b"x" * 3_000_000
            for i in (kept["id"], image["id"]):
                assert actor.client.delete(f"/v2/images/{i}").status_code == 204
    finally:
        server.stop()


def test_an_upload_cut_off_by_an_outage_leaves_no_orphan(
    closing: contextlib.ExitStack, tmp_path: Path, ceph_cluster, bucket: str
) -> None:
    """The store stops answering while an upload's writes are in flight, so the store's own
    clean-up cannot remove the partial data (RBD: an image without its snapshot; S3: a multipart
    upload) either. The image stays in saving meanwhile; once the store answers, housekeeping
    removes the partial data and puts the image back in queued, without a restart."""
    from daguerre.stores.rbd import load_bindings

    rados, rbd = load_bindings()
    conf = write_config(tmp_path / "daguerre.conf", ceph_cluster, bucket, tmp_path, short_bounds=True)
    client = s3_client(ceph_cluster)
    server = ServerProcess(tmp_path / "data", config=conf).start()
    block = bytes(range(256)) * (2**20 // 256)
    try:
        actor = closing.enter_context(Actor(server.url, "cutoff", "member,reader"))
        for store, outage in (("ceph", osd_frozen), ("objects", radosgw_stopped)):
            image = actor.create(name=f"cut-{store}")
            with contextlib.ExitStack() as stack:

                def body(outage=outage) -> Iterator[bytes]:
                    for i in range(48):
                        if i == 16:  # writes are in flight by now: the store goes away under them
                            stack.enter_context(outage(ceph_cluster))
                        yield block

                headers = {**actor.headers, "Content-Type": "application/octet-stream",
                           "Content-Length": str(48 * len(block)), "X-Image-Meta-Store": store}  # fmt: skip
                try:
                    code = httpx.put(f"{server.url}/v2/images/{image['id']}/file", content=body(), headers=headers,
                                     timeout=120).status_code  # fmt: skip
                except httpx.TransportError:  # the server may answer 503 before it has read the body
                    code = None
                assert code in (503, None), code
                assert actor.get(f"/v2/images/{image['id']}").json()["status"] == "saving"
            deadline = time.monotonic() + 120
            while (status := actor.get(f"/v2/images/{image['id']}").json()["status"]) != "queued":
                assert time.monotonic() < deadline, status
                time.sleep(0.5)
            cluster = rados.Rados(conffile=ceph_cluster["conf"], rados_id=ceph_cluster.get("user") or "admin",
                                  conf={"keyring": ceph_cluster["keyring"]})  # fmt: skip
            cluster.connect(timeout=30)
            try:
                with cluster.open_ioctx(ceph_cluster["pool"]) as ioctx:
                    assert image["id"] not in rbd.RBD().list(ioctx)
            finally:
                cluster.shutdown()
            uploads = client.list_multipart_uploads(Bucket=bucket, Prefix=image["id"]).get("Uploads", [])
            assert uploads == []
            assert client.list_objects_v2(Bucket=bucket, Prefix=image["id"]).get("KeyCount", 0) == 0
            print(f"{store}: upload cut off ({code}), image back in queued, nothing left in the store")
            assert actor.client.delete(f"/v2/images/{image['id']}").status_code == 204
    finally:
        server.stop()


def test_removing_data_outlasts_a_store_outage(
    closing: contextlib.ExitStack, tmp_path: Path, ceph_cluster, bucket: str
) -> None:
    """Images deleted while their S3 store is down: the data removal is retried until the store
    answers (three tries in six seconds would leave it there for good), and a copy-image cut off
    by the outage, whose multipart upload the store could not abort, has it aborted once the
    image is deleted and the store is back. Nothing is left in the bucket."""
    conf = write_config(tmp_path / "daguerre.conf", ceph_cluster, bucket, tmp_path)
    client = s3_client(ceph_cluster)
    server = ServerProcess(tmp_path / "data", config=conf).start()
    try:
        actor = closing.enter_context(Actor(server.url, "removal", "admin,member,reader"))
        kept = actor.create(name="in-s3")
        r = actor.client.put(f"/v2/images/{kept['id']}/file", content=b"s" * 1_000_000,
                             headers={"Content-Type": "application/octet-stream", "X-Image-Meta-Store": "objects"})  # fmt: skip
        assert r.status_code == 204
        copied = actor.create(name="copied")
        block = bytes(range(256)) * (4 * 2**20 // 256)
        r = httpx.put(f"{server.url}/v2/images/{copied['id']}/file", content=iter([block] * 64),
                      headers={**actor.headers, "Content-Type": "application/octet-stream",
                               "Content-Length": str(64 * len(block))}, timeout=120)  # fmt: skip
        assert r.status_code == 204  # 256 MiB in RBD, the default store
        r = actor.post(f"/v2/images/{copied['id']}/import",
                       json={"method": {"name": "copy-image"}, "stores": ["objects"]})  # fmt: skip
        assert r.status_code == 202
        deadline = time.monotonic() + 60
        while not client.list_multipart_uploads(Bucket=bucket, Prefix=copied["id"]).get("Uploads"):
            assert time.monotonic() < deadline, "the copy never started a multipart upload"
            time.sleep(0.02)
        with radosgw_stopped(ceph_cluster):
            deadline = time.monotonic() + 60
            while "objects" not in actor.get(f"/v2/images/{copied['id']}").json().get(
                "os_glance_failed_import", ""
            ):
                assert time.monotonic() < deadline, "the copy did not fail"
                time.sleep(0.2)
            assert actor.client.delete(f"/v2/images/{kept['id']}").status_code == 204
            assert actor.client.delete(f"/v2/images/{copied['id']}").status_code == 204
            time.sleep(8)  # longer than three tries take (2 and 4 s apart)
        assert client.list_multipart_uploads(Bucket=bucket, Prefix=copied["id"]).get("Uploads"), (
            "the cut-off copy left no multipart upload: this test no longer tests its removal"
        )
        deadline = time.monotonic() + 120
        while client.list_objects_v2(Bucket=bucket, Prefix=kept["id"]).get(
            "KeyCount", 0
        ) or client.list_multipart_uploads(Bucket=bucket, Prefix=copied["id"]).get("Uploads"):
            assert time.monotonic() < deadline, "data of deleted images is still in the bucket"
            time.sleep(0.5)
    finally:
        server.stop()
