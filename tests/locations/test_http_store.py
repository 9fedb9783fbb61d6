"""The read-only http store on its own: filtered, ranged, read-only."""

from __future__ import annotations

import pytest
from location_helpers import DATA, WebServer

from daguerre.fetch.client import FetchLimits
from daguerre.settings import ImportFilteringSection
from daguerre.stores.base import StoreNotFound, StoreUnavailable
from daguerre.stores.http import HttpStore, StoreReadOnly, StoreURLRefused


@pytest.fixture
def store(web: WebServer) -> HttpStore:
    opts = ImportFilteringSection(allowed_hosts=("127.0.0.1",), allowed_ports=(web.port,))
    return HttpStore("web", opts, FetchLimits(max_bytes=64 * 2**20, idle_timeout=5))


async def read(store: HttpStore, url: str, byte_range: tuple[int, int] | None = None) -> tuple[bytes, int]:
    reader = await store.open(url, byte_range)
    out = b"".join([c async for c in reader])
    return out, reader.size


async def test_whole_and_ranged_reads(store: HttpStore, web: WebServer) -> None:
    for path in ("/image.raw", "/norange.raw"):  # 206 from the server, or cut out of a 200
        url = web.url(path)
        assert await read(store, url) == (DATA, len(DATA))
        assert await read(store, url, (5, 1_500_000)) == (DATA[5:1_500_000], len(DATA))
        assert await read(store, url, (len(DATA) - 1, len(DATA))) == (DATA[-1:], len(DATA))
        assert await store.stat(url) == len(DATA)


async def test_size_without_head(store: HttpStore, web: WebServer) -> None:
    assert await store.stat(web.url("/nohead.raw")) == len(DATA)


async def test_early_close_releases_the_connection(store: HttpStore, web: WebServer) -> None:
    reader = await store.open(web.url("/image.raw"))
    async for _chunk in reader:
        break
    await reader.aclose()


async def test_refusals_and_errors(store: HttpStore, web: WebServer) -> None:
    with pytest.raises(StoreURLRefused):
        await store.stat("http://127.0.0.1:1/image.raw")  # port not allowed
    with pytest.raises(StoreURLRefused):
        await store.stat("ftp://127.0.0.1/x")
    with pytest.raises(StoreURLRefused):
        await store.open(web.url("/redirect-out"))  # the redirect target is filtered too
    with pytest.raises(StoreNotFound):
        await store.open(web.url("/missing"))
    with pytest.raises(StoreUnavailable):
        await store.open(web.url("/flaky/1/store-test.raw"))  # 503
    with pytest.raises(StoreUnavailable):
        await store.open(web.url("/norange.raw"), (0, len(DATA) + 10))  # beyond the end


async def test_read_only(store: HttpStore, web: WebServer) -> None:
    async def chunks():
        yield b"x"

    with pytest.raises(StoreReadOnly):
        await store.put("k", chunks(), 1)
    await store.delete(web.url("/image.raw"))  # nothing happens: the data is not ours
    assert await store.stat(web.url("/image.raw")) == len(DATA)
    with pytest.raises(StoreNotFound):  # a URL the server does not have, as for every store
        await store.delete(web.url("/missing"))
    await store.delete(web.url("/missing"), missing_ok=True)
    assert store.location_url(web.url("/image.raw")) == web.url("/image.raw")
    assert not store.capabilities.writable and store.type == "http"
