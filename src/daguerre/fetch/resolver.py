"""Host name resolution for the web-download fetcher.

The fetcher resolves a name exactly once, vets every address it got, and then connects to
one of those addresses: there is no second lookup a DNS-rebinding server could answer
differently.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable, Mapping
from typing import Protocol


class ResolutionError(Exception):
    """The name did not resolve (or resolution timed out)."""


class Resolver(Protocol):
    async def resolve(self, host: str) -> list[str]:
        """Return the IP addresses (as strings) *host* resolves to; raise ResolutionError if none."""
        ...


class SystemResolver:
    """getaddrinfo in a worker thread.

    Like Glance, the name is looked up with a trailing dot, so that the C library never
    interprets a numeric-looking name (hex, octal, short forms) as an address and never
    applies a search domain.
    """

    def __init__(self, timeout: float = 10.0, trailing_dot: bool = True) -> None:
        self.timeout = timeout
        # Glance parity. With the dot, names found only in /etc/hosts may not resolve.
        self.trailing_dot = trailing_dot

    async def resolve(self, host: str) -> list[str]:
        name = host if host.endswith(".") or not self.trailing_dot else host + "."
        try:
            async with asyncio.timeout(self.timeout):
                infos = await asyncio.to_thread(
                    socket.getaddrinfo, name, None, socket.AF_UNSPEC, socket.SOCK_STREAM
                )
        except TimeoutError:
            raise ResolutionError(f"resolving {host!r} timed out") from None
        except (OSError, UnicodeError) as exc:
            raise ResolutionError(f"{host!r} does not resolve: {exc}") from None
        addresses: list[str] = []
        for family, _type, _proto, _canon, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            address = str(sockaddr[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise ResolutionError(f"{host!r} does not resolve to any IP address")
        return addresses


class StaticResolver:
    """A resolver answering from a table, for tests (and for pinning names in config).

    ``StaticResolver({"files.example": "10.0.0.5", "dual.example": ["192.0.2.1", "::1"]})``.
    Every lookup is recorded in ``lookups``.
    """

    def __init__(self, table: Mapping[str, str | Iterable[str]] | None = None) -> None:
        self._table: dict[str, list[str]] = {}
        for name, value in (table or {}).items():
            values = [value] if isinstance(value, str) else list(value)
            self._table[name.lower().rstrip(".")] = values
        self.lookups: list[str] = []

    async def resolve(self, host: str) -> list[str]:
        self.lookups.append(host)
        addresses = self._table.get(host.lower().rstrip("."))
        if not addresses:
            raise ResolutionError(f"{host!r} does not resolve")
        return list(addresses)
