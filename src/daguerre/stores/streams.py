"""Stream wrappers composed once, in services: rechunking, size limits, hashing, inspection.

Hashing runs md5 and the os_hash algorithm on two pool threads per chunk (hashlib releases the
GIL for large buffers), overlapping with the store's write of the same chunk and with receiving
the next one. At most one chunk is in flight in the hashers, so memory stays at a few chunks.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

# 1 MiB: large enough that per-chunk overhead (two hash submissions, one write) is noise, small
# enough that 32 concurrent uploads (a few chunks in flight each) stay well under 200 MiB.
CHUNK = 1024 * 1024
_HASH_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="hash")


async def rechunk(source: AsyncIterator[bytes], size: int = CHUNK) -> AsyncIterator[bytes]:
    """Gather small network reads into ``size``-byte chunks (one copy), pass big ones through."""
    buf = bytearray()
    async for piece in source:
        if not piece:
            continue
        if not buf and len(piece) >= size:
            yield bytes(piece)
            continue
        buf += piece
        if len(buf) >= size:
            yield bytes(buf)
            buf.clear()
    if buf:
        yield bytes(buf)


class LimitExceeded(Exception):
    def __init__(self, limit: int, what: str) -> None:
        super().__init__(f"{what} of {limit} bytes exceeded")
        self.limit = limit
        self.what = what


@dataclass
class Digests:
    size: int
    md5: str
    algo: str
    value: str


class DigestingStream:
    """Iterate to pass chunks through; afterwards ``digests()`` holds size, md5 and os_hash.

    ``limits`` are (bytes, name) pairs; crossing one raises LimitExceeded before the chunk that
    crosses it reaches the store. ``observers`` see every chunk (e.g. the format inspector).
    """

    def __init__(
        self,
        source: AsyncIterator[bytes],
        algo: str,
        *,
        limits: list[tuple[int, str]] | None = None,
        observers: list[Callable[[bytes], None]] | None = None,
    ) -> None:
        self._source = source
        self._algo = algo
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._hash = hashlib.new(algo)
        self._limits = [(n, what) for n, what in (limits or []) if n and n > 0]
        self._observers = observers or []
        self.size = 0
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        pending: asyncio.Future | None = None
        try:
            async for chunk in self._source:
                self.size += len(chunk)
                for limit, what in self._limits:
                    if self.size > limit:
                        raise LimitExceeded(limit, what)
                if pending is not None:
                    await pending
                pending = asyncio.gather(
                    loop.run_in_executor(_HASH_POOL, self._md5.update, chunk),
                    loop.run_in_executor(_HASH_POOL, self._hash.update, chunk),
                )
                for observe in self._observers:
                    observe(chunk)
                yield chunk
            if pending is not None:
                await pending
                pending = None
            self._done = True
        finally:
            if pending is not None:
                # Never leave a hasher thread touching state after we are gone.
                await asyncio.shield(pending)

    def digests(self) -> Digests:
        if not self._done:
            raise RuntimeError("stream not fully consumed")
        return Digests(self.size, self._md5.hexdigest(), self._algo, self._hash.hexdigest())


_EOF = object()


class Fanout:
    """Read a source once, feed it to several consumers (one per store) in parallel.

    Each consumer has a small bounded queue; a consumer that fails or stops early is dropped (its
    queue drained so the pump never blocks on it) and the others carry on. Dropping happens when
    the consumer is closed: whoever reads one must close it however it stops reading
    (``contextlib.aclosing``). A consumer abandoned unclosed stays referenced from the failure's
    traceback, and the pump would wait on its full queue for good.
    """

    def __init__(self, source: AsyncIterator[bytes], n: int, depth: int = 2) -> None:
        self._source = source
        self._queues: list[asyncio.Queue] = [asyncio.Queue(depth) for _ in range(n)]
        self._alive = [True] * n
        self._error: BaseException | None = None

    async def pump(self) -> None:
        try:
            async for chunk in self._source:
                if not any(self._alive):
                    return
                for i, q in enumerate(self._queues):
                    if self._alive[i]:
                        await q.put(chunk)
        except BaseException as exc:
            self._error = exc
            raise
        finally:
            for i, q in enumerate(self._queues):
                if self._alive[i]:
                    await q.put(_EOF)

    def consumer(self, i: int) -> AsyncGenerator[bytes, None]:
        async def chunks() -> AsyncGenerator[bytes, None]:
            q = self._queues[i]
            try:
                while True:
                    item = await q.get()
                    if item is _EOF:
                        if self._error is not None:
                            raise RuntimeError(f"source failed: {self._error}") from self._error
                        return
                    yield item
            finally:
                self._alive[i] = False
                while not q.empty():
                    q.get_nowait()

        return chunks()
