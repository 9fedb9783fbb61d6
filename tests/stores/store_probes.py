"""Instrumentation for the stores' concurrent data paths: it wraps a real blocking call (boto3's
upload_part, librbd's write/read) to count how many run at once, hold them at a gate, or make
one of them fail (the one fault that cannot be caused for real at a chosen moment)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from daguerre.testing.store_suite import source


class Probe:
    def __init__(
        self,
        real: Callable[..., Any],
        *,
        gated: bool = False,
        fail_call: int | None = None,
        fault: Callable[[], BaseException] | None = None,
    ):
        self.real = real
        self.fault = fault
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        self.fail_call = fail_call  # 1-based: this call raises (after the earlier ones ran)
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.calls = 0
        self.finished = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            self.calls += 1
            n = self.calls
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            self.gate.wait(60)
            if n == self.fail_call and self.fault is not None:
                time.sleep(0.05)  # let the calls around it be really in flight
                raise self.fault()
            return self.real(*args, **kwargs)
        finally:
            with self.lock:
                self.active -= 1
                self.finished += 1

    def release_later(self, seconds: float) -> None:
        threading.Timer(seconds, self.gate.set).start()

    async def wait_active(self, n: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.active < n:
            assert time.monotonic() < deadline, f"only {self.active} calls in flight, waited for {n}"
            await asyncio.sleep(0.01)


class CountingSource:
    """``source(data, piece)`` that counts what the store has pulled so far."""

    def __init__(self, data: bytes, piece: int = 65_543):
        self.data = data
        self.piece = piece
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in source(self.data, self.piece):
            self.pulled += len(chunk)
            yield chunk

    async def settled(self, quiet: float = 0.3, timeout: float = 30) -> int:
        """Wait until the store stops pulling (it is blocked on its window); the bytes pulled."""
        deadline = time.monotonic() + timeout
        last = -1
        while self.pulled != last:
            assert time.monotonic() < deadline, "the store never stopped pulling"
            last = self.pulled
            await asyncio.sleep(quiet)
        return self.pulled


async def finish(task: asyncio.Task, probe: Probe) -> None:
    """After a failed assertion: let the put end (open it, cancel it) before the store closes."""
    probe.gate.set()
    if not task.done():
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def cancel_while_in_flight(
    store, probe: Probe, key: str, data: bytes, in_flight: int, announce: bool
) -> None:
    """Start a put, wait until ``in_flight`` gated calls run, cancel it with the calls held for
    0.5 s more, and check the cancellation went on only after every call had finished."""
    task = asyncio.create_task(store.put(key, source(data), size=len(data) if announce else None))
    try:
        await probe.wait_active(in_flight)
    except BaseException:
        await finish(task, probe)
        raise
    t0 = time.monotonic()
    probe.release_later(0.5)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("put completed although it was cancelled")
    assert time.monotonic() - t0 >= 0.4
    assert probe.active == 0
    assert probe.finished == probe.calls == in_flight
