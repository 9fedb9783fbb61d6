"""Two API processes and two workers sharing one PostgreSQL and one Ceph: uploads through one and
downloads through the other, imports picked up by either worker, and a worker killed with SIGKILL
in the middle of a copy has its job finished by the other."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest
import sqlalchemy as sa

from actors import Actor
from daguerre.testing.ceph_config import ceph_store_sections
from daguerre.testing.server import ServerProcess

pytestmark = [pytest.mark.ceph, pytest.mark.postgres, pytest.mark.slow]


def config(path: Path, ceph: dict, bucket: str, pg_url: str) -> Path:
    path.write_text(
        f"""
[DEFAULT]
enabled_backends = ceph:rbd, objects:s3
enabled_import_methods = glance-direct,copy-image
staging_backend = objects
workers = 0
[glance_store]
default_backend = ceph
[database]
connection = {pg_url}
{ceph_store_sections(ceph, bucket)}[auth]
strategy = trusted-headers
"""
    )
    return path


def start_worker(conf: Path, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:  # the child gets its own copy of the descriptor; ours can close
        return subprocess.Popen([sys.executable, "-m", "daguerre.cli", "--config", str(conf), "worker", "--concurrency", "1"],
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


def test_two_apis_two_workers(
    closing: contextlib.ExitStack, tmp_path: Path, ceph_cluster, pg_url: str
) -> None:
    s3 = ceph_cluster["s3"]
    client = boto3.client("s3", endpoint_url=s3["endpoint_url"], aws_access_key_id=s3["access_key"],
                          aws_secret_access_key=s3["secret_key"], region_name=s3["region"])  # fmt: skip
    bucket = f"daguerre-mp-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    conf = config(tmp_path / "daguerre.conf", ceph_cluster, bucket, pg_url)
    api_a = ServerProcess(tmp_path / "a", config=conf).start()
    api_b = ServerProcess(tmp_path / "b", config=conf).start()
    workers = [start_worker(conf, tmp_path / f"worker{i}.log") for i in range(2)]
    engine = sa.create_engine(pg_url.replace("+asyncpg", "+psycopg2"))
    a = closing.enter_context(Actor(api_a.url, "mp", "admin,member,reader"))
    b = closing.enter_context(Actor(api_b.url, "mp", "admin,member,reader"))
    try:
        data = os.urandom(8 * 2**20)
        image = a.create(name="through-a")
        assert a.upload(image["id"], data).status_code == 204
        assert (
            hashlib.sha256(b.get(f"/v2/images/{image['id']}/file").content).digest()
            == hashlib.sha256(data).digest()
        )

        # Staged through A (into the shared staging store), imported through B, run by either worker.
        staged = a.create(name="staged")
        assert (
            a.put(
                f"/v2/images/{staged['id']}/stage",
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            ).status_code
            == 204
        )
        assert (
            b.post(
                f"/v2/images/{staged['id']}/import", json={"method": {"name": "glance-direct"}}
            ).status_code
            == 202
        )
        deadline = time.monotonic() + 60
        while (
            a.get(f"/v2/images/{staged['id']}").json()["status"] != "active" and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        assert a.get(f"/v2/images/{staged['id']}").json()["status"] == "active"

        # A big copy; kill the worker holding it; the other one finishes it.
        big = a.create(name="big")
        block = os.urandom(4 * 2**20)
        with open(tmp_path / "big.raw", "wb") as f:
            for _ in range(128):
                f.write(block)
        with open(tmp_path / "big.raw", "rb") as f:
            r = a.client.put(
                f"/v2/images/{big['id']}/file",
                content=f,
                headers={"Content-Type": "application/octet-stream"},
            )
        assert r.status_code == 204
        checksum = a.get(f"/v2/images/{big['id']}").json()["checksum"]
        assert (
            a.post(
                f"/v2/images/{big['id']}/import",
                json={"method": {"name": "copy-image"}, "stores": ["objects"]},
            ).status_code
            == 202
        )
        owner = None
        deadline = time.monotonic() + 30
        while owner is None and time.monotonic() < deadline:
            with engine.connect() as conn:
                owner = conn.execute(sa.text("SELECT lease_owner FROM jobs WHERE image_id = :i AND kind = 'import' AND state = 'running'"),
                                     {"i": big["id"]}).scalar()  # fmt: skip
            time.sleep(0.02)
        assert owner, "no worker claimed the copy"
        victim_pid = int(owner.split(":")[1])
        victim = next(w for w in workers if w.pid == victim_pid)
        os.kill(victim_pid, signal.SIGKILL)
        victim.wait(10)
        with engine.connect() as conn:
            pending = conn.execute(sa.text("SELECT count(*) FROM jobs WHERE image_id = :i AND kind = 'import'"),
                                   {"i": big["id"]}).scalar()  # fmt: skip
        assert pending == 1, "the copy finished before the worker was killed: nothing was taken over"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            body = a.get(f"/v2/images/{big['id']}").json()
            if body.get("stores") == "ceph,objects" and not body.get("os_glance_import_task"):
                break
            time.sleep(0.2)
        assert body.get("stores") == "ceph,objects", body
        with engine.connect() as conn:
            finisher = conn.execute(
                sa.text("SELECT count(*) FROM jobs WHERE image_id = :i"), {"i": big["id"]}
            ).scalar()
        assert finisher == 0
        assert a.delete(f"/v2/stores/ceph/{big['id']}").status_code == 204
        assert hashlib.md5(b.get(f"/v2/images/{big['id']}/file").content).hexdigest() == checksum
        for image_id in (image["id"], staged["id"], big["id"]):
            assert a.delete(f"/v2/images/{image_id}").status_code == 204
    finally:
        for w in workers:
            if w.poll() is None:
                w.terminate()
                w.wait(15)
        api_a.stop()
        api_b.stop()
        engine.dispose()
        objects = [
            o["Key"]
            for p in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in p.get("Contents", [])
        ]
        uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        for u in uploads:
            client.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
        for key in objects:
            client.delete_object(Bucket=bucket, Key=key)
        client.delete_bucket(Bucket=bucket)
    assert objects == [] and uploads == [], (objects, uploads)
