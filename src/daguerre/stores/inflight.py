"""A bounded window of background calls for one put (S3 parts, RBD writes).

A put hands each full buffer to ``Window.submit``; at most ``limit`` of them are in flight, so
the memory a put holds is at most ``limit`` buffers being sent plus the one being filled. The
first failure is raised by the next ``submit`` or ``drain``. ``abandon`` (on failure or
cancellation) waits until every call has really finished, even while the caller is being
cancelled again, so the put's cleanup (abort the multipart upload, close and remove the image)
never races a call still running on a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any


class Window:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"at least one call in flight, not {limit}")
        self.limit = limit
        self._tasks: set[asyncio.Task] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def _reap(self, done: set[asyncio.Task]) -> None:
        self._tasks -= done
        # Every finished call's error is retrieved (no "never retrieved" warnings); the first
        # one is raised.
        errors = [task.exception() for task in done if not task.cancelled()]
        for error in errors:
            if error is not None:
                raise error
        for task in done:
            if task.cancelled():
                raise asyncio.CancelledError

    async def submit(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Start ``fn(*args)`` as a task; first wait for a free slot (raising the error of a
        failed call)."""
        self._reap({t for t in self._tasks if t.done()})
        while len(self._tasks) >= self.limit:
            done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
            self._reap(done)
        self._tasks.add(asyncio.ensure_future(fn(*args)))

    async def drain(self) -> None:
        """Wait for every call; raise the first failure."""
        while self._tasks:
            done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
            self._reap(done)

    async def abandon(self) -> None:
        """Cancel what is in flight and wait until all of it has finished; errors are dropped.

        The calls run through ``BlockingIO.run``, whose thread finishes before its task ends, so
        when this returns no worker thread is still touching the upload or the image."""
        tasks, self._tasks = self._tasks, set()
        await settle(tasks)


async def settle(tasks: Iterable[asyncio.Future]) -> None:
    """Cancel ``tasks`` and wait until every one has finished, even if the caller is cancelled
    again meanwhile; their errors are dropped."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    while not all(t.done() for t in tasks):
        try:
            await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))
        except asyncio.CancelledError:
            # Cancelled again while cleaning up: keep waiting. The caller is already unwinding
            # (it re-raises its own error or cancellation after its cleanup).
            continue
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" warnings
