"""Formats qemu would probe but nobody should upload: bochs, cloop, dmg.

They have no disk_format of their own in the Images API, so they are
recognised only so that a raw (or any) claim with such bytes is refused."""

from __future__ import annotations

from .base import Probe
from .model import Finding, SafetyPolicy
from .stream import StreamState

BOCHS = b"Bochs Virtual HD Image\0"
CLOOP = b"#!/bin/sh\n#V2.0 Format\n"
KOLY = b"koly"


def match_head(head: bytes) -> str | None:
    if head[:23] == BOCHS:
        return "bochs"
    if head[: len(CLOOP)] == CLOOP:
        return "cloop"
    return None


def match_tail(tail: bytes, size: int) -> bool:
    return size >= 512 and len(tail) >= 512 and tail[-512:-508] == KOLY


class OtherProbe(Probe):
    name = "other"

    def finish(self, st: StreamState, policy: SafetyPolicy) -> Finding | None:
        name = match_head(bytes(st.head[:64]))
        if name is None and match_tail(st.tail(), st.size):
            name = "dmg"
        if name is None:
            return None
        f = Finding(name)
        f.fail("unsupported_format", f"{name} images are not accepted")
        return f
