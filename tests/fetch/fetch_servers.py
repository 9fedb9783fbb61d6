"""Loopback-only HTTP test servers and a connect recorder for the fetcher tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

Handler = Callable[[bytes, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class LocalServer:
    """A TCP listener on a loopback address that counts connections and records requests."""

    def __init__(self, handler: Handler | None, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.host = host
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self, ssl=None) -> LocalServer:
        self._server = await asyncio.start_server(self._handle, self.host, 0, ssl=ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        if task:
            self._tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.requests.append(head)
            if self.handler is not None:
                await self.handler(head, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            if task:
                self._tasks.discard(task)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await self._server.wait_closed()


def path_of(head: bytes) -> str:
    return head.split(b" ", 2)[1].decode()


async def respond(
    writer: asyncio.StreamWriter,
    body: bytes = b"",
    status: str = "200 OK",
    headers: dict[str, str] | None = None,
    content_length: int | None | bool = True,
) -> None:
    lines = [f"HTTP/1.1 {status}"]
    if content_length is True:
        lines.append(f"Content-Length: {len(body)}")
    elif isinstance(content_length, int) and content_length is not False:
        lines.append(f"Content-Length: {content_length}")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()


class ConnectRecorder:
    """Replaces the client's connect function; records every (host, port) it is asked for."""

    def __init__(self, real) -> None:
        self.real = real
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host, port, **kwargs):
        self.calls.append((host, port))
        if host not in ("127.0.0.1", "127.0.0.2", "::1"):
            raise AssertionError(f"test tried to connect to a non-test address {host}")
        return await self.real(host, port, **kwargs)
