"""The store conformance suite: every backend passes it, against the real thing.

A backend's test file subclasses :class:`StoreSuite` and provides one fixture, ``store``
(an async fixture yielding a ready store whose key space it may use), plus, where it has them,
the backend's own debris listing (``leftovers``) and its natural write unit (``chunk_size``)::

    class TestFilesystemStore(StoreSuite):
        chunk_size = 1024 * 1024

        @pytest.fixture
        async def store(self, tmp_path):
            s = FilesystemStore("local", tmp_path)
            yield s
            await s.close()

        async def leftovers(self, store):
            return sorted(p.name for p in (store.root / ".tmp").iterdir())

Every test goes through the ``harness`` fixture. Its teardown deletes the objects the test
meant to keep and then fails if anything else was left behind: a key in ``list_keys()`` that
was not there before the test, or new debris in ``leftovers()`` (temporary files, multipart
uploads, half-written images, trash). A put that fails or is cancelled must leave nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest

from daguerre.stores.base import Store, Stored, StoreError, StoreNotFound, StoreSizeMismatch

__all__ = ["SourceFailed", "StoreHarness", "StoreSuite", "failing_source", "make_bytes", "sha256", "source"]


class SourceFailed(Exception):
    """Raised by the suite's deliberately broken byte sources."""


def make_bytes(n: int, seed: int = 0) -> bytes:
    """Deterministic, incompressible test data."""
    return random.Random(seed).randbytes(n)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def source(data: bytes, piece: int | Sequence[int] = 65_543) -> AsyncIterator[bytes]:
    """Yield ``data`` as bytes in pieces of ``piece`` bytes (a sequence cycles, 0 yields b'')."""
    pieces = [piece] if isinstance(piece, int) else list(piece)
    pos, i = 0, 0
    while pos < len(data):
        n = pieces[i % len(pieces)]
        i += 1
        yield bytes(data[pos : pos + n])
        pos += n
        await asyncio.sleep(0)


async def failing_source(data: bytes, fail_after: int, piece: int = 65_543) -> AsyncIterator[bytes]:
    """Yield ``data`` but raise :class:`SourceFailed` once ``fail_after`` bytes have gone out."""
    sent = 0
    async for chunk in source(data, piece):
        if sent >= fail_after:
            raise SourceFailed(f"source broke after {sent} bytes")
        sent += len(chunk)
        yield chunk
    raise SourceFailed(f"source broke at its end, after {sent} bytes")


class StoreHarness:
    """A store plus the bookkeeping the suite's teardown needs."""

    def __init__(self, store: Store, suite: StoreSuite) -> None:
        self.store = store
        self.suite = suite
        self.chunk = suite.chunk_size
        self.keys: list[str] = []
        self._seed = 0

    def key(self) -> str:
        k = f"t-{uuid.uuid4()}"
        self.keys.append(k)
        return k

    def data(self, n: int) -> bytes:
        self._seed += 1
        return make_bytes(n, self._seed)

    async def put(
        self, key: str, data: bytes, *, size: int | None | bool = True, piece: int | Sequence[int] = 65_543
    ) -> Stored:
        """Put ``data``; ``size=True`` announces ``len(data)``, ``None`` announces nothing."""
        announced = len(data) if size is True else (None if size is False else size)
        return await self.store.put(key, source(data, piece), size=announced)

    async def read(self, key: str, byte_range: tuple[int, int] | None = None) -> bytes:
        reader = await self.store.open(key, byte_range)
        out = bytearray()
        try:
            async for chunk in reader:
                assert isinstance(chunk, bytes), f"readers yield bytes, got {type(chunk).__name__}"
                out += chunk
        finally:
            await reader.aclose()
        return bytes(out)

    async def assert_absent(self, key: str) -> None:
        """The key holds nothing: not listed, stat/open/delete say StoreNotFound, and a delete
        with ``missing_ok`` returns quietly."""
        assert key not in await self.store.list_keys()
        with pytest.raises(StoreNotFound):
            await self.store.stat(key)
        with pytest.raises(StoreNotFound):
            await self.store.open(key)
        with pytest.raises(StoreNotFound):
            await self.store.delete(key)
        with pytest.raises(StoreNotFound):
            await self.store.delete(key, missing_ok=False)
        await self.store.delete(key, missing_ok=True)  # quietly

    async def assert_no_debris(self) -> None:
        now = sorted(await self.suite.leftovers(self.store))
        assert now == self._debris_before, (
            f"debris left behind: {sorted(set(now) - set(self._debris_before))}"
        )

    async def begin(self) -> None:
        self._keys_before = sorted(await self.store.list_keys())
        self._debris_before = sorted(await self.suite.leftovers(self.store))

    async def finish(self) -> None:
        for k in self.keys:
            await self.store.delete(k, missing_ok=True)
        after = sorted(await self.store.list_keys())
        assert after == self._keys_before, (
            f"objects left behind: {sorted(set(after) - set(self._keys_before))}"
        )
        await self.assert_no_debris()


class StoreSuite:
    """Subclass as ``Test<Backend>`` and provide the ``store`` fixture."""

    # The backend's natural write unit (file read size, RBD object size, S3 part size). The
    # suite's sizes are built around it: chunk - 1, chunk, chunk + 1, many chunks + an odd tail.
    chunk_size: int = 1024 * 1024
    # Does a put racing another put on the same key lose cleanly (one wins, one is refused)?
    exclusive_create: bool = True

    async def leftovers(self, store: Store) -> list[str]:
        """The backend's own listing of debris (temporaries, multipart uploads, trash)."""
        return []

    @pytest.fixture
    async def store(self) -> AsyncIterator[Store]:
        raise NotImplementedError("a backend's test class provides the 'store' fixture")
        yield  # pragma: no cover

    @pytest.fixture
    async def harness(self, store: Store) -> AsyncIterator[StoreHarness]:
        h = StoreHarness(store, self)
        await h.begin()
        yield h
        await h.finish()

    # ---------------------------------------------------------------------------------------
    # Round trips

    @pytest.mark.parametrize("announce", [True, False], ids=["sized", "unsized"])
    @pytest.mark.parametrize("shape", ["0", "1", "chunk-1", "chunk", "chunk+1", "many+tail"])
    async def test_round_trip(self, harness: StoreHarness, shape: str, announce: bool) -> None:
        c = harness.chunk
        n = {"0": 0, "1": 1, "chunk-1": c - 1, "chunk": c, "chunk+1": c + 1, "many+tail": 5 * c + 12_345}[
            shape
        ]
        data = harness.data(n)
        key = harness.key()
        stored = await harness.put(key, data, size=announce)
        assert stored.key == key
        assert stored.size == n
        assert await harness.store.stat(key) == n
        assert key in await harness.store.list_keys()
        reader = await harness.store.open(key)
        assert (reader.size, reader.start, reader.end) == (n, 0, n)
        await reader.aclose()
        assert sha256(await harness.read(key)) == sha256(data)

    async def test_irregular_source_pieces(self, harness: StoreHarness) -> None:
        """Empty pieces, one-byte pieces and pieces larger than a chunk all count."""
        c = harness.chunk
        data = harness.data(3 * c + 7)
        key = harness.key()
        await harness.put(key, data, size=None, piece=[0, 1, c + 3, 0, 17, 2 * c, 5])
        assert sha256(await harness.read(key)) == sha256(data)

    async def test_one_huge_piece(self, harness: StoreHarness) -> None:
        data = harness.data(2 * harness.chunk + 3)
        key = harness.key()
        await harness.put(key, data, piece=len(data))
        assert sha256(await harness.read(key)) == sha256(data)

    # ---------------------------------------------------------------------------------------
    # Announced size versus what arrives

    @pytest.mark.parametrize(
        "delta", [-1, +1, -3, +5], ids=["short1", "long1", "short-chunks", "long-chunks"]
    )
    async def test_size_mismatch_leaves_nothing(self, harness: StoreHarness, delta: int) -> None:
        c = harness.chunk
        n = 2 * c + 11 if abs(delta) > 1 else c
        real = n + (delta if abs(delta) == 1 else delta * 1000)
        key = harness.key()
        with pytest.raises(StoreSizeMismatch) as info:
            await harness.store.put(key, source(harness.data(real)), size=n)
        assert info.value.expected == n
        if real < n:
            assert info.value.actual == real
        else:
            assert info.value.actual > n
        await harness.assert_absent(key)
        await harness.assert_no_debris()

    async def test_announced_zero_but_data_arrives(self, harness: StoreHarness) -> None:
        key = harness.key()
        with pytest.raises(StoreSizeMismatch):
            await harness.store.put(key, source(b"x"), size=0)
        await harness.assert_absent(key)

    # ---------------------------------------------------------------------------------------
    # Ranged reads

    async def test_ranged_reads(self, harness: StoreHarness) -> None:
        c = harness.chunk
        n = 2 * c + 101
        data = harness.data(n)
        key = harness.key()
        await harness.put(key, data)
        ranges = [
            (0, 1),
            (0, 100),
            (5, c + 5),  # crosses a chunk boundary
            (c - 1, c + 1),
            (c, 2 * c),  # exactly one chunk
            (n // 2, n // 2 + 1000),
            (n - 1, n),
            (n - 1000, n),
            (0, n),
            (0, 0),  # empty ranges
            (c, c),
            (n, n),
        ]
        for start, end in ranges:
            reader = await harness.store.open(key, (start, end))
            assert (reader.size, reader.start, reader.end) == (n, start, end)
            await reader.aclose()
            got = await harness.read(key, (start, end))
            assert got == data[start:end], f"range {start}-{end}"

    @pytest.mark.parametrize("which", ["past-end", "start-past-end", "reversed", "negative"])
    async def test_range_outside_refused(self, harness: StoreHarness, which: str) -> None:
        n = 1000
        key = harness.key()
        await harness.put(key, harness.data(n))
        bad = {
            "past-end": (n - 1, n + 1),
            "start-past-end": (n + 1, n + 2),
            "reversed": (10, 5),
            "negative": (-1, 5),
        }
        with pytest.raises(StoreError) as info:
            await harness.store.open(key, bad[which])
        assert not isinstance(info.value, StoreNotFound)

    async def test_ranged_read_of_empty_object(self, harness: StoreHarness) -> None:
        key = harness.key()
        await harness.put(key, b"")
        assert await harness.read(key, (0, 0)) == b""
        with pytest.raises(StoreError):
            await harness.store.open(key, (0, 1))

    async def test_abandoned_read_releases(self, harness: StoreHarness) -> None:
        """A reader closed half-way (client gone) frees what it held; the object stays deletable."""
        data = harness.data(3 * harness.chunk)
        key = harness.key()
        await harness.put(key, data)
        reader = await harness.store.open(key)
        it = reader.__aiter__()
        first = await it.__anext__()
        assert data.startswith(first) and first
        await reader.aclose()
        await harness.store.delete(key)
        await harness.assert_absent(key)

    # ---------------------------------------------------------------------------------------
    # stat / delete / existing keys

    async def test_missing_key(self, harness: StoreHarness) -> None:
        await harness.assert_absent(f"t-missing-{uuid.uuid4()}")

    async def test_delete(self, harness: StoreHarness) -> None:
        key = harness.key()
        await harness.put(key, harness.data(harness.chunk + 1))
        assert await harness.store.stat(key) == harness.chunk + 1
        await harness.store.delete(key)
        await harness.assert_absent(key)
        # The key is free again.
        data = harness.data(10)
        await harness.put(key, data)
        assert await harness.read(key) == data

    async def test_delete_missing_ok(self, harness: StoreHarness) -> None:
        """``missing_ok`` removes an object that is there, and is quiet about one that is not."""
        key = harness.key()
        await harness.put(key, harness.data(harness.chunk + 1))
        await harness.store.delete(key, missing_ok=True)
        await harness.assert_absent(key)
        await harness.store.delete(key, missing_ok=True)  # twice: still quiet
        with pytest.raises(StoreNotFound):
            await harness.store.delete(key, missing_ok=False)
        await harness.assert_absent(key)

    async def test_put_on_existing_key_refused(self, harness: StoreHarness) -> None:
        key = harness.key()
        data = harness.data(harness.chunk + 3)
        await harness.put(key, data)
        for announce in (True, False):
            with pytest.raises(StoreError) as info:
                await harness.put(key, harness.data(2 * harness.chunk + 1), size=announce)
            assert not isinstance(info.value, StoreSizeMismatch)
        assert await harness.store.stat(key) == len(data)
        assert sha256(await harness.read(key)) == sha256(data)
        await harness.assert_no_debris()

    async def test_racing_puts_on_one_key(self, harness: StoreHarness) -> None:
        if not self.exclusive_create:
            pytest.skip("this backend cannot refuse a racing put atomically")
        key = harness.key()
        datas = [harness.data(harness.chunk + i) for i in range(4)]
        results = await asyncio.gather(
            *(harness.put(key, d, piece=harness.chunk // 3 + 1) for d in datas), return_exceptions=True
        )
        won = [i for i, r in enumerate(results) if isinstance(r, Stored)]
        assert len(won) == 1, results
        for r in results:
            if not isinstance(r, Stored):
                assert isinstance(r, StoreError), r
        assert sha256(await harness.read(key)) == sha256(datas[won[0]])

    async def test_list_keys(self, harness: StoreHarness) -> None:
        keys = [harness.key() for _ in range(3)]
        for k in keys:
            await harness.put(k, harness.data(5))
        listed = await harness.store.list_keys()
        assert set(keys) <= set(listed)
        assert len(listed) == len(set(listed))

    async def test_location_url(self, harness: StoreHarness) -> None:
        key = harness.key()
        stored = await harness.put(key, harness.data(1))
        url = harness.store.location_url(key)
        assert isinstance(url, str) and key in url
        if "url" in stored.metadata:
            assert stored.metadata["url"] == url

    async def test_check(self, harness: StoreHarness) -> None:
        await harness.store.check()

    # ---------------------------------------------------------------------------------------
    # Concurrency

    async def test_concurrent_puts_and_reads(self, harness: StoreHarness) -> None:
        c = harness.chunk
        sizes = [0, 1, c - 1, c, c + 1, 2 * c + 3, 3 * c // 2, 777]
        datas = [harness.data(n) for n in sizes]
        keys = [harness.key() for _ in sizes]
        stored = await asyncio.gather(
            *(harness.put(k, d, size=(i % 2 == 0)) for i, (k, d) in enumerate(zip(keys, datas, strict=True)))
        )
        assert [s.size for s in stored] == sizes
        got = await asyncio.gather(*(harness.read(k) for k in keys))
        assert [sha256(g) for g in got] == [sha256(d) for d in datas]
        # Reads of one object, whole and ranged, while new puts run.
        more = [harness.data(c + 17 * i) for i in range(4)]
        more_keys = [harness.key() for _ in more]
        big = keys[5]
        results = await asyncio.gather(
            *(harness.read(big) for _ in range(4)),
            *(harness.read(big, (i, i + c)) for i in (0, 1, 3)),
            *(harness.put(k, d) for k, d in zip(more_keys, more, strict=True)),
        )
        for r in results[:4]:
            assert isinstance(r, bytes) and sha256(r) == sha256(datas[5])
        for r, i in zip(results[4:7], (0, 1, 3), strict=True):
            assert r == datas[5][i : i + c]
        for k, d in zip(more_keys, more, strict=True):
            assert sha256(await harness.read(k)) == sha256(d)

    # ---------------------------------------------------------------------------------------
    # Sources that fail or are cancelled leave nothing

    @pytest.mark.parametrize("announce", [True, False], ids=["sized", "unsized"])
    @pytest.mark.parametrize("where", ["first-piece", "halfway", "at-end"])
    async def test_failing_source_leaves_nothing(
        self, harness: StoreHarness, where: str, announce: bool
    ) -> None:
        n = 4 * harness.chunk + 5
        data = harness.data(n)
        fail_after = {"first-piece": 0, "halfway": n // 2, "at-end": n}[where]
        key = harness.key()
        with pytest.raises(SourceFailed):
            await harness.store.put(key, failing_source(data, fail_after), size=n if announce else None)
        await harness.assert_absent(key)
        await harness.assert_no_debris()

    @pytest.mark.parametrize("announce", [True, False], ids=["sized", "unsized"])
    async def test_cancelled_put_leaves_nothing(self, harness: StoreHarness, announce: bool) -> None:
        c = harness.chunk
        n = 6 * c
        data = harness.data(n)
        reached, never = asyncio.Event(), asyncio.Event()

        async def stalling() -> AsyncIterator[bytes]:
            # Two full chunks and a bit go out (so the backend has really started writing), then
            # the client goes silent and is cancelled.
            async for chunk in source(data[: 2 * c + 1], c // 4 + 1):
                yield chunk
            reached.set()
            await never.wait()
            yield data[2 * c + 1 :]

        key = harness.key()
        task = asyncio.create_task(harness.store.put(key, stalling(), size=n if announce else None))
        await asyncio.wait_for(reached.wait(), 60)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await harness.assert_absent(key)
        await harness.assert_no_debris()

    @pytest.mark.parametrize("delay", [0.0, 0.002, 0.01, 0.03, 0.1])
    async def test_cancelled_during_backend_write(self, harness: StoreHarness, delay: float) -> None:
        """Cancel at an arbitrary moment while data flows freely: most often while a blocking
        backend call (create, write, upload part, complete) is running on a worker thread."""
        n = 8 * harness.chunk
        key = harness.key()
        task = asyncio.create_task(harness.put(key, harness.data(n), piece=harness.chunk // 2 + 1))
        await asyncio.sleep(delay)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            await harness.assert_absent(key)
        else:
            # The put won the race: it must then be complete.
            assert await harness.store.stat(key) == n
        await harness.assert_no_debris()
