"""ISO 9660 / UDF: volume descriptors from sector 16 (offset 32768)."""

from __future__ import annotations

from .base import Probe, le16, le32
from .model import Finding, SafetyPolicy
from .stream import StreamState

SECTOR = 2048
FIRST = 16 * SECTOR
MAX_DESCRIPTORS = 64
IDS = (b"CD001", b"BEA01", b"NSR02", b"NSR03", b"TEA01", b"BOOT2", b"CDW02")


def matches(head: bytes) -> bool:
    return len(head) >= FIRST + 6 and head[FIRST + 1 : FIRST + 6] in (b"CD001", b"BEA01", b"NSR02", b"NSR03")


class IsoProbe(Probe):
    name = "iso"

    def head_needed(self, head: bytes) -> int:
        return FIRST + MAX_DESCRIPTORS * SECTOR if matches(head) else 0

    def finish(self, st: StreamState, policy: SafetyPolicy) -> Finding | None:
        head = st.frozen_head()
        if not matches(head):
            return None
        f = Finding("iso", container=False)
        # qemu has no ISO driver: hypervisors see the whole file as a raw disk
        f.virtual_size = st.size
        pvd = None
        udf = False
        for i in range(MAX_DESCRIPTORS):
            off = FIRST + i * SECTOR
            d = head[off : off + SECTOR]
            if len(d) < 7:
                break
            ident = d[1:6]
            if ident not in IDS:
                break
            if ident in (b"NSR02", b"NSR03"):
                udf = True
            if ident == b"CD001":
                if d[0] == 1 and pvd is None:
                    pvd = d
                if d[0] == 255:
                    continue
        if udf:
            f.facts["iso_udf"] = "true"
        if pvd is not None:
            if len(pvd) < 136:
                f.truncated("the primary volume descriptor")
                return f
            blocks = le32(pvd, 80)
            bsize = le16(pvd, 128)
            if bsize not in (512, 1024, 2048):
                f.fail("iso.descriptor", f"ISO logical block size {bsize} is invalid")
            else:
                vol = blocks * bsize
                f.facts["iso_volume_size"] = str(vol)
                if vol > st.size:
                    f.truncated("the ISO volume")
        elif not udf:
            f.fail("iso.descriptor", "ISO image has no primary volume descriptor")
        return f
