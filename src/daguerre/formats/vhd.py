"""VHD ("vpc" in qemu): 512-byte big-endian footer; dynamic disks also carry a
copy at offset 0 and a 1 KiB dynamic header; fixed disks only have the footer
at EOF."""

from __future__ import annotations

from .base import Probe, be16, be32, be64, is_pow2
from .model import Finding, SafetyPolicy
from .stream import StreamState

COOKIE = b"conectix"
DYN_COOKIE = b"cxsparse"
FIXED, DYNAMIC, DIFFERENCING = 2, 3, 4
TYPES = {FIXED: "fixed", DYNAMIC: "dynamic", DIFFERENCING: "differencing"}
MAX_GEOMETRY = 65535 * 16 * 255
MAX_SECTORS = 0xFF000000  # 2040 GiB
SIZE_CREATORS = (b"win ", b"qem2", b"d2v ", b"CTXS", b"tap\x00")


def checksum(block: bytes, field: int) -> int:
    zeroed = block[:field] + b"\0\0\0\0" + block[field + 4 :]
    return ~sum(zeroed) & 0xFFFFFFFF


def virtual_size(footer: bytes) -> int:
    """qemu's rule: CHS geometry unless the creator is Hyper-V-like or CHS is maxed."""
    chs = be16(footer, 56) * footer[58] * footer[59]
    if footer[28:32] in SIZE_CREATORS or chs == MAX_GEOMETRY:
        return be64(footer, 48) // 512 * 512
    return chs * 512


def matches_head(head: bytes) -> bool:
    return head[:8] == COOKIE


def matches_tail(tail: bytes) -> bool:
    return len(tail) >= 512 and tail[-512:-504] == COOKIE


class VhdProbe(Probe):
    name = "vhd"

    def head_needed(self, head: bytes) -> int:
        if matches_head(head) and len(head) >= 24:
            return min(be64(head, 16), 1 << 40) + 1024
        return 0

    def finish(self, st: StreamState, policy: SafetyPolicy) -> Finding | None:
        head = bytes(st.head[:512])
        tail = st.tail()[-512:]
        if matches_head(head):
            return self._dynamic(st, head)
        if st.size >= 1024 and matches_tail(tail):
            return self._fixed(st, tail)
        return None

    @staticmethod
    def _footer_common(f: Finding, footer: bytes) -> int | None:
        dtype = be32(footer, 60)
        f.facts["vhd_disk_type"] = TYPES.get(dtype, str(dtype))
        f.facts["vhd_creator"] = footer[28:32].decode("latin-1").rstrip("\0 ") or "?"
        if checksum(footer, 64) != be32(footer, 64):
            f.fail("vhd.checksum", "VHD footer checksum is wrong")
        size = virtual_size(footer)
        f.virtual_size = size
        if size // 512 > MAX_SECTORS:
            f.fail("vhd.geometry", "VHD disk size exceeds 2040 GiB")
        return dtype

    def _fixed(self, st: StreamState, footer: bytes) -> Finding:
        f = Finding("vhd", raw_payload=True)
        dtype = self._footer_common(f, footer)
        if dtype == DIFFERENCING:
            f.fail("vhd.differencing", "VHD is a differencing disk")
        elif dtype in (DYNAMIC,):
            f.truncated("the start of a dynamic VHD (only its trailing footer is present)")
        elif dtype != FIXED:
            f.fail("vhd.disk_type", f"VHD disk type {dtype} is not fixed or dynamic")
        elif f.virtual_size is not None and f.virtual_size > st.size - 512:
            f.truncated("the fixed VHD data")
        return f

    def _dynamic(self, st: StreamState, footer: bytes) -> Finding:
        f = Finding("vhd")
        if len(footer) < 512:
            f.truncated("the VHD footer")
            return f
        dtype = self._footer_common(f, footer)
        if dtype == DIFFERENCING:
            f.fail("vhd.differencing", "VHD is a differencing disk")
        elif dtype != DYNAMIC:
            f.fail("vhd.disk_type", f"VHD disk type {dtype} with a leading footer is not dynamic")
        size = st.size
        data_off = be64(footer, 16)
        dyn = st.read(data_off, 1024) if data_off < size else None
        if data_off + 1024 > size:
            f.truncated("the dynamic disk header")
            return f
        if dyn is None:
            f.fail("vhd.dynamic_header", "VHD dynamic header is not near the start of the file")
            return f
        if dyn[:8] != DYN_COOKIE:
            f.fail("vhd.dynamic_header", "VHD dynamic header has no cxsparse cookie")
            return f
        if checksum(dyn, 36) != be32(dyn, 36):
            f.fail("vhd.checksum", "VHD dynamic header checksum is wrong")
        bat_off = be64(dyn, 16)
        entries = be32(dyn, 28)
        block = be32(dyn, 32)
        if (
            any(dyn[40:56])
            or any(dyn[64:576])
            or any(dyn[576 + 24 * i : 580 + 24 * i] != b"\0\0\0\0" for i in range(8))
        ) and dtype != DIFFERENCING:
            f.fail("vhd.differencing", "VHD dynamic header names a parent disk")
        problems = []
        if not is_pow2(block) or block < 512:
            problems.append(f"block size {block} is invalid")
        elif f.virtual_size is not None:
            if f.virtual_size // block > 0xFFFFFFFF:
                problems.append("too many blocks")
            if entries * block < f.virtual_size:
                problems.append("block allocation table too small for the disk size")
        if entries > (2**31 - 1) // 4:
            problems.append("block allocation table too large")
        if bat_off < 512 or bat_off % 512:
            problems.append("block allocation table offset is invalid")
        if problems:
            f.fail("vhd.dynamic_header", "VHD dynamic header is invalid: " + "; ".join(problems))
        elif bat_off + 4 * entries > size:
            f.truncated("the block allocation table")
        trailer = st.read(size - 512, 512) if size >= 2048 else None
        if trailer is None or trailer[:8] != COOKIE:
            f.truncated("the trailing VHD footer")
        elif trailer != footer:
            f.fail("vhd.footer", "VHD trailing footer differs from the leading copy")
        return f
