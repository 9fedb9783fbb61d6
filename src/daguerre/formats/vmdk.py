"""VMDK: hosted sparse extents (KDMV) are inspected; COWD and text descriptors
are recognised (qemu would probe them as vmdk) and always refused."""

from __future__ import annotations

import re

from .base import Probe, is_pow2, le16, le32, le64
from .model import Finding, SafetyPolicy
from .stream import StreamState

KDMV = b"KDMV"
COWD = b"COWD"
GD_AT_END = 0xFFFFFFFFFFFFFFFF
MAX_DESCRIPTOR_SECTORS = 2048  # 1 MiB
MARKER_EOS = 0
MARKER_FOOTER = 3
FLAG_COMPRESSED = 1 << 16
FLAG_MARKERS = 1 << 17
PROBE_TEXT = 2048  # qemu probes the first 2 KiB

_VERSION_LINE = re.compile(rb"version=[123](\n|\r\n)")
_KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")
_EXTENT = re.compile(
    r'^(rw|rdonly|noaccess)\s+(\d+)\s+([A-Za-z0-9_\-]+)(?:\s+"([^"]*)")?(?:\s+(\d+))?\s*$', re.IGNORECASE
)


def looks_like_text_descriptor(head: bytes) -> bool:
    """qemu's vmdk probe for descriptor files: skip comments, blanks and
    spaces, then ``version=N`` followed by a newline."""
    buf = head[:PROBE_TEXT]
    p = 0
    n = len(buf)
    while p < n:
        c = buf[p]
        if c == 0x23:  # '#'
            nl = buf.find(b"\n", p)
            if nl < 0:
                return False
            p = nl + 1
        elif c == 0x20 or c in (0x0A, 0x0D):
            p += 1
        else:
            return _VERSION_LINE.match(buf, p) is not None
    return False


def matches(head: bytes) -> bool:
    return head[:4] in (KDMV, COWD) or looks_like_text_descriptor(head)


def parse_descriptor(text: str) -> tuple[dict[str, str], list[tuple[str, int, str, str | None]], list[str]]:
    """Return (keys lower-cased -> value, extents, problems)."""
    keys: dict[str, str] = {}
    extents: list[tuple[str, int, str, str | None]] = []
    problems: list[str] = []
    for raw_line in text.split("\n"):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        m = _EXTENT.match(line)
        if m:
            extents.append((m.group(1).lower(), int(m.group(2)), m.group(3).upper(), m.group(4)))
            continue
        if line.lower().startswith(("rw", "rdonly", "noaccess")):
            problems.append(f"malformed extent line {line[:60]!r}")
            continue
        if "=" in line:
            key, _, value = line.partition("=")
            key = key.strip()
            if not _KEY.match(key):
                problems.append(f"malformed key {key[:60]!r}")
                continue
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            lk = key.lower()
            if lk in keys and not lk.startswith("ddb."):
                problems.append(f"duplicate key {key[:60]!r}")
            keys[lk] = value
            continue
        problems.append(f"unexpected line {line[:60]!r}")
    return keys, extents, problems


class VmdkProbe(Probe):
    name = "vmdk"

    def head_needed(self, head: bytes) -> int:
        if head[:4] == KDMV and len(head) >= 44:
            return 512 + min(le64(head, 36), MAX_DESCRIPTOR_SECTORS) * 512
        if looks_like_text_descriptor(head):
            return 1 << 20
        return 0

    def finish(self, st: StreamState, policy: SafetyPolicy) -> Finding | None:
        head = st.frozen_head()
        if head[:4] == KDMV:
            return self._sparse(head, st, policy)
        if head[:4] == COWD:
            f = Finding("vmdk")
            f.facts["vmdk_create_type"] = "vmfsSparse(COWD)"
            f.fail("vmdk.cowd", "VMDK3 (COWD) sparse images are not accepted")
            if len(head) >= 16:
                f.virtual_size = le32(head, 12) * 512
            return f
        if looks_like_text_descriptor(head):
            f = Finding("vmdk")
            f.fail("vmdk.text_descriptor", "VMDK descriptor files (extents in other files) are not accepted")
            text = head[: min(len(head), 1 << 20)].split(b"\0", 1)[0].decode("ascii", "replace")
            keys, extents, _ = parse_descriptor(text)
            if "createtype" in keys:
                f.facts["vmdk_create_type"] = keys["createtype"][:64]
            if extents:
                f.virtual_size = sum(e[1] for e in extents) * 512
            return f
        return None

    def _sparse(self, head: bytes, st: StreamState, policy: SafetyPolicy) -> Finding:
        f = Finding("vmdk")
        if len(head) < 512:
            f.truncated("the VMDK header")
            return f
        hdr = head[:512]
        version = le32(hdr, 4)
        flags = le32(hdr, 8)
        capacity = le64(hdr, 12)
        grain = le64(hdr, 20)
        desc_off = le64(hdr, 28)
        desc_size = le64(hdr, 36)
        gtes = le32(hdr, 44)
        gd_off = le64(hdr, 56)
        overhead = le64(hdr, 64)
        compress = le16(hdr, 77)
        f.facts["vmdk_version"] = str(version)
        f.virtual_size = capacity * 512
        size = st.size

        if version not in (1, 2, 3):
            f.fail("vmdk.version", f"VMDK version {version} is not supported")

        if gd_off == GD_AT_END:
            self._footer(f, hdr, st)

        if capacity == 0:
            f.fail(
                "vmdk.capacity",
                "VMDK header has capacity 0 (its descriptor would be read as a descriptor file)",
            )

        geometry = []
        if not is_pow2(grain) or grain > 0x200000:
            geometry.append(f"grain size {grain} sectors is invalid")
        if gtes == 0 or gtes > 512:
            geometry.append(f"{gtes} entries per grain table is invalid")
        elif is_pow2(grain) and grain <= 0x200000:
            l1 = -(-capacity // (grain * gtes))
            if l1 > 512 * 1024 * 1024:
                geometry.append("grain directory too large")
        if flags & FLAG_COMPRESSED and compress != 1:
            geometry.append(f"unknown compression algorithm {compress}")
        if geometry:
            f.fail("vmdk.geometry", "VMDK geometry is invalid: " + "; ".join(geometry))

        # the embedded descriptor
        if desc_off != 1 or desc_size == 0 or desc_size > MAX_DESCRIPTOR_SECTORS:
            f.fail(
                "vmdk.descriptor",
                f"VMDK embedded descriptor must start at sector 1 and be 1..2048 sectors (got {desc_off}/{desc_size})",
            )
        else:
            end = 512 + desc_size * 512
            if end > size:
                f.truncated("the embedded descriptor")
            self._descriptor(f, head[512:end], capacity, policy)

        if overhead * 512 > size:
            f.truncated("the metadata area (overhead)")
        if gd_off != GD_AT_END and gd_off * 512 >= size and capacity:
            f.truncated("the grain directory")
        return f

    @staticmethod
    def _descriptor(f: Finding, raw: bytes, capacity: int, policy: SafetyPolicy) -> None:
        raw = raw.split(b"\0", 1)[0]
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            f.fail("vmdk.descriptor", "VMDK descriptor is not ASCII text")
            return
        keys, extents, problems = parse_descriptor(text)
        if problems:
            f.fail("vmdk.descriptor", "VMDK descriptor is malformed: " + "; ".join(problems[:3]))
        ctype = keys.get("createtype")
        if ctype is not None:
            f.facts["vmdk_create_type"] = ctype[:64]
        if "ddb.adaptertype" in keys:
            f.facts["vmdk_adapter_type"] = keys["ddb.adaptertype"][:64]
        allowed = {t.lower(): t for t in policy.vmdk_allowed_types}
        if ctype is None:
            f.fail("vmdk.create_type", "VMDK descriptor has no createType")
        elif ctype.lower() not in allowed or ctype.lower() not in ("monolithicsparse", "streamoptimized"):
            f.fail("vmdk.create_type", f"VMDK create type {ctype[:64]!r} is not allowed")
        parent_cid = keys.get("parentcid")
        if parent_cid is not None and parent_cid.lower() != "ffffffff":
            f.fail("vmdk.parent", f"VMDK descriptor names a parent (parentCID={parent_cid[:16]})")
        if "parentfilenamehint" in keys:
            f.fail("vmdk.parent", "VMDK descriptor names a parent file (parentFileNameHint)")
        if len(extents) != 1:
            f.fail("vmdk.extent", f"VMDK descriptor must list exactly one extent (found {len(extents)})")
        else:
            access, sectors, etype, name = extents[0]
            if etype != "SPARSE":
                f.fail("vmdk.extent", f"VMDK extent type {etype} is not SPARSE")
            if name is None or "/" in name or "\\" in name or name in ("", ".", ".."):
                f.fail("vmdk.extent", "VMDK extent names a path")
            if sectors != capacity:
                f.fail("vmdk.extent", "VMDK extent size disagrees with the header capacity")

    @staticmethod
    def _footer(f: Finding, hdr: bytes, st: StreamState) -> None:
        size = st.size
        if size < 512 + 1536:
            f.truncated("the VMDK footer")
            return
        tail = st.read(size - 1536, 1536)
        if tail is None or len(tail) != 1536:
            f.truncated("the VMDK footer")
            return
        marker, footer, eos = tail[:512], tail[512:1024], tail[1024:]
        problems = []
        if le32(marker, 8) != 0 or le32(marker, 12) != MARKER_FOOTER or any(marker[16:]):
            problems.append("footer marker is invalid")
        if any(eos):
            problems.append("end-of-stream marker is invalid")
        if footer[:4] != KDMV:
            problems.append("footer has no VMDK magic")
        else:
            for name, a, b in (
                ("version", 4, 8),
                ("capacity", 12, 20),
                ("grain size", 20, 28),
                ("descriptor", 28, 44),
            ):
                if footer[a:b] != hdr[a:b]:
                    problems.append(f"header and footer disagree on {name}")
            if le64(footer, 56) == GD_AT_END:
                problems.append("footer grain directory offset is also 'at end'")
            elif le64(footer, 56) * 512 >= size:
                problems.append("footer grain directory lies beyond the end of the file")
        if problems:
            f.fail("vmdk.footer", "VMDK footer is invalid: " + "; ".join(problems))
