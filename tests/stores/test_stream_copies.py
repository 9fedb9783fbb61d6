"""Streaming property: on the way from the request body to the store, a chunk is copied at most
once, by rechunking small network reads, and not at all when the reads are already chunk-sized
(uvicorn hands over about 1 MiB at a time, see cli.UVICORN_BODY_BUFFER). Checked by identity of
the objects the store receives, through the real upload chain: rechunk → DigestingStream
(md5 + sha512 on threads, observers) → FilesystemStore.put."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator

from daguerre.stores.filesystem import FilesystemStore
from daguerre.stores.streams import CHUNK, DigestingStream, rechunk


async def _pieces(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for p in pieces:
        yield p


async def _upload(tmp_path, pieces: list[bytes]) -> tuple[list[bytes], DigestingStream, bytes]:
    seen: list[bytes] = []
    stream = DigestingStream(rechunk(_pieces(pieces)), "sha512", observers=[seen.append])
    store = FilesystemStore("local", tmp_path / "store")
    await store.put("img", stream.__aiter__(), size=sum(map(len, pieces)))
    return seen, stream, (tmp_path / "store" / "img").read_bytes()


async def test_chunk_sized_reads_reach_the_store_uncopied(tmp_path) -> None:
    pieces = [os.urandom(CHUNK + 7) for _ in range(6)] + [os.urandom(CHUNK // 3)]
    seen, stream, stored = await _upload(tmp_path, pieces)
    assert len(seen) == len(pieces)
    # The very objects: no copy. Only the short tail waits in rechunk's buffer (one copy).
    assert all(a is b for a, b in zip(seen[:-1], pieces[:-1], strict=True))
    assert seen[-1] == pieces[-1]
    whole = b"".join(pieces)
    assert stored == whole
    d = stream.digests()
    assert (d.size, d.md5, d.value) == (
        len(whole),
        hashlib.md5(whole).hexdigest(),
        hashlib.sha512(whole).hexdigest(),
    )


async def test_small_reads_are_joined_once_into_chunks(tmp_path) -> None:
    pieces = [os.urandom(64 * 1024) for _ in range(16 * 5 + 3)]  # 5 chunks and a bit
    seen, stream, stored = await _upload(tmp_path, pieces)
    assert [len(c) for c in seen] == [CHUNK] * 5 + [3 * 64 * 1024]
    # Each chunk is one new object built from the pieces (the one copy), never a piece itself.
    piece_ids = {id(p) for p in pieces}
    assert not any(id(c) in piece_ids for c in seen)
    assert stored == b"".join(pieces)
    assert stream.digests().md5 == hashlib.md5(stored).hexdigest()
