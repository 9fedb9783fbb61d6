"""MBR / GPT partitioned whole-disk images ("gpt" inspector).

Boot sectors that are not partition tables are excluded: FAT volume boot
records and x86 Linux kernels (bzImage: "HdrS" at 0x202).
"""

from __future__ import annotations

import zlib

from .base import Probe, le32, le64
from .model import Finding, SafetyPolicy
from .stream import StreamState

GPT_SIG = b"EFI PART"


def is_kernel(head: bytes | bytearray) -> bool:
    return len(head) >= 0x206 and head[510:512] == b"\x55\xaa" and head[0x202:0x206] == b"HdrS"


def is_fat_vbr(head: bytes) -> bool:
    return len(head) >= 512 and head[0x10] == 2 and head[0x15] == 0xF8


def matches(head: bytes) -> bool:
    return len(head) >= 512 and head[510:512] == b"\x55\xaa" and not is_kernel(head) and not is_fat_vbr(head)


class GptProbe(Probe):
    name = "gpt"

    def head_needed(self, head: bytes) -> int:
        if not matches(head):
            return 0
        need = 4096 + 512
        for sector in (512, 4096):
            hdr = head[sector : sector + 92]
            if hdr[:8] == GPT_SIG and len(hdr) == 92:
                need = max(need, min(le64(hdr, 72), 1 << 40) * sector + le32(hdr, 80) * le32(hdr, 84))
        return need

    def finish(self, st: StreamState, policy: SafetyPolicy) -> Finding | None:
        head = st.frozen_head()
        if not matches(head):
            return None
        f = Finding("gpt", container=False)
        f.virtual_size = st.size
        entries = [head[446 + 16 * i : 462 + 16 * i] for i in range(4)]
        problems = []
        used = [e for e in entries if e[4] != 0]
        for e in entries:
            if e[0] not in (0x00, 0x80):
                problems.append(f"boot flag {e[0]:#x} is invalid")
        if not used:
            problems.append("partition table is empty")
        protective = [e for e in used if e[4] == 0xEE]
        if protective:
            p = protective[0]
            if len(used) != 1:
                problems.append("protective GPT entry is not the only partition (hybrid MBR)")
            if p[1:4] != b"\x00\x02\x00" or le32(p, 8) != 1:
                problems.append("protective GPT entry does not start at CHS 0/2/0, LBA 1")
        if problems:
            f.fail("gpt.mbr", "MBR is invalid: " + "; ".join(problems))
        f.facts["partition_table"] = "gpt" if protective else "mbr"
        if protective:
            self._gpt(f, st, head)
        return f

    @staticmethod
    def _gpt(f: Finding, st: StreamState, head: bytes) -> None:
        for sector in (512, 4096):
            hdr = head[sector : sector + 512]
            if hdr[:8] == GPT_SIG:
                break
        else:
            if st.size < 1024:
                f.truncated("the GPT header")
            else:
                f.fail("gpt.header", "protective MBR but no GPT header")
            return
        if len(hdr) < 92:
            f.truncated("the GPT header")
            return
        problems = []
        hsize = le32(hdr, 12)
        if not 92 <= hsize <= 512:
            problems.append(f"header size {hsize} is invalid")
        elif zlib.crc32(hdr[:16] + b"\0\0\0\0" + hdr[20:hsize]) != le32(hdr, 16):
            problems.append("header CRC is wrong")
        my_lba = le64(hdr, 24)
        alt_lba = le64(hdr, 32)
        last_usable = le64(hdr, 48)
        arr_lba = le64(hdr, 72)
        count = le32(hdr, 80)
        esize = le32(hdr, 84)
        total = st.size // sector
        if my_lba != 1:
            problems.append("header does not describe itself at LBA 1")
        if esize < 128 or esize % 128 or count > 4096:
            problems.append("partition entry array geometry is invalid")
        elif not problems:
            start = arr_lba * sector
            length = count * esize
            if start + length > st.size:
                f.truncated("the GPT partition entry array")
            else:
                arr = st.read(start, length)
                if arr is None:
                    problems.append("partition entry array is not near the start of the disk")
                elif zlib.crc32(arr) != le32(hdr, 88):
                    problems.append("partition entry array CRC is wrong")
        if problems:
            f.fail("gpt.header", "GPT header is invalid: " + "; ".join(problems))
        elif last_usable >= total or alt_lba >= total:
            f.truncated("the GPT usable area")
