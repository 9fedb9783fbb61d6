"""A small HTTP/1.1 GET client for web-download that connects only to vetted addresses.

Why not httpx: it resolves host names itself, so the address that was checked is not
necessarily the address it connects to. Here every hop goes through ``check_url`` (one
resolution, every address vetted), then a TCP connection is opened to the vetted IP;
for https the TLS handshake still verifies the certificate against the URL's host name
(``server_hostname``). Redirects (301/302/303/307/308) are followed by hand, each
Location re-checked, at most ``max_redirects`` of them.

Each request uses its own connection (``Connection: close``). Bodies may be delimited by
Content-Length, chunked transfer coding, or the end of the connection. The size cap,
connect and idle timeouts, and the Content-Length/actual-length check are enforced here;
every call to ``open_url`` writes one line to the ``daguerre.audit`` logger.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urljoin

from daguerre.fetch.filter import CheckedURL, URLRefused, check_url, redact_url
from daguerre.fetch.resolver import Resolver, SystemResolver
from daguerre.settings import ImportFilteringSection

audit_log = logging.getLogger("daguerre.audit")
log = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
_READ_SIZE = 256 * 1024
_MAX_LINE = 64 * 1024
MAX_HEADERS = 100
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
USER_AGENT = "daguerre-web-download/0.1"

# The one place a TCP connection is opened; tests instrument it.
_open_connection = asyncio.open_connection


class FetchError(Exception):
    """The download failed: network error, timeout, bad status, size cap, length mismatch."""


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int
    connect_timeout: float = 10
    idle_timeout: float = 30
    max_redirects: int = 10

    @classmethod
    def from_section(cls, section: ImportFilteringSection, image_size_cap: int) -> FetchLimits:
        """``[import_filtering_opts]``'s limits (max_download_size 0: the image size cap)."""
        return cls(max_bytes=section.max_download_size or image_size_cap,
                   connect_timeout=section.connect_timeout, idle_timeout=section.idle_timeout)  # fmt: skip


@dataclass(frozen=True)
class AuditInfo:
    """Who asked for the download, for the audit line."""

    user: str | None = None
    project: str | None = None
    image: str | None = None
    request_id: str | None = None


class Response:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str) -> None:
        self.reader = reader
        self.writer = writer
        self.address = address
        self.status = 0
        self.reason = ""
        self.headers: list[tuple[str, str]] = []

    def header(self, name: str) -> str | None:
        values = [v for n, v in self.headers if n == name]
        return ", ".join(values) if values else None

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001 - closing a broken transport may fail in any way; nothing to do
            pass

    async def aclose(self) -> None:
        self.close()
        try:
            async with asyncio.timeout(1.0):
                await self.writer.wait_closed()
        except (TimeoutError, OSError, ssl.SSLError):
            pass


class Download:
    """An open download. ``async for chunk in download.chunks()`` reads the body once."""

    def __init__(
        self, response: Response, checked: CheckedURL, limits: FetchLimits, redirects: list[str]
    ) -> None:
        self._response = response
        self._limits = limits
        self.final_url = checked.url
        self.address = response.address
        self.status = response.status
        self.headers = list(response.headers)
        self.redirects = tuple(redirects)
        self.size: int | None = None
        self.bytes_read = 0
        self.completed = False
        self._started = False
        self._chunked = False
        self._until_close = False
        self._setup_framing()

    def _setup_framing(self) -> None:
        response = self._response
        te = response.header("transfer-encoding")
        if te is not None:
            codings = [c.strip().lower() for c in te.split(",") if c.strip()]
            if codings and codings[-1] == "chunked":
                if any(c not in ("chunked", "identity") for c in codings):
                    raise FetchError(f"unsupported Transfer-Encoding {te!r}")
                self._chunked = True
            elif all(c == "identity" for c in codings):
                self._until_close = True
            else:
                raise FetchError(f"unsupported Transfer-Encoding {te!r}")
            return  # Content-Length is ignored when Transfer-Encoding is present
        cl = response.header("content-length")
        if cl is None:
            self._until_close = True
            return
        values = {v.strip() for v in cl.split(",")}
        if len(values) != 1 or not (value := values.pop()).isdigit():
            raise FetchError(f"invalid Content-Length {cl!r}")
        self.size = int(value)
        if self.size > self._limits.max_bytes:
            raise FetchError(
                f"image is too large: Content-Length {self.size} exceeds the limit of {self._limits.max_bytes} bytes"
            )

    async def _read(self, n: int) -> bytes:
        try:
            async with asyncio.timeout(self._limits.idle_timeout):
                return await self._response.reader.read(n)
        except TimeoutError:
            raise FetchError(f"no data received for {self._limits.idle_timeout:g} s (idle timeout)") from None
        except (OSError, ssl.SSLError) as exc:
            raise FetchError(f"connection error while reading the body: {exc}") from None

    async def _readline(self) -> bytes:
        return await read_line(self._response.reader, self._limits.idle_timeout)

    async def _pieces(self) -> AsyncIterator[bytes]:
        if self._chunked:
            while True:
                line = await self._readline()
                size_text = line.split(b";", 1)[0].strip()
                try:
                    if not size_text or len(size_text) > 16:
                        raise ValueError
                    remaining = int(size_text, 16)
                except ValueError:
                    raise FetchError(f"malformed chunk size line {line[:40]!r}") from None
                if remaining == 0:
                    while (await self._readline()).strip():  # trailers
                        pass
                    return
                while remaining:
                    data = await self._read(min(remaining, _READ_SIZE))
                    if not data:
                        raise FetchError("connection closed in the middle of a chunk (truncated body)")
                    remaining -= len(data)
                    yield data
                if (await self._readline()).strip():
                    raise FetchError("malformed chunked body (missing CRLF after chunk)")
        elif self._until_close:
            while data := await self._read(_READ_SIZE):
                yield data
        else:
            assert self.size is not None
            remaining = self.size
            while remaining:
                data = await self._read(min(remaining, _READ_SIZE))
                if not data:
                    raise FetchError(
                        f"length mismatch: Content-Length is {self.size} but the connection closed "
                        f"after {self.size - remaining} bytes"
                    )
                remaining -= len(data)
                yield data
            # More body than announced? Look for it briefly (the server was asked to close).
            try:
                async with asyncio.timeout(min(self._limits.idle_timeout, 2.0)):
                    extra = await self._response.reader.read(1)
            except (TimeoutError, OSError, ssl.SSLError):
                extra = b""
            if extra:
                raise FetchError(
                    f"length mismatch: the server sent more than its Content-Length of {self.size}"
                )

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """Yield the body in pieces of about CHUNK_SIZE bytes.

        Raises FetchError if the size cap is exceeded (before yielding the excess), on an
        idle timeout, or if the body length does not match Content-Length.
        """
        if self._started:
            raise RuntimeError("the body of a download can be read only once")
        self._started = True
        buffer = bytearray()
        async for data in self._pieces():
            self.bytes_read += len(data)
            if self.bytes_read > self._limits.max_bytes:
                raise FetchError(f"image is too large: more than {self._limits.max_bytes} bytes")
            buffer += data
            if len(buffer) >= CHUNK_SIZE:
                chunk = bytes(buffer)
                buffer.clear()
                yield chunk
        if self.size is not None and self.bytes_read != self.size:  # pragma: no cover - caught above
            raise FetchError(f"length mismatch: expected {self.size} bytes, got {self.bytes_read}")
        if buffer:
            yield bytes(buffer)
        self.completed = True


async def read_line(reader: asyncio.StreamReader, idle_timeout: float) -> bytes:
    try:
        async with asyncio.timeout(idle_timeout):
            line = await reader.readuntil(b"\n")
    except TimeoutError:
        raise FetchError(f"no data received for {idle_timeout:g} s (idle timeout)") from None
    except asyncio.IncompleteReadError:
        raise FetchError("connection closed unexpectedly") from None
    except asyncio.LimitOverrunError:
        raise FetchError("response line too long") from None
    except (OSError, ssl.SSLError) as exc:
        raise FetchError(f"connection error: {exc}") from None
    return line


def _default_ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()


async def connect(
    checked: CheckedURL, limits: FetchLimits, ssl_context: ssl.SSLContext | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str]:
    tls = None
    if checked.scheme == "https":
        tls = ssl_context or _default_ssl_context()
    errors = []
    for address in checked.addresses:
        try:
            async with asyncio.timeout(limits.connect_timeout):
                reader, writer = await _open_connection(
                    address,
                    checked.port,
                    ssl=tls,
                    server_hostname=checked.host if tls else None,
                    limit=_MAX_LINE,
                )
            return reader, writer, address
        except TimeoutError:
            errors.append(f"{address}: connect timed out after {limits.connect_timeout:g} s")
        except ssl.SSLCertVerificationError as exc:
            errors.append(f"{address}: TLS certificate verification failed ({exc.verify_message})")
        except (OSError, ssl.SSLError) as exc:
            errors.append(f"{address}: {exc.strerror or exc}")
    raise FetchError(f"could not connect to {checked.host}:{checked.port}: " + "; ".join(errors))


async def _request(checked: CheckedURL, limits: FetchLimits, ssl_context: ssl.SSLContext | None) -> Response:
    reader, writer, address = await connect(checked, limits, ssl_context)
    response = Response(reader, writer, address)
    try:
        request = (
            f"GET {checked.target} HTTP/1.1\r\n"
            f"Host: {checked.host_header}\r\n"
            f"User-Agent: {USER_AGENT}\r\n"
            "Accept: */*\r\n"
            "Accept-Encoding: identity\r\n"
            "Connection: close\r\n\r\n"
        )
        writer.write(request.encode("ascii"))
        try:
            async with asyncio.timeout(limits.idle_timeout):
                await writer.drain()
        except TimeoutError:
            raise FetchError(f"sending the request timed out after {limits.idle_timeout:g} s") from None
        except (OSError, ssl.SSLError) as exc:
            raise FetchError(f"connection error while sending the request: {exc}") from None
        while True:
            status_line = await read_line(reader, limits.idle_timeout)
            parts = status_line.decode("latin-1").rstrip("\r\n").split(" ", 2)
            if (
                len(parts) < 2
                or not parts[0].startswith("HTTP/1.")
                or not (parts[1].isdigit() and len(parts[1]) == 3)
            ):
                raise FetchError(f"malformed HTTP status line {status_line[:80]!r}")
            status = int(parts[1])
            headers: list[tuple[str, str]] = []
            while True:
                line = await read_line(reader, limits.idle_timeout)
                if line in (b"\r\n", b"\n"):
                    break
                if len(headers) >= MAX_HEADERS:
                    raise FetchError("too many response headers")
                if line[:1] in (b" ", b"\t"):
                    raise FetchError("obsolete header line folding is not supported")
                name, sep, value = line.decode("latin-1").partition(":")
                if not sep or not name or name != name.strip():
                    raise FetchError(f"malformed response header {line[:80]!r}")
                headers.append((name.lower(), value.strip()))
            if 100 <= status < 200 and status != 101:
                continue  # interim response
            response.status = status
            response.reason = parts[2] if len(parts) > 2 else ""
            response.headers = headers
            return response
    except BaseException:
        response.close()
        raise


def write_audit(
    audit: AuditInfo | None, url: str, address: str | None, outcome: str, redirects: list[str], nbytes: int
) -> None:
    fields = {
        "user": audit.user if audit else None,
        "project": audit.project if audit else None,
        "image": audit.image if audit else None,
        "request_id": audit.request_id if audit else None,
        "url": redact_url(url),
        "address": address,
        "redirects": [redact_url(u) for u in redirects],
        "bytes": nbytes,
        "outcome": outcome,
    }
    text = " ".join(f"{k}={json.dumps(v)}" for k, v in fields.items())
    level = logging.INFO if outcome == "ok" else logging.WARNING
    audit_log.log(level, "web-download %s", text, extra={"audit": fields})


@asynccontextmanager
async def open_url(
    url: str,
    opts: ImportFilteringSection,
    limits: FetchLimits,
    resolver: Resolver | None = None,
    audit: AuditInfo | None = None,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[Download]:
    """Open *url* for download, following (and re-checking) redirects.

    Raises URLRefused when the URL or a redirect target does not pass filtering (no
    connection is made to it), FetchError for every other failure. The body must be read
    with ``download.chunks()`` inside the ``async with`` block; the download counts as
    successful only if the whole body was read.
    """
    resolver = resolver or SystemResolver()
    current = url
    redirects: list[str] = []
    address: str | None = None
    download: Download | None = None
    response: Response | None = None
    outcome = "error"
    try:
        while True:
            checked = await check_url(current, opts, resolver)
            response = await _request(checked, limits, ssl_context)
            address = response.address
            if response.status in REDIRECT_STATUSES:
                location = response.header("location")
                await response.aclose()
                response = None
                if not location:
                    raise FetchError("redirect without a Location header")
                if len(redirects) >= limits.max_redirects:
                    raise FetchError(f"too many redirects (more than {limits.max_redirects})")
                current = urljoin(checked.url, location.strip())
                redirects.append(current)
                continue
            if response.status != 200:
                raise FetchError(f"the server answered {response.status} {response.reason}".rstrip())
            download = Download(response, checked, limits, redirects)
            break
        yield download
        outcome = "ok" if download.completed else "incomplete (body not fully read)"
    except URLRefused as exc:
        outcome = f"refused: {exc.reason}"
        address = exc.address or address
        raise
    except FetchError as exc:
        outcome = f"failed: {exc}"
        raise
    except BaseException as exc:
        outcome = f"aborted: {type(exc).__name__}: {exc}"
        raise
    finally:
        if response is not None:
            await response.aclose()
        write_audit(audit, url, address, outcome, redirects, download.bytes_read if download else 0)
