"""The store conformance suite on RbdStore against a real single-node Ceph, plus clones."""

import asyncio
import hashlib
import uuid

import pytest
from store_probes import CountingSource, Probe, cancel_while_in_flight, finish

from daguerre.stores.base import StoreError, StoreInUse, StoreNotFound
from daguerre.stores.rbd import RbdStore, load_bindings
from daguerre.testing.store_suite import StoreSuite, make_bytes, source

pytestmark = pytest.mark.ceph

CHUNK = 4 * 1024 * 1024  # RBD's default object size; the production default is 8 MiB


def make_store(cluster) -> RbdStore:
    return RbdStore("ceph", cluster["pool"], cluster["conf"], keyring=cluster["keyring"], chunk_size=CHUNK)


class TestRbdStore(StoreSuite):
    chunk_size = CHUNK

    @pytest.fixture
    async def store(self, ceph_cluster):
        s = make_store(ceph_cluster)
        yield s
        await s.close()

    async def leftovers(self, store):
        ioctx = await store._connect()
        _, rbd = load_bindings()
        trash = [t["name"] for t in rbd.RBD().trash_list(ioctx)]
        return await store.list_partials() + [f"trash:{n}" for n in trash]


@pytest.fixture
async def store(ceph_cluster):
    s = make_store(ceph_cluster)
    yield s
    await s.close()


async def test_snapshot_clone_and_delete_in_use(store, ceph_cluster):
    rados, rbd = load_bindings()
    key = f"t-{uuid.uuid4()}"
    clone = f"clone-{key}"
    data = make_bytes(2 * CHUNK + 12345, seed=7)
    stored = await store.put(key, source(data), size=len(data))
    assert stored.metadata["url"] == f"rbd://{ceph_cluster['fsid']}/{ceph_cluster['pool']}/{key}/snap"
    assert store.location_url(key) == stored.metadata["url"]

    ioctx = await store._connect()
    with rbd.Image(ioctx, key, read_only=True) as image:
        assert [s["name"] for s in image.list_snaps()] == ["snap"]
        assert image.is_protected_snap("snap")
        assert image.features() & rbd.RBD_FEATURE_LAYERING

    rbd.RBD().clone(ioctx, key, "snap", ioctx, clone, features=rbd.RBD_FEATURE_LAYERING)
    try:
        with rbd.Image(ioctx, clone) as child:
            assert child.parent_info()[1:] == (key, "snap")
            got = child.read(0, child.size())
            assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()
            child.write(b"copy-on-write", 0)  # leaves the parent alone
        parent = b"".join([c async for c in await store.open(key)])
        assert parent == data

        with pytest.raises(StoreInUse, match="clone"):
            await store.delete(key)
        # Refused whole: the image, its snapshot and its protection are still there.
        assert await store.stat(key) == len(data)
        with rbd.Image(ioctx, key, read_only=True) as image:
            assert image.is_protected_snap("snap")
    finally:
        rbd.RBD().remove(ioctx, clone)

    await store.delete(key)
    with pytest.raises(StoreNotFound):
        await store.stat(key)
    assert key not in await store.list_keys()


async def test_put_in_flight_is_not_an_object_and_reap_orphans(store):
    """An image without its protected snapshot (a put in flight, or a crash's debris)."""
    _, rbd = load_bindings()
    ioctx = await store._connect()
    name = f"t-{uuid.uuid4()}"
    before = await store.list_partials()
    assert before == [], f"debris from an earlier run: {before}"
    rbd.RBD().create(ioctx, name, 1024 * 1024, old_format=False, features=rbd.RBD_FEATURE_LAYERING)
    with pytest.raises(StoreNotFound):
        await store.stat(name)
    with pytest.raises(StoreNotFound):
        await store.open(name)
    with pytest.raises(StoreNotFound):
        await store.delete(name)
    assert await store.list_partials() == [name]
    assert await store.reap_orphans() == [name]
    assert await store.list_partials() == []
    assert name not in await store.list_keys()


async def test_missing_pool_fails_check(ceph_cluster):
    from daguerre.stores.base import StoreUnavailable

    s = RbdStore("ceph", "no-such-pool", ceph_cluster["conf"], keyring=ceph_cluster["keyring"])
    with pytest.raises(StoreUnavailable, match="no-such-pool"):
        await s.check()
    await s.close()


def test_chunk_size_must_be_a_power_of_two(ceph_cluster):
    with pytest.raises(ValueError):
        RbdStore("ceph", "images", ceph_cluster["conf"], chunk_size=3 * 1024 * 1024)


async def test_close_closes_forgotten_readers(ceph_cluster):
    s = make_store(ceph_cluster)
    key = f"t-{uuid.uuid4()}"
    await s.put(key, source(b"abc"), size=3)
    forgotten = await s.open(key)  # never iterated, never closed
    await s.close()  # must close its image before shutting the cluster handle down
    del forgotten
    import gc

    gc.collect()
    s = make_store(ceph_cluster)
    await s.delete(key)
    await s.close()


async def test_unreachable_cluster_fails_check(ceph_cluster, tmp_path):
    from daguerre.stores.base import StoreUnavailable

    conf = tmp_path / "ceph.conf"
    conf.write_text("[global]\nfsid = 00000000-0000-0000-0000-000000000000\nmon host = 127.0.0.1:1\n")
    s = RbdStore("ceph", "images", str(conf), keyring=ceph_cluster["keyring"], connect_timeout=2)
    assert s.location_url("k") == "rbd://00000000-0000-0000-0000-000000000000/images/k/snap"
    with pytest.raises(StoreUnavailable, match="cannot reach ceph"):
        await s.check()
    await s.close()


# -- writes and reads in flight ---------------------------------------------------------------


def probe_writes(store: RbdStore, **kw) -> Probe:
    probe = Probe(store._write, **kw)
    store._write = probe
    return probe


def io_error() -> BaseException:
    _, rbd = load_bindings()
    return rbd.IOError("injected write failure")


async def assert_nothing_left(store: RbdStore, key: str) -> None:
    assert key not in await store.list_keys()
    assert await store.list_partials() == []


@pytest.mark.parametrize("announce", [True, False])
async def test_writes_overlap_with_bounded_memory(store, announce):
    n_chunks = store.writes_in_flight + 4
    data = make_bytes(n_chunks * CHUNK + 4321, seed=11)
    key = f"t-{uuid.uuid4()}"
    probe = probe_writes(store, gated=True)
    src = CountingSource(data)
    task = asyncio.create_task(store.put(key, src.__aiter__(), size=len(data) if announce else None))
    try:
        await probe.wait_active(store.writes_in_flight)
        pulled = await src.settled()
        # Held: writes_in_flight chunks being written and the one being filled (plus one source
        # piece); nothing more is read from the client meanwhile.
        assert probe.active == store.writes_in_flight
        assert store.writes_in_flight * CHUNK <= pulled <= (store.writes_in_flight + 1) * CHUNK + src.piece
    except BaseException:
        await finish(task, probe)
        raise
    probe.gate.set()
    stored = await task
    assert stored.size == len(data)
    assert probe.peak == store.writes_in_flight
    assert probe.calls == n_chunks + 1
    assert await store.stat(key) == len(data)  # an unknown size grew, then was set exactly
    got = b"".join([c async for c in await store.open(key)])
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()
    await store.delete(key)


@pytest.mark.parametrize("fail_call", [1, 3, 7])
@pytest.mark.parametrize("announce", [True, False])
async def test_failed_write_removes_the_image(store, fail_call, announce):
    data = make_bytes(8 * CHUNK + 3, seed=12)
    key = f"t-{uuid.uuid4()}"
    probe = probe_writes(store, fail_call=fail_call, fault=io_error)
    with pytest.raises(StoreError, match="injected"):
        await store.put(key, source(data), size=len(data) if announce else None)
    assert probe.active == 0, "a write was still running after put() returned"
    assert probe.finished == probe.calls
    await assert_nothing_left(store, key)


@pytest.mark.parametrize("announce", [True, False])
async def test_cancel_waits_for_writes_in_flight_then_removes(store, announce):
    data = make_bytes(9 * CHUNK, seed=13)
    key = f"t-{uuid.uuid4()}"
    probe = probe_writes(store, gated=True)
    # The image is closed and removed only after its writes finished.
    await cancel_while_in_flight(store, probe, key, data, store.writes_in_flight, announce)
    await assert_nothing_left(store, key)


async def test_read_ahead_is_bounded_and_bytes_round_trip(store):
    data = make_bytes(10 * CHUNK + 99, seed=14)
    key = f"t-{uuid.uuid4()}"
    await store.put(key, source(data), size=len(data))
    probe = Probe(store._read, gated=True)
    store._read = probe
    reader = await store.open(key)
    chunks = reader.__aiter__()
    first = asyncio.ensure_future(chunks.__anext__())
    try:
        await probe.wait_active(store.read_ahead)
        await asyncio.sleep(0.3)
        assert probe.active == store.read_ahead  # no more reads than read_ahead in memory
    except BaseException:
        await finish(first, probe)
        await chunks.aclose()
        raise
    probe.gate.set()
    got = [await first] + [c async for c in chunks]
    assert probe.peak == store.read_ahead
    assert all(len(c) <= CHUNK for c in got)
    assert hashlib.sha256(b"".join(got)).hexdigest() == hashlib.sha256(data).hexdigest()
    # Ranged, across object boundaries.
    start, end = CHUNK - 5, 3 * CHUNK + 7
    part = b"".join([c async for c in await store.open(key, (start, end))])
    assert part == data[start:end]
    await store.delete(key)


async def test_abandoned_read_waits_for_reads_in_flight(store):
    data = make_bytes(8 * CHUNK, seed=15)
    key = f"t-{uuid.uuid4()}"
    await store.put(key, source(data), size=len(data))
    probe = Probe(store._read, gated=True)
    store._read = probe
    reader = await store.open(key)
    chunks = reader.__aiter__()
    first = asyncio.ensure_future(chunks.__anext__())
    try:
        await probe.wait_active(store.read_ahead)
    except BaseException:
        await finish(first, probe)
        await chunks.aclose()
        raise
    probe.release_later(0.3)
    first.cancel()  # the client went away while reads were in flight
    with pytest.raises(asyncio.CancelledError):
        await first
    await chunks.aclose()
    assert probe.active == 0  # the image was closed only after its reads finished
    await store.delete(key)


async def test_reads_smaller_than_an_object(ceph_cluster):
    s = RbdStore(
        "ceph", ceph_cluster["pool"], ceph_cluster["conf"], keyring=ceph_cluster["keyring"],
        chunk_size=CHUNK, read_size=CHUNK // 4, read_ahead=3,
    )  # fmt: skip
    data = make_bytes(3 * CHUNK + 5, seed=16)
    key = f"t-{uuid.uuid4()}"
    await s.put(key, source(data), size=len(data))
    got = [c async for c in await s.open(key)]
    assert max(len(c) for c in got) == CHUNK // 4
    assert b"".join(got) == data
    for start, end in [(1, CHUNK // 4 + 1), (CHUNK - 3, 2 * CHUNK + 3), (len(data) - 7, len(data))]:
        assert b"".join([c async for c in await s.open(key, (start, end))]) == data[start:end]
    await s.delete(key)
    await s.close()
    for bad in (3000, 3 * 1024 * 1024):
        with pytest.raises(ValueError):
            RbdStore("ceph", "images", ceph_cluster["conf"], read_size=bad)
