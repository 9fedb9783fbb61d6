"""Shared bits of the per-format inspectors (pure functions over bytes)."""

from __future__ import annotations

import struct

from .model import Finding, SafetyPolicy
from .stream import StreamState


class Probe:
    """One format's inspector. Sees the stream only through StreamState."""

    name = ""

    def schedule(self, st: StreamState, policy: SafetyPolicy) -> None:
        """Called once, when the head buffer is complete (or at EOF if sooner)."""

    def head_needed(self, head: bytes) -> int:
        """How many head bytes finish() will read (the head is trimmed to the
        largest need, at least MIN_HEAD, once it is complete)."""
        return 0

    def finish(self, st: StreamState, policy: SafetyPolicy) -> Finding | None:
        """Called at EOF: a Finding when the bytes are this format, else None."""
        raise NotImplementedError


def u8(b: bytes, off: int) -> int:
    return b[off]


def le16(b: bytes, off: int) -> int:
    return struct.unpack_from("<H", b, off)[0]


def le32(b: bytes, off: int) -> int:
    return struct.unpack_from("<I", b, off)[0]


def le64(b: bytes, off: int) -> int:
    return struct.unpack_from("<Q", b, off)[0]


def be16(b: bytes, off: int) -> int:
    return struct.unpack_from(">H", b, off)[0]


def be32(b: bytes, off: int) -> int:
    return struct.unpack_from(">I", b, off)[0]


def be64(b: bytes, off: int) -> int:
    return struct.unpack_from(">Q", b, off)[0]


def is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)
