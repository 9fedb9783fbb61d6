"""The one explicit adapter between async code and blocking libraries (files, librbd, boto3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")


class BlockingIO:
    """Runs blocking calls on worker threads, at most ``capacity`` at once for this owner."""

    def __init__(self, capacity: int = 32):
        self._limiter = anyio.CapacityLimiter(capacity)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)
