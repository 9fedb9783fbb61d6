"""The store conformance suite on S3Store against Ceph's radosgw, plus multipart specifics."""

import asyncio
import uuid

import boto3
import botocore.config
import botocore.exceptions
import pytest
from store_probes import CountingSource, Probe, cancel_while_in_flight, finish

from daguerre.stores.base import StoreError, StoreUnavailable
from daguerre.stores.s3 import MAX_PARTS, MiB, S3Store, part_size_for
from daguerre.testing.store_suite import (
    SourceFailed,
    StoreSuite,
    failing_source,
    make_bytes,
    sha256,
    source,
)

pytestmark = pytest.mark.ceph

PART = 5 * MiB  # S3's smallest part: the suite's "chunk"


@pytest.fixture(scope="session")
def s3_bucket(ceph_cluster):
    """A fresh bucket for this session; emptied and removed at the end."""
    s3 = ceph_cluster["s3"]
    client = boto3.client(
        "s3",
        endpoint_url=s3["endpoint_url"],
        aws_access_key_id=s3["access_key"],
        aws_secret_access_key=s3["secret_key"],
        config=botocore.config.Config(region_name=s3["region"], s3={"addressing_style": "path"}),
    )
    bucket = f"daguerre-tests-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    yield bucket
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for u in page.get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=o["Key"])
    client.delete_bucket(Bucket=bucket)
    client.close()


def make_store(cluster, bucket, **kw) -> S3Store:
    s3 = cluster["s3"]
    return S3Store(
        "rgw", s3["endpoint_url"], bucket, s3["access_key"], s3["secret_key"], region=s3["region"], **kw
    )


class TestS3Store(StoreSuite):
    chunk_size = PART
    # radosgw 16 honours If-None-Match: * on PutObject but not on CompleteMultipartUpload, so two
    # multipart puts racing on one key both succeed (the last one wins). AWS honours both.
    exclusive_create = False

    @pytest.fixture
    async def store(self, ceph_cluster, s3_bucket):
        s = make_store(ceph_cluster, s3_bucket, part_size=PART)
        yield s
        await s.close()

    async def leftovers(self, store):
        return await store.list_uploads()


@pytest.fixture
async def store(ceph_cluster, s3_bucket):
    s = make_store(ceph_cluster, s3_bucket, part_size=PART)
    yield s
    await s.close()


@pytest.mark.parametrize("announce", [True, False])
async def test_failing_source_leaves_no_multipart_upload(store, announce):
    data = make_bytes(3 * PART + 99)
    key = f"t-{uuid.uuid4()}"
    sent, uploads_seen = 0, []

    async def watched():
        nonlocal sent
        async for chunk in failing_source(data, 2 * PART + 1):
            sent += len(chunk)
            if sent > PART + 1 and not uploads_seen:  # a part is on the server by now
                uploads_seen.extend(await store.list_uploads())
            yield chunk

    with pytest.raises(SourceFailed):
        await store.put(key, watched(), size=len(data) if announce else None)
    assert any(u.startswith(f"{key}:") for u in uploads_seen), "no multipart upload was started"
    assert await store.list_uploads() == []
    assert key not in await store.list_keys()


async def test_multipart_etag_and_parts(store, s3_bucket):
    data = make_bytes(2 * PART + 1)
    key = f"t-{uuid.uuid4()}"
    await store.put(key, source(data), size=None)
    head = store._client.head_object(Bucket=s3_bucket, Key=key)
    assert head["ETag"].strip('"').endswith("-3")  # 5 MiB + 5 MiB + 1 byte
    small = f"t-{uuid.uuid4()}"
    await store.put(small, source(data[:PART]), size=PART)
    assert "-" not in store._client.head_object(Bucket=s3_bucket, Key=small)["ETag"]  # one PUT
    await store.delete(key)
    await store.delete(small)


def test_part_size_stays_under_the_part_limit():
    assert part_size_for(None, None, 1) == 8 * MiB
    assert part_size_for(10, None, 1) == 8 * MiB
    assert part_size_for(10, PART, 1) == PART
    huge = 200 * 1024**3
    assert part_size_for(huge, None, 1) * MAX_PARTS >= huge
    assert part_size_for(huge, None, 1) % MiB == 0
    # Unknown size: parts grow, so 10,000 of them hold terabytes.
    assert sum(part_size_for(None, None, n) for n in range(1, MAX_PARTS + 1)) > 5 * 1024**4
    with pytest.raises(ValueError):
        S3Store("x", None, "b", "a", "s", part_size=MiB)


async def test_missing_bucket_fails_check(ceph_cluster):
    s = make_store(ceph_cluster, "no-such-bucket-daguerre")
    with pytest.raises(StoreUnavailable, match="no-such-bucket"):
        await s.check()
    await s.close()


async def test_wrong_secret_fails_check(ceph_cluster, s3_bucket):
    s3 = ceph_cluster["s3"]
    s = S3Store("rgw", s3["endpoint_url"], s3_bucket, s3["access_key"], "wrong", region=s3["region"])
    with pytest.raises(StoreUnavailable):
        await s.check()
    await s.close()


async def test_unreachable_endpoint_fails_check():
    s = S3Store("x", "http://127.0.0.1:9", "b", "a", "s", connect_timeout=1)
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(s.check(), 30)
    await s.close()


# -- parts in flight ------------------------------------------------------------------------


def probe_parts(store: S3Store, **kw) -> Probe:
    """Wrap the store's real upload_part (the boto3 client's own method)."""
    probe = Probe(store._client.upload_part, **kw)
    store._client.upload_part = probe
    return probe


def internal_error() -> BaseException:
    return botocore.exceptions.ClientError(
        {
            "Error": {"Code": "InternalError", "Message": "injected"},
            "ResponseMetadata": {"HTTPStatusCode": 500},
        },
        "UploadPart",
    )


@pytest.mark.parametrize("announce", [True, False])
async def test_parts_go_out_concurrently_with_bounded_memory(store, announce):
    n_parts = store.parts_in_flight + 4
    data = make_bytes(n_parts * PART + 777, seed=3)
    key = f"t-{uuid.uuid4()}"
    probe = probe_parts(store, gated=True)
    src = CountingSource(data)
    task = asyncio.create_task(store.put(key, src.__aiter__(), size=len(data) if announce else None))
    try:
        await probe.wait_active(store.parts_in_flight)
        pulled = await src.settled()
        # Held: parts_in_flight parts being sent, one full part waiting for a slot, and at most
        # one source piece beyond it; nothing more is read from the client meanwhile.
        assert probe.active == store.parts_in_flight
        assert pulled <= (store.parts_in_flight + 1) * PART + src.piece
        assert pulled >= store.parts_in_flight * PART
    except BaseException:
        await finish(task, probe)
        raise
    probe.gate.set()
    stored = await task
    assert stored.size == len(data)
    assert probe.peak == store.parts_in_flight
    assert probe.calls == n_parts + 1
    assert (
        store._client.head_object(Bucket=store.bucket, Key=key)["ETag"].strip('"').endswith(f"-{n_parts + 1}")
    )
    got = b"".join([c async for c in await store.open(key)])
    assert sha256(got) == sha256(data)
    await store.delete(key)


@pytest.mark.parametrize("fail_call", [1, 3, 6])
async def test_failed_part_aborts_the_upload(store, fail_call):
    """One part fails on the server while others are in flight or done: the put fails, waits for
    the parts still being sent, and aborts the upload (no parts left, no object)."""
    data = make_bytes(7 * PART + 5, seed=4)
    key = f"t-{uuid.uuid4()}"
    probe = probe_parts(store, fail_call=fail_call, fault=internal_error)
    with pytest.raises(StoreUnavailable, match="injected"):
        await store.put(key, source(data), size=len(data))
    assert probe.active == 0, "a part was still being sent after put() returned"
    assert probe.finished == probe.calls
    assert await store.list_uploads() == []
    assert key not in await store.list_keys()


async def test_upload_aborted_under_the_put(store, s3_bucket, ceph_cluster):
    """A real server-side failure: the multipart upload is aborted by someone else while parts
    are in flight; the put fails and leaves nothing."""
    data = make_bytes(10 * PART, seed=5)
    key = f"t-{uuid.uuid4()}"
    other = make_store(ceph_cluster, s3_bucket)

    async def sabotaged():
        sent = 0
        async for chunk in source(data):
            sent += len(chunk)
            if sent > 3 * PART and sent - len(chunk) <= 3 * PART:
                await other.discard_partial(key)  # aborts our upload on the server
            yield chunk

    with pytest.raises(StoreError):
        await store.put(key, sabotaged(), size=len(data))
    await other.close()
    assert await store.list_uploads() == []
    assert key not in await store.list_keys()


@pytest.mark.parametrize("announce", [True, False])
async def test_cancel_waits_for_parts_in_flight_then_aborts(store, announce):
    data = make_bytes(9 * PART, seed=6)
    key = f"t-{uuid.uuid4()}"
    probe = probe_parts(store, gated=True)
    # The cancellation goes on only after the parts' threads finished, then aborts the upload.
    await cancel_while_in_flight(store, probe, key, data, store.parts_in_flight, announce)
    assert await store.list_uploads() == []
    assert key not in await store.list_keys()


async def test_one_part_in_flight_still_works(ceph_cluster, s3_bucket):
    s = make_store(ceph_cluster, s3_bucket, part_size=PART, parts_in_flight=1)
    probe = probe_parts(s)
    data = make_bytes(3 * PART + 1, seed=8)
    key = f"t-{uuid.uuid4()}"
    await s.put(key, source(data), size=None)
    assert probe.peak == 1
    assert b"".join([c async for c in await s.open(key)]) == data
    await s.delete(key)
    with pytest.raises(ValueError):
        make_store(ceph_cluster, s3_bucket, parts_in_flight=0)
    await s.close()
