"""The one explicit adapter between async code and blocking libraries (files, librbd, boto3)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")


class BlockingIO:
    """Runs blocking calls on worker threads, at most ``capacity`` at once for this owner."""

    def __init__(self, capacity: int = 32) -> None:
        self._limiter = anyio.CapacityLimiter(capacity)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        # Cancelling the awaiting task must not abandon the thread: callers clean up (close an fd,
        # remove a partial object) as soon as the cancellation reaches them, and that would race
        # the call still running. So wait for the call to finish, then let the cancellation go on.
        call = asyncio.ensure_future(anyio.to_thread.run_sync(fn, *args, limiter=self._limiter))
        try:
            return await asyncio.shield(call)
        except asyncio.CancelledError:
            while not call.done():
                try:
                    await asyncio.shield(call)
                except asyncio.CancelledError:
                    continue
                except BaseException:  # noqa: BLE001 - the call's own error no longer matters
                    break
            raise

    async def run_quietly(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Best-effort cleanup (abort an upload, remove a partial object): runs to the end even
        while the caller is being cancelled, and never masks the caller's own error."""
        try:
            await self.run(lambda: fn(*args, **kwargs))
        except Exception:  # noqa: BLE001 - the original error is the one that matters
            pass
