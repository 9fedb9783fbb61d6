"""A read-only store for data that lives on web servers (Glance's ``http`` store type).

The key of an object is its URL, and so is its location URL. Every request goes through the
SSRF-hardened fetcher's checks (``[import_filtering_opts]``, one resolution, vetted addresses,
redirects re-checked), so an http location can only point where a web-download could.

* ``open`` streams the URL; a byte range is asked for with a ``Range`` header and, when the
  server ignores it (200 instead of 206), cut out of the full body.
* ``stat`` is a ``HEAD`` (Content-Length), falling back to a one-byte ranged ``GET``.
* ``put`` refuses (StoreReadOnly); ``delete`` removes nothing: the data is not ours.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from urllib.parse import urljoin, urlsplit

from daguerre.fetch import client as fetch
from daguerre.fetch.client import AuditInfo, Download, FetchError, FetchLimits
from daguerre.fetch.filter import CheckedURL, URLRefused, check_url
from daguerre.fetch.resolver import Resolver, SystemResolver
from daguerre.settings import ImportFilteringSection
from daguerre.stores.base import (
    Capabilities,
    ObjectReader,
    Store,
    Stored,
    StoreError,
    StoreNotFound,
    StoreUnavailable,
)

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)


class StoreReadOnly(StoreError):
    """The store does not accept writes (Glance's StoreAddDisabled)."""


class StoreURLRefused(StoreError):
    """The URL does not pass ``[import_filtering_opts]`` (or is not an http(s) URL)."""


class HttpReader(ObjectReader):
    def __init__(
        self,
        url: str,
        size: int,
        start: int,
        end: int,
        body: AsyncGenerator[bytes, None],
        skip: int,
        close: Callable[[], Awaitable[None]],
    ) -> None:
        self.url = url
        self.size = size
        self.start = start
        self.end = end
        self._body = body
        self._skip = skip  # bytes to drop first (the server ignored the Range header)
        self._close: Callable[[], Awaitable[None]] | None = close

    async def __aiter__(self) -> AsyncIterator[bytes]:
        skip, remaining = self._skip, self.end - self.start
        try:
            async for chunk in self._body:
                if skip:
                    if len(chunk) <= skip:
                        skip -= len(chunk)
                        continue
                    chunk = chunk[skip:]
                    skip = 0
                if len(chunk) >= remaining:
                    if remaining:
                        yield chunk[:remaining]
                    remaining = 0
                    break
                remaining -= len(chunk)
                yield chunk
        except FetchError as exc:
            raise StoreUnavailable(f"reading {self.url}: {exc}") from exc
        finally:
            await self.aclose()
        if remaining:
            raise StoreUnavailable(f"reading {self.url}: the body ended {remaining} bytes early")

    async def aclose(self) -> None:
        close, self._close = self._close, None
        if close is not None:
            await close()
            await self._body.aclose()


class HttpStore(Store):
    type = "http"
    capabilities = Capabilities(writable=False, ranged_reads=True)

    def __init__(self, id: str, opts: ImportFilteringSection, limits: FetchLimits, *,
                 resolver: Resolver | None = None, ssl_context: ssl.SSLContext | None = None) -> None:  # fmt: skip
        self.id = id
        self.opts = opts
        self.limits = limits
        self.resolver = resolver or SystemResolver()
        self.ssl_context = ssl_context

    def location_url(self, key: str) -> str:
        return key

    @staticmethod
    def handles(url: str) -> bool:
        return urlsplit(url).scheme.lower() in ("http", "https")

    async def check_url(self, url: str) -> CheckedURL:
        """The filter alone (no connection): StoreURLRefused when the URL may not be fetched."""
        if not self.handles(url):
            raise StoreURLRefused(f"not an http(s) URL: {url}")
        try:
            return await check_url(url, self.opts, self.resolver)
        except URLRefused as exc:
            raise StoreURLRefused(str(exc)) from None

    async def put(self, key: str, chunks: AsyncIterator[bytes], size: int | None = None) -> Stored:
        raise StoreReadOnly(f"store {self.id} is read-only (http)")

    async def delete(self, key: str, missing_ok: bool = False) -> None:
        """Nothing is removed: the data belongs to the web server. Without ``missing_ok`` a URL
        the server does not have (404, 410) is StoreNotFound, as for every store."""
        if not missing_ok:
            await self.stat(key)

    async def list_keys(self) -> list[str]:
        return []

    async def stat(self, key: str) -> int:
        try:
            response, checked = await self._request(key, "HEAD")
        except StoreURLRefused:
            raise
        except StoreUnavailable:
            length = None  # some servers refuse HEAD (405/501): ask for one byte instead
        else:
            try:
                length = response.header("content-length")
            finally:
                await response.aclose()
        if length is not None and length.strip().isdigit():
            return int(length.strip())
        reader = await self.open(key, (0, 1))
        await reader.aclose()
        return reader.size

    async def open(self, key: str, byte_range: tuple[int, int] | None = None) -> ObjectReader:
        headers = {}
        if byte_range is not None:
            headers["Range"] = f"bytes={byte_range[0]}-{byte_range[1] - 1}"
        response, checked = await self._request(key, "GET", headers)
        try:
            download = Download(response, checked, self.limits, [])
            if response.status == 206:
                m = _CONTENT_RANGE.fullmatch((response.header("content-range") or "").strip())
                if m is None or byte_range is None or (int(m[1]), int(m[2]) + 1) != byte_range or m[3] == "*":
                    raise StoreUnavailable(
                        f"{key}: unusable Content-Range {response.header('content-range')!r}"
                    )
                size, start, end, skip = int(m[3]), byte_range[0], byte_range[1], 0
            else:
                if download.size is None:
                    raise StoreUnavailable(f"{key}: the server sent no Content-Length")
                size = download.size
                start, end = byte_range if byte_range is not None else (0, size)
                if end > size:
                    raise StoreUnavailable(f"{key}: range {start}-{end} beyond the object's {size} bytes")
                skip = start
        except FetchError as exc:
            await response.aclose()
            raise StoreUnavailable(f"{key}: {exc}") from exc
        except BaseException:
            await response.aclose()
            raise
        return HttpReader(key, size, start, end, download.chunks(), skip, response.aclose)

    async def _request(self, url: str, method: str, headers: dict[str, str] | None = None):  # noqa: ANN202
        """Send one request, following redirects (each target re-checked); 200/206 or an error."""
        current, redirects = url, list[str]()
        outcome, address = "error", None
        try:
            while True:
                checked = await self.check_url(current)
                response = await _send(checked, self.limits, method, headers or {}, self.ssl_context)
                address = response.address
                if response.status in fetch.REDIRECT_STATUSES:
                    location = response.header("location")
                    await response.aclose()
                    if not location or len(redirects) >= self.limits.max_redirects:
                        raise StoreUnavailable(f"{url}: bad or too many redirects")
                    current = urljoin(checked.url, location.strip())
                    redirects.append(current)
                    continue
                if response.status == 404 or response.status == 410:
                    await response.aclose()
                    raise StoreNotFound(f"{url}: the server answered {response.status}")
                if response.status not in (200, 206):
                    await response.aclose()
                    raise StoreUnavailable(
                        f"{url}: the server answered {response.status} {response.reason}".rstrip()
                    )
                outcome = "ok"
                return response, checked
        except FetchError as exc:
            outcome = f"failed: {exc}"
            raise StoreUnavailable(f"{url}: {exc}") from exc
        except StoreError as exc:
            outcome = f"failed: {exc}"
            raise
        finally:
            fetch.write_audit(
                AuditInfo(request_id=f"http-store {self.id} {method}"), url, address, outcome, redirects, 0
            )


async def _send(checked: CheckedURL, limits: FetchLimits, method: str, headers: dict[str, str],
                ssl_context: ssl.SSLContext | None) -> fetch.Response:  # fmt: skip
    """fetch.client's request with a method and extra headers (the connection goes to a vetted address)."""
    reader, writer, address = await fetch.connect(checked, limits, ssl_context)
    response = fetch.Response(reader, writer, address)
    try:
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        request = (f"{method} {checked.target} HTTP/1.1\r\nHost: {checked.host_header}\r\n"
                   f"User-Agent: {fetch.USER_AGENT}\r\nAccept: */*\r\nAccept-Encoding: identity\r\n{extra}"
                   "Connection: close\r\n\r\n")  # fmt: skip
        writer.write(request.encode("ascii"))
        try:
            async with asyncio.timeout(limits.idle_timeout):
                await writer.drain()
        except (TimeoutError, OSError, ssl.SSLError) as exc:
            raise FetchError(f"sending the request failed: {exc}") from None
        while True:
            line = (await fetch.read_line(reader, limits.idle_timeout)).decode("latin-1").rstrip("\r\n")
            parts = line.split(" ", 2)
            if (
                len(parts) < 2
                or not parts[0].startswith("HTTP/1.")
                or not (parts[1].isdigit() and len(parts[1]) == 3)
            ):
                raise FetchError(f"malformed HTTP status line {line[:80]!r}")
            status, fields = int(parts[1]), list[tuple[str, str]]()
            while True:
                raw = await fetch.read_line(reader, limits.idle_timeout)
                if raw in (b"\r\n", b"\n"):
                    break
                if len(fields) >= fetch.MAX_HEADERS:
                    raise FetchError("too many response headers")
                name, sep, value = raw.decode("latin-1").partition(":")
                if not sep or not name or name != name.strip():
                    raise FetchError(f"malformed response header {raw[:80]!r}")
                fields.append((name.lower(), value.strip()))
            if 100 <= status < 200:
                continue
            response.status, response.reason, response.headers = (
                status,
                parts[2] if len(parts) > 2 else "",
                fields,
            )
            if method == "HEAD":
                # No body follows a HEAD answer whatever its headers say.
                response.headers = [(n, v) for n, v in fields if n != "transfer-encoding"]
            return response
    except BaseException:
        response.close()
        raise
