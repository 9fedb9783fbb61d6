"""Helpers for the formats tests: qemu-img wrappers and hand-built images
(ISO 9660, GPT disk, bzImage-like kernel, VMware-style stream VMDK)."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path

QEMU_IMG = shutil.which("qemu-img")
MiB = 1024 * 1024


def qemu_img(*args: str) -> None:
    res = subprocess.run([QEMU_IMG, *args], capture_output=True)
    if res.returncode:
        raise RuntimeError(f"qemu-img {' '.join(args)} failed: {res.stderr.decode(errors='replace')}")


def qemu_info(path: Path, fmt: str) -> dict:
    out = subprocess.run(
        [QEMU_IMG, "info", "-f", fmt, "--output=json", str(path)], check=True, capture_output=True
    ).stdout
    return json.loads(out)


@dataclass(frozen=True)
class Image:
    name: str
    path: Path
    claim: str  # disk_format a user would claim
    qemu_fmt: str  # driver for qemu-img info -f
    fmt: str  # format the inspector must detect

    def read(self) -> bytes:
        return self.path.read_bytes()


def build_iso(volume_id: str = "DAGUERRE", sectors: int = 32) -> bytes:
    """A minimal but well-formed ISO 9660 image: PVD, terminator, path tables, root dir."""

    def both32(v: int) -> bytes:
        return struct.pack("<I", v) + struct.pack(">I", v)

    def both16(v: int) -> bytes:
        return struct.pack("<H", v) + struct.pack(">H", v)

    def dirrec(extent: int, size: int, name: bytes) -> bytes:
        body = (
            bytes([0])
            + both32(extent)
            + both32(size)
            + bytes([125, 1, 1, 0, 0, 0, 0])
            + bytes([2, 0, 0])
            + both16(1)
            + bytes([len(name)])
            + name
        )
        rec = bytes([len(body) + 1]) + body
        return rec + (b"\0" if len(rec) % 2 else b"")

    img = bytearray(sectors * 2048)
    root = dirrec(20, 2048, b"\0")
    pvd = bytearray(2048)
    pvd[0] = 1
    pvd[1:6] = b"CD001"
    pvd[6] = 1
    pvd[8:40] = b"LINUX".ljust(32)
    pvd[40:72] = volume_id.encode().ljust(32)
    pvd[80:88] = both32(sectors)
    pvd[120:124] = both16(1)
    pvd[124:128] = both16(1)
    pvd[128:132] = both16(2048)
    pvd[132:140] = both32(10)
    pvd[140:144] = struct.pack("<I", 18)
    pvd[148:152] = struct.pack(">I", 19)
    pvd[156:190] = root
    pvd[881] = 1
    img[16 * 2048 : 17 * 2048] = pvd
    term = bytearray(2048)
    term[0] = 255
    term[1:6] = b"CD001"
    term[6] = 1
    img[17 * 2048 : 18 * 2048] = term
    pt = bytes([1, 0]) + struct.pack("<I", 20) + struct.pack("<H", 1) + b"\0\0"
    img[18 * 2048 : 18 * 2048 + 10] = pt
    img[19 * 2048 : 19 * 2048 + 10] = bytes([1, 0]) + struct.pack(">I", 20) + struct.pack(">H", 1) + b"\0\0"
    d = dirrec(20, 2048, b"\0") + dirrec(20, 2048, b"\1")
    img[20 * 2048 : 20 * 2048 + len(d)] = d
    return bytes(img)


LINUX_FS = uuid.UUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4").bytes_le


def build_gpt(total_sectors: int = 8192, *, hybrid: bool = False, base: bytes | None = None) -> bytes:
    """A GPT disk: protective MBR, primary and backup headers, one partition.
    With ``base``, the structures are written over those bytes (hybrid ISO)."""
    if base is not None:
        total_sectors = len(base) // 512
    n = total_sectors
    img = bytearray(base) if base is not None else bytearray(n * 512)
    first = 2048 if n > 4096 else 34
    mbr = bytearray(16)
    mbr[0] = 0
    mbr[1:4] = b"\x00\x02\x00"
    mbr[4] = 0xEE
    mbr[5:8] = b"\xff\xff\xff"
    mbr[8:12] = struct.pack("<I", 1)
    mbr[12:16] = struct.pack("<I", min(n - 1, 0xFFFFFFFF))
    img[446:462] = mbr
    if hybrid:
        img[462:478] = bytes([0x80, 0, 0, 0, 0x83, 0, 0, 0]) + struct.pack("<II", 2048, 100)
    img[510:512] = b"\x55\xaa"
    entries = bytearray(128 * 128)
    entries[0:16] = LINUX_FS
    entries[16:32] = uuid.UUID(int=1).bytes_le
    entries[32:48] = struct.pack("<QQ", first, n - 34)
    entries[56 : 56 + 12] = "root".encode("utf-16-le") + b"\0" * 4
    ecrc = zlib.crc32(entries)

    def header(my: int, alt: int, arr: int) -> bytes:
        h = bytearray(92)
        h[0:8] = b"EFI PART"
        h[8:12] = struct.pack("<I", 0x00010000)
        h[12:16] = struct.pack("<I", 92)
        h[24:56] = struct.pack("<QQQQ", my, alt, 34, n - 34)
        h[56:72] = uuid.UUID(int=2).bytes_le
        h[72:92] = struct.pack("<QIII", arr, 128, 128, ecrc)
        h[16:20] = struct.pack("<I", zlib.crc32(bytes(h)))
        return bytes(h)

    img[512 : 512 + 92] = header(1, n - 1, 2)
    img[1024 : 1024 + len(entries)] = entries
    img[(n - 33) * 512 : (n - 33) * 512 + len(entries)] = entries
    img[(n - 1) * 512 : (n - 1) * 512 + 92] = header(n - 1, 1, n - 33)
    return bytes(img)


def build_kernel(size: int = 64 * 1024) -> bytes:
    """Looks like an x86 bzImage: MZ stub, boot sector signature, HdrS setup header."""
    k = bytearray(size)
    k[0:2] = b"MZ"
    k[0x1F1] = 27  # setup_sects
    k[510:512] = b"\x55\xaa"
    k[0x200:0x202] = b"\xeb\x66"
    k[0x202:0x206] = b"HdrS"
    k[0x206:0x208] = struct.pack("<H", 0x020F)
    for i in range(0x400, size, 7):
        k[i] = (i * 31) & 0xFF
    return bytes(k)


def vmdk_gd_at_end(src: bytes) -> bytes:
    """Rewrite a streamOptimized VMDK the way VMware streams it: header GD
    offset 'at end', footer marker + footer header + end-of-stream marker."""
    hdr = bytearray(src[:512])
    footer = bytes(hdr)
    hdr[56:64] = b"\xff" * 8
    body = bytearray(src)
    body[:512] = hdr
    body += b"\0" * (-len(body) % 512)
    marker = struct.pack("<QII", 1, 0, 3).ljust(512, b"\0")
    return bytes(body) + marker + footer + bytes(512)


def build_luks1(payload_size: int = 1024 * 1024) -> bytes:
    """A LUKS1 header laid out like cryptsetup/qemu write it (used when
    qemu-img cannot create one: its PBKDF2 timing needs per-thread CPU clocks)."""
    key_bytes = 64
    stripes = 4000
    km_sectors = (key_bytes * stripes + 511) // 512
    slot_offsets = []
    off = 4096 // 512
    for _ in range(8):
        slot_offsets.append(off)
        off += (km_sectors + 7) // 8 * 8
    payload_offset = (off + 7) // 8 * 8
    h = bytearray(592)
    h[0:6] = b"LUKS\xba\xbe"
    struct.pack_into(">H", h, 6, 1)
    h[8:40] = b"aes".ljust(32, b"\0")
    h[40:72] = b"xts-plain64".ljust(32, b"\0")
    h[72:104] = b"sha256".ljust(32, b"\0")
    struct.pack_into(">II", h, 104, payload_offset, key_bytes)
    h[112:132] = bytes(range(20))
    h[132:164] = bytes(range(32))
    struct.pack_into(">I", h, 164, 1000)
    h[168:208] = str(uuid.UUID(int=7)).encode().ljust(40, b"\0")
    for i in range(8):
        s = 208 + 48 * i
        active = 0x00AC71F3 if i == 0 else 0x0000DEAD
        struct.pack_into(">II", h, s, active, 1000 if i == 0 else 0)
        struct.pack_into(">II", h, s + 40, slot_offsets[i], stripes)
    img = bytearray(payload_offset * 512 + payload_size)
    img[:592] = h
    return bytes(img)
