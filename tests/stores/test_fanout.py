"""Fanout: one source read once into several consumers; a consumer that fails mid-stream must
not stall the others (a copy-image to two stores, one of which goes away)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from daguerre.stores.streams import Fanout


async def _source(n: int):
    for i in range(n):
        yield bytes([i % 256]) * 1000


async def test_a_consumer_that_fails_midway_does_not_stall_the_pump_or_the_others() -> None:
    fan = Fanout(_source(50), 2, depth=2)
    got: list[bytes] = []
    kept = []  # what a store's put does: its frame (and the failure's traceback) holds the stream

    async def failing() -> None:
        async with contextlib.aclosing(fan.consumer(0)) as chunks:
            kept.append(chunks)
            n = 0
            async for _ in chunks:
                n += 1
                if n == 3:
                    raise ConnectionError("store went away")

    async def healthy() -> None:
        async with contextlib.aclosing(fan.consumer(1)) as chunks:
            async for chunk in chunks:
                got.append(chunk)

    results = await asyncio.wait_for(
        asyncio.gather(fan.pump(), failing(), healthy(), return_exceptions=True), timeout=10
    )
    assert results[0] is None and isinstance(results[1], ConnectionError) and results[2] is None
    assert len(got) == 50 and got[-1] == bytes([49]) * 1000


async def test_source_failure_reaches_every_consumer() -> None:
    async def broken():
        yield b"x" * 10
        raise OSError("disk read failed")

    fan = Fanout(broken(), 2)

    async def read(i: int) -> None:
        async with contextlib.aclosing(fan.consumer(i)) as chunks:
            async for _ in chunks:
                pass

    results = await asyncio.wait_for(
        asyncio.gather(fan.pump(), read(0), read(1), return_exceptions=True), timeout=10
    )
    assert isinstance(results[0], OSError)
    for r in results[1:]:
        with pytest.raises(RuntimeError, match="source failed: disk read failed"):
            raise r
