"""A store seen through a key prefix: lets staging share a backend with image data.

With several hosts, staged data must not live on one host's disk: `[DEFAULT] staging_backend`
names a shared store (RBD, S3, a shared filesystem) and staging uses it under ``staging-<id>``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from daguerre.stores.base import ObjectReader, Store, Stored


class PrefixedStore(Store):
    def __init__(self, inner: Store, prefix: str, id: str) -> None:
        self.inner = inner
        self.prefix = prefix
        self.id = id
        self.type = inner.type
        self.capabilities = inner.capabilities

    async def put(self, key: str, chunks: AsyncIterator[bytes], size: int | None = None) -> Stored:
        stored = await self.inner.put(self.prefix + key, chunks, size)
        return Stored(key, stored.size, stored.metadata)

    async def open(self, key: str, byte_range: tuple[int, int] | None = None) -> ObjectReader:
        return await self.inner.open(self.prefix + key, byte_range)

    async def stat(self, key: str) -> int:
        return await self.inner.stat(self.prefix + key)

    async def delete(self, key: str, missing_ok: bool = False) -> None:
        await self.inner.delete(self.prefix + key, missing_ok)

    async def discard_partial(self, key: str) -> None:
        await self.inner.discard_partial(self.prefix + key)

    async def list_keys(self) -> list[str]:
        return [k[len(self.prefix) :] for k in await self.inner.list_keys() if k.startswith(self.prefix)]

    async def check(self) -> None:
        await self.inner.check()

    def location_url(self, key: str) -> str:
        return self.inner.location_url(self.prefix + key)
