"""The store interface: small enough for one screen.

A store keeps opaque objects under string keys. ``put`` is all-or-nothing: when the source
iterator raises, is cancelled, or yields a different number of bytes than announced, no object
is left under the key (and no temporary debris either). Everything above bytes (hashing, quota,
inspection, tenants) is a stream wrapper composed in services, never here.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


class StoreError(Exception):
    """Base of every error a store raises; services map these to domain errors, which wire/errors maps to HTTP codes."""


class StoreNotFound(StoreError):
    """No object under that key."""


class StoreFull(StoreError):
    """Out of space (disk full, quota of the backend)."""


class StoreUnavailable(StoreError):
    """The backend cannot be reached or refuses service right now (maps to 503)."""


class StoreSizeMismatch(StoreError):
    """The source yielded more or fewer bytes than the announced size."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"expected {expected} bytes, received {actual}")
        self.expected = expected
        self.actual = actual


class StoreInUse(StoreError):
    """The object cannot be deleted because something depends on it (e.g. RBD clones)."""


@dataclass(frozen=True)
class Capabilities:
    # False for stores that only serve data they do not own (http): put refuses, nothing is
    # uploaded, imported or copied there, and their locations' data is never deleted.
    writable: bool = True
    ranged_reads: bool = True
    server_side_copy: bool = False
    cow_clone: bool = False
    sparse_writes: bool = False
    presigned_urls: bool = False
    # A local path can be handed to sendfile / qemu-img without copying.
    local_path: bool = False


@dataclass(frozen=True)
class Stored:
    key: str
    size: int
    # Extra facts a consumer may need, e.g. {"url": "rbd://fsid/pool/img/snap"}.
    metadata: dict[str, str] = field(default_factory=dict)


class ObjectReader(abc.ABC):
    """An open object: ``size`` is the full object size; iterate for the (ranged) bytes."""

    size: int
    # The byte range [start, end) being read; equals (0, size) for a whole read.
    start: int
    end: int

    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release resources early (called when a client disconnects)."""

    def local_path(self) -> str | None:
        """A filesystem path holding the whole object, when the store has one (zero-copy)."""
        return None


class Store(abc.ABC):
    """One backend. ``id`` is the operator's name for it (e.g. 'local', 'ceph')."""

    id: str
    type: str  # 'file', 'rbd', 's3'
    capabilities: Capabilities = Capabilities()

    @abc.abstractmethod
    async def put(self, key: str, chunks: AsyncIterator[bytes], size: int | None = None) -> Stored:
        """Write all of ``chunks`` under ``key``, atomically. Overwriting an existing key is an error."""

    @abc.abstractmethod
    async def open(self, key: str, byte_range: tuple[int, int] | None = None) -> ObjectReader:
        """Open for reading; ``byte_range`` is [start, end) and must lie within the object."""

    @abc.abstractmethod
    async def stat(self, key: str) -> int:
        """Size of the object, or StoreNotFound."""

    @abc.abstractmethod
    async def delete(self, key: str, missing_ok: bool = False) -> None:
        """Remove the object. A missing key raises StoreNotFound, or returns quietly with
        ``missing_ok`` (clean-up paths, where the object may be gone already)."""

    async def discard_partial(self, key: str) -> None:  # noqa: B027 - most stores leave no partials
        """Remove what a writer killed mid-put left under ``key`` (an unfinished multipart upload, an
        RBD image without its snapshot). Only call it while holding the right to write ``key``."""

    async def in_use(self, key: str) -> str | None:
        """Why the object cannot be deleted now (e.g. copy-on-write clones), or None."""
        return None

    async def check(self) -> None:  # noqa: B027 - default: nothing to verify
        """Verify the backend is reachable and writable; raise StoreUnavailable saying what is wrong."""

    async def list_keys(self) -> list[str]:
        """Every key held (used by the conformance suite's leak check and by orphan reaping)."""
        raise NotImplementedError

    async def close(self) -> None:  # noqa: B027
        """Release connections."""

    def location_url(self, key: str) -> str:
        """The URL recorded in the image's locations (no secrets)."""
        return f"{self.type}://{self.id}/{key}"
