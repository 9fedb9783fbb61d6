"""VirtualBox VDI (little-endian header at 0x40)."""

from __future__ import annotations

from .base import Probe, le32, le64
from .model import Finding, SafetyPolicy
from .stream import StreamState

SIGNATURE = 0xBEDA107F
VERSION_1_1 = 0x00010001
BLOCK_SIZE = 1024 * 1024
MAX_BLOCKS = 0x3FFFFFFF  # 2**30 - 1 (qemu VDI_BLOCKS_IN_IMAGE_MAX)
MAX_DISK_SIZE = MAX_BLOCKS * BLOCK_SIZE
TYPES = {1: "dynamic", 2: "static", 3: "undo", 4: "differencing"}
HEADER_END = 0x1C8


def matches(head: bytes) -> bool:
    return len(head) >= 0x44 and le32(head, 0x40) == SIGNATURE


class VdiProbe(Probe):
    name = "vdi"

    def finish(self, st: StreamState, policy: SafetyPolicy) -> Finding | None:
        head = bytes(st.head[:512])
        if not matches(head):
            return None
        f = Finding("vdi")
        if len(head) < HEADER_END:
            f.truncated("the VDI header")
            return f
        version = le32(head, 0x44)
        itype = le32(head, 0x4C)
        off_bmap = le32(head, 0x154)
        off_data = le32(head, 0x158)
        sector_size = le32(head, 0x168)
        disk_size = le64(head, 0x170)
        block_size = le32(head, 0x178)
        blocks = le32(head, 0x180)
        allocated = le32(head, 0x184)
        link = head[0x1A8:0x1B8]
        parent = head[0x1B8:0x1C8]
        f.virtual_size = (disk_size + 511) // 512 * 512
        f.facts["vdi_image_type"] = TYPES.get(itype, str(itype))
        if itype in (3, 4) or any(link) or any(parent):
            f.fail("vdi.differencing", "VDI image is a differencing (child) image")
        problems = []
        if version != VERSION_1_1:
            problems.append(f"version {version >> 16}.{version & 0xFFFF} is not 1.1")
        if itype not in TYPES:
            problems.append(f"unknown image type {itype}")
        if off_bmap % 512 or off_data % 512:
            problems.append("block map or data offset is not sector aligned")
        if off_bmap < 0x200 and off_bmap != 0:
            problems.append("block map overlaps the header")
        if sector_size != 512:
            problems.append(f"sector size {sector_size} is not 512")
        if block_size != BLOCK_SIZE:
            problems.append(f"block size {block_size} is not 1 MiB")
        if blocks > MAX_BLOCKS:
            problems.append(f"{blocks} blocks exceed the maximum")
        if disk_size > blocks * block_size:
            problems.append("disk size exceeds the block map")
        if disk_size > MAX_DISK_SIZE:
            problems.append("disk size exceeds the maximum")
        if allocated > blocks:
            problems.append("more blocks allocated than exist")
        if off_bmap + 4 * blocks > off_data:
            problems.append("block map overlaps the data area")
        if problems:
            f.fail("vdi.header", "VDI header is invalid: " + "; ".join(problems))
            return f
        if off_bmap + 4 * blocks > st.size:
            f.truncated("the block map")
        elif off_data + allocated * block_size > st.size:
            f.truncated("the allocated blocks")
        return f
