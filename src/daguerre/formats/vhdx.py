"""VHDX (little-endian, CRC-32C). The metadata region can sit anywhere in the
file, so once the region table (in the head) is read a capture of the
metadata table is scheduled, and from it captures of the items we need."""

from __future__ import annotations

import uuid

from .base import Probe, is_pow2, le16, le32, le64
from .crc32c import crc32c
from .model import Finding, SafetyPolicy
from .stream import Capture, StreamState

SIGNATURE = b"vhdxfile"
HEADER_OFFSETS = (64 * 1024, 128 * 1024)
HEADER_SIZE = 4096
REGION_TABLE_OFFSET = 192 * 1024
REGION_TABLE_SIZE = 64 * 1024
METADATA_TABLE_SIZE = 64 * 1024
MiB = 1024 * 1024
MAX_ENTRIES = 2047
MAX_VIRTUAL_SIZE = 64 * 2**40
MAX_PARENT_LOCATOR = 64 * 1024


def _g(s: str) -> bytes:
    return uuid.UUID(s).bytes_le


BAT = _g("2DC27766-F623-4200-9D64-115E9BFD4A08")
METADATA = _g("8B7CA206-4790-4B9A-B8FE-575F050F886E")
FILE_PARAMS = _g("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
VIRTUAL_DISK_SIZE = _g("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
PAGE83 = _g("BECA12AB-B2E6-4523-93EF-C309E000C746")
LOGICAL_SECTOR = _g("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
PHYSICAL_SECTOR = _g("CDA348C7-445D-4471-9CC9-E9885251C556")
PARENT_LOCATOR = _g("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")
ITEM_SIZES = {FILE_PARAMS: 8, VIRTUAL_DISK_SIZE: 8, PAGE83: 16, LOGICAL_SECTOR: 4, PHYSICAL_SECTOR: 4}
REQUIRED_ITEMS = (FILE_PARAMS, VIRTUAL_DISK_SIZE, PAGE83, LOGICAL_SECTOR, PHYSICAL_SECTOR)


def matches(head: bytes | bytearray) -> bool:
    return head[:8] == SIGNATURE


def _crc_ok(block: bytes, field: int) -> bool:
    zeroed = block[:field] + b"\0\0\0\0" + block[field + 4 :]
    return crc32c(zeroed) == le32(block, field)


class VhdxProbe(Probe):
    name = "vhdx"

    def __init__(self) -> None:
        self.problems: dict[str, list[str]] = {}
        self.truncations: list[str] = []
        self.regions: dict[bytes, tuple[int, int]] = {}
        self.md_table: Capture | None = None
        self.items: dict[bytes, Capture | None] = {}
        self.item_len: dict[bytes, int] = {}
        self.scheduled = False

    def _bad(self, check: str, why: str) -> None:
        self.problems.setdefault(check, []).append(why)

    def schedule(self, st: StreamState, policy: SafetyPolicy) -> None:
        head = st.head
        if not matches(head):
            return
        self.scheduled = True
        rt = bytes(head[REGION_TABLE_OFFSET : REGION_TABLE_OFFSET + REGION_TABLE_SIZE])
        if len(rt) < REGION_TABLE_SIZE:
            return  # reported at finish (truncated)
        if rt[:4] != b"regi":
            self._bad("vhdx.region_table", "region table signature missing")
            return
        if not _crc_ok(rt, 4):
            self._bad("vhdx.region_table", "region table checksum is wrong")
            return
        count = le32(rt, 8)
        if count > MAX_ENTRIES:
            self._bad("vhdx.region_table", f"{count} region entries exceed 2047")
            return
        spans = [(0, MiB)]
        for i in range(count):
            e = 16 + 32 * i
            guid = rt[e : e + 16]
            off = le64(rt, e + 16)
            length = le32(rt, e + 24)
            required = le32(rt, e + 28) & 1
            if guid not in (BAT, METADATA):
                if required:
                    self._bad("vhdx.region_table", "an unknown required region is present")
                continue
            if guid in self.regions:
                self._bad("vhdx.region_table", "a region is listed twice")
                continue
            if off % MiB or length % MiB or length == 0 or off < MiB:
                self._bad("vhdx.region_table", "a region is not 1 MiB aligned")
                continue
            for a, b in spans:
                if off < b and a < off + length:
                    self._bad("vhdx.region_table", "regions overlap")
            spans.append((off, off + length))
            self.regions[guid] = (off, length)
        if BAT not in self.regions or METADATA not in self.regions:
            self._bad("vhdx.region_table", "BAT or metadata region missing")
            return
        md_off, md_len = self.regions[METADATA]
        self.md_table = st.capture(md_off, METADATA_TABLE_SIZE, lambda c: self._on_table(st, c))
        if self.md_table is None:
            self._bad("vhdx.metadata", "metadata table cannot be captured")

    def _on_table(self, st: StreamState, cap: Capture) -> None:
        t = cap.bytes()
        if t[:8] != b"metadata":
            self._bad("vhdx.metadata", "metadata table signature missing")
            return
        count = le16(t, 10)
        if count > MAX_ENTRIES:
            self._bad("vhdx.metadata", f"{count} metadata entries exceed 2047")
            return
        md_off, md_len = self.regions[METADATA]
        for i in range(count):
            e = 32 + 32 * i
            guid = t[e : e + 16]
            off = le32(t, e + 16)
            length = le32(t, e + 20)
            flags = le32(t, e + 24)
            known = guid in ITEM_SIZES or guid == PARENT_LOCATOR
            if not known:
                if flags & 4:
                    self._bad("vhdx.metadata", "an unknown required metadata item is present")
                continue
            if guid in self.items:
                self._bad("vhdx.metadata", "a metadata item is listed twice")
                continue
            if length == 0 and off == 0:
                self.items[guid] = None
                continue
            if off < METADATA_TABLE_SIZE or off + length > md_len:
                self._bad("vhdx.metadata", "a metadata item lies outside the metadata region")
                continue
            if guid == PARENT_LOCATOR:
                want = min(length, MAX_PARENT_LOCATOR)
            else:
                want = ITEM_SIZES[guid]
                if length < want:
                    self._bad("vhdx.metadata", "a metadata item is too short")
                    continue
            self.item_len[guid] = length
            c = st.capture(md_off + off, want)
            if c is None:
                self._bad("vhdx.metadata", "metadata items cannot be captured")
                return
            self.items[guid] = c

    def head_needed(self, head: bytes) -> int:
        if not matches(head):
            return 0
        need = REGION_TABLE_OFFSET + REGION_TABLE_SIZE
        for off in HEADER_OFFSETS:  # keep the log in view when a header names one
            h = head[off : off + 80]
            if len(h) == 80 and h[:4] == b"head" and any(h[48:64]):
                need = max(need, min(le64(h, 72) + le32(h, 68), 1 << 40))
        return need

    @staticmethod
    def _log_needs_replay(head: bytes, guid: bytes, off: int, length: int) -> bool:
        """A non-zero log GUID only matters if some log entry carries it (a
        cleanly closed file may keep a stale GUID). Entries are 4 KiB aligned;
        a log we cannot see in the head is assumed to need replay."""
        if off + length > len(head):
            return True
        for e in range(off, off + length, 4096):
            if head[e : e + 4] == b"loge" and head[e + 32 : e + 48] == guid:
                return True
        return False

    def finish(self, st: StreamState, policy: SafetyPolicy) -> Finding | None:
        head = st.frozen_head()
        if not matches(head):
            return None
        f = Finding("vhdx")
        size = st.size
        # headers: pick the valid one with the highest sequence number
        best = None
        for off in HEADER_OFFSETS:
            h = head[off : off + HEADER_SIZE]
            if len(h) < HEADER_SIZE:
                continue
            if h[:4] == b"head" and _crc_ok(h, 4):
                seq = le64(h, 8)
                if best is None or seq > le64(best, 8):
                    best = h
        if len(head) < REGION_TABLE_OFFSET + REGION_TABLE_SIZE:
            f.truncated("the VHDX headers and region table")
            return f
        if best is None:
            f.fail("vhdx.header", "no VHDX header has a valid signature and checksum")
        else:
            if le16(best, 66) != 1 or le16(best, 64) != 0:
                f.fail("vhdx.header", "VHDX header version is not supported")
            log_len = le32(best, 68)
            log_off = le64(best, 72)
            if log_off % MiB or log_len % MiB or (log_len and log_off < MiB):
                f.fail("vhdx.header", "VHDX log location is invalid")
            elif log_off + log_len > size:
                f.truncated("the log")
            elif any(best[48:64]) and self._log_needs_replay(head, best[48:64], log_off, log_len):
                f.fail("vhdx.log", "VHDX log holds entries that need replay")
        for check, whys in self.problems.items():
            f.fail(check, "VHDX " + "; ".join(dict.fromkeys(whys)))
        if "vhdx.region_table" in self.problems or not self.regions:
            return f
        for guid, name in ((BAT, "BAT region"), (METADATA, "metadata region")):
            off, length = self.regions[guid]
            if off + length > size:
                f.truncated(f"the {name}")
        if self.md_table is None or not self.md_table.complete:
            if self.md_table is not None and self.md_table.missed:
                f.fail("vhdx.metadata", "VHDX metadata table could not be read in one pass")
            elif self.md_table is not None:
                f.truncated("the metadata table")
            return f
        values: dict[bytes, bytes] = {}
        for guid in REQUIRED_ITEMS + (PARENT_LOCATOR,):
            cap = self.items.get(guid)
            if cap is None:
                continue
            if not cap.complete:
                if cap.missed:
                    f.fail("vhdx.metadata", "VHDX metadata item could not be read in one pass")
                else:
                    f.truncated("a metadata item")
                return f
            values[guid] = cap.bytes()
        missing = [g for g in REQUIRED_ITEMS if g not in values]
        if missing and "vhdx.metadata" not in self.problems:
            f.fail("vhdx.metadata", "VHDX metadata lacks required items")
        if VIRTUAL_DISK_SIZE in values:
            f.virtual_size = le64(values[VIRTUAL_DISK_SIZE], 0)
        has_parent = False
        geometry = []
        if FILE_PARAMS in values:
            block = le32(values[FILE_PARAMS], 0)
            has_parent = bool(le32(values[FILE_PARAMS], 4) & 2)
            f.facts["vhdx_block_size"] = str(block)
            if not is_pow2(block) or not MiB <= block <= 256 * MiB:
                geometry.append(f"block size {block} is invalid")
        else:
            block = 0
        if has_parent or PARENT_LOCATOR in self.items:
            f.fail("vhdx.parent", "VHDX image is a differencing disk (has a parent)")
        lss = le32(values[LOGICAL_SECTOR], 0) if LOGICAL_SECTOR in values else 0
        pss = le32(values[PHYSICAL_SECTOR], 0) if PHYSICAL_SECTOR in values else 0
        if LOGICAL_SECTOR in values and lss not in (512, 4096):
            geometry.append(f"logical sector size {lss} is invalid")
        if PHYSICAL_SECTOR in values and pss not in (512, 4096):
            geometry.append(f"physical sector size {pss} is invalid")
        vs = f.virtual_size
        if vs is not None:
            if vs > MAX_VIRTUAL_SIZE:
                geometry.append("virtual size exceeds 64 TiB")
            elif lss in (512, 4096) and vs % lss:
                geometry.append("virtual size is not a multiple of the sector size")
            if lss in (512, 4096) and is_pow2(block) and MiB <= block <= 256 * MiB and vs <= MAX_VIRTUAL_SIZE:
                chunk_ratio = (2**23 * lss) // block
                blocks = -(-vs // block)
                entries = blocks + (blocks - 1) // chunk_ratio if blocks else 0
                if entries * 8 > self.regions[BAT][1]:
                    geometry.append("BAT region too small for the virtual size")
        if geometry:
            f.fail("vhdx.geometry", "VHDX geometry is invalid: " + "; ".join(geometry))
        return f
