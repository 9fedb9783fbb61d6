"""Parallels / ploop images ("WithoutFreeSpace" or "WithouFreSpacExt")."""

from __future__ import annotations

from .base import Probe, le32, le64
from .model import Finding, SafetyPolicy
from .stream import StreamState

OLD_MAGIC = b"WithoutFreeSpace"
EXT_MAGIC = b"WithouFreSpacExt"
HEADER_VERSION = 2
INUSE_MAGIC = 0x746F6E59
INT_MAX = 2**31 - 1


def matches(head: bytes) -> bool:
    return head[:16] in (OLD_MAGIC, EXT_MAGIC)


class ParallelsProbe(Probe):
    name = "parallels"

    def finish(self, st: StreamState, policy: SafetyPolicy) -> Finding | None:
        head = bytes(st.head[:64])
        if not matches(head):
            return None
        f = Finding("parallels")
        if len(head) < 64:
            f.truncated("the parallels header")
            return f
        version = le32(head, 16)
        tracks = le32(head, 28)
        bat_entries = le32(head, 32)
        nb_sectors = le64(head, 36)
        inuse = le32(head, 44)
        data_off = le32(head, 48)
        if head[:16] == OLD_MAGIC:
            nb_sectors &= 0xFFFFFFFF
        f.virtual_size = nb_sectors * 512
        problems = []
        if version != HEADER_VERSION:
            problems.append(f"version {version} is not 2")
        if tracks == 0:
            problems.append("zero sectors per cluster")
        elif tracks > INT_MAX // 513:
            problems.append("cluster too big")
        if bat_entries > INT_MAX // 4:
            problems.append("catalog too large")
        if tracks and bat_entries * tracks < nb_sectors:
            problems.append("catalog too small for the disk size")
        if data_off and data_off * 512 < 64 + 4 * bat_entries:
            problems.append("data area overlaps the catalog")
        if problems:
            f.fail("parallels.header", "parallels header is invalid: " + "; ".join(problems))
            return f
        if inuse == INUSE_MAGIC:
            f.fail("parallels.dirty", "parallels image was not closed cleanly")
        if 64 + 4 * bat_entries > st.size:
            f.truncated("the parallels catalog")
        return f
