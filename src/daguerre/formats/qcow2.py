"""qcow2 (and old qcow v1, which shares the magic): big-endian header in cluster 0.

Checks mirror what qemu 7.2 validates when it opens an image, plus the
dangerous features: backing file, external data file, encryption.
"""

from __future__ import annotations

from .base import Probe, be32, be64, ceil_div
from .model import Finding, SafetyPolicy
from .stream import StreamState

MAGIC = b"QFI\xfb"

EXT_END = 0
EXT_BACKING_FORMAT = 0xE2792ACA
EXT_FEATURE_TABLE = 0x6803F857
EXT_CRYPTO = 0x0537BE77
EXT_BITMAPS = 0x23852875
EXT_DATA_FILE = 0x44415441

INCOMPAT_DIRTY = 1 << 0
INCOMPAT_CORRUPT = 1 << 1
INCOMPAT_DATA_FILE = 1 << 2
INCOMPAT_COMPRESSION = 1 << 3
INCOMPAT_EXTL2 = 1 << 4
INCOMPAT_KNOWN = (
    INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2
)
AUTOCLEAR_DATA_FILE_RAW = 1 << 1

MAX_L1_BYTES = 32 * 1024 * 1024  # qemu QCOW_MAX_L1_SIZE
MAX_REFTABLE_BYTES = 8 * 1024 * 1024  # qemu QCOW_MAX_REFTABLE_SIZE
MAX_SNAPSHOTS = 65536
SNAPSHOT_HEADER = 40
INT_MAX = 2**31 - 1


def matches(head: bytes) -> bool:
    return head[:4] == MAGIC


class Qcow2Probe(Probe):
    name = "qcow2"

    def head_needed(self, head: bytes) -> int:
        if not matches(head) or len(head) < 24:
            return 0
        bits = be32(head, 20)
        return 1 << bits if 9 <= bits <= 21 else 0

    def finish(self, st: StreamState, policy: SafetyPolicy) -> Finding | None:
        head = st.frozen_head()
        if not matches(head):
            return None
        f = Finding("qcow2")
        size = st.size
        if len(head) < 8:
            f.truncated("the qcow2 header")
            return f
        version = be32(head, 4)
        f.facts["qcow2_version"] = str(version)
        if version not in (2, 3):
            f.fail("qcow2.unknown_features", f"qcow2 version {version} is not supported (only 2 and 3)")
            if len(head) >= 32:
                f.virtual_size = be64(head, 24)
            return f
        if len(head) < 72:
            f.truncated("the qcow2 header")
            return f
        f.facts["qcow2_compat"] = "0.10" if version == 2 else "1.1"
        backing_off = be64(head, 8)
        backing_len = be32(head, 16)
        cluster_bits = be32(head, 20)
        vsize = be64(head, 24)
        crypt = be32(head, 32)
        l1_size = be32(head, 36)
        l1_off = be64(head, 40)
        rt_off = be64(head, 48)
        rt_clusters = be32(head, 56)
        nb_snap = be32(head, 60)
        snap_off = be64(head, 64)
        f.virtual_size = vsize
        incompat = compat = autoclear = 0
        refcount_order = 4
        header_length = 72
        if version == 3:
            if len(head) < 104:
                f.truncated("the qcow2 v3 header")
                return f
            incompat = be64(head, 72)
            compat = be64(head, 80)
            autoclear = be64(head, 88)
            refcount_order = be32(head, 96)
            header_length = be32(head, 100)

        geometry: list[str] = []
        if not 9 <= cluster_bits <= 21:
            geometry.append(f"cluster_bits {cluster_bits} outside 9..21")
            f.fail("qcow2.geometry", "qcow2 geometry is impossible: " + "; ".join(geometry))
            cluster_size = None
        else:
            cluster_size = 1 << cluster_bits
            f.facts["qcow2_cluster_size"] = str(cluster_size)

        # dangerous features
        if backing_off != 0:
            f.fail("qcow2.backing_file", "qcow2 image names a backing file")
        if incompat & INCOMPAT_DATA_FILE or autoclear & AUTOCLEAR_DATA_FILE_RAW:
            f.fail("qcow2.data_file", "qcow2 image uses an external data file")
        if crypt != 0:
            f.fail("qcow2.encryption", f"qcow2 image is encrypted (crypt_method {crypt})")
        if incompat & ~INCOMPAT_KNOWN:
            f.fail(
                "qcow2.unknown_features",
                f"qcow2 image sets unknown incompatible feature bits {incompat & ~INCOMPAT_KNOWN:#x}",
            )
        if incompat & INCOMPAT_EXTL2:
            f.fail("qcow2.extended_l2", "qcow2 image uses extended L2 entries")
        if incompat & INCOMPAT_CORRUPT:
            f.fail("qcow2.corrupt", "qcow2 image is marked corrupt")

        if cluster_size is None:
            return f

        # header length / refcount order / compression type
        if version == 3:
            if header_length < 104:
                geometry.append(f"header_length {header_length} < 104")
            elif header_length > cluster_size:
                geometry.append("header_length exceeds the cluster size")
            elif header_length % 8:
                geometry.append("header_length is not a multiple of 8")
            if refcount_order > 6:
                geometry.append(f"refcount_order {refcount_order} > 6")
            ctype = 0
            if 104 < header_length <= cluster_size:
                if len(head) < 105:
                    f.truncated("the qcow2 v3 header")
                    return f
                ctype = head[104]
            if ctype not in (0, 1):
                geometry.append(f"unknown compression type {ctype}")
            elif (ctype != 0) != bool(incompat & INCOMPAT_COMPRESSION):
                geometry.append("compression type and its feature bit disagree")
            f.facts["qcow2_compression_type"] = {0: "zlib", 1: "zstd"}.get(ctype, str(ctype))
            f.facts["qcow2_refcount_bits"] = str(1 << refcount_order) if refcount_order <= 6 else "?"
            if compat & 1:
                f.facts["qcow2_lazy_refcounts"] = "true"

        # L1 / size consistency, as qemu checks it
        l2_entries = cluster_size // (16 if incompat & INCOMPAT_EXTL2 else 8)
        l1_needed = ceil_div(vsize, cluster_size * l2_entries)
        if l1_size > MAX_L1_BYTES // 8:
            geometry.append(f"L1 table of {l1_size} entries is larger than 32 MiB")
        if l1_needed > INT_MAX:
            geometry.append("virtual size is too big for qcow2")
        elif l1_size < l1_needed:
            geometry.append(
                f"L1 table ({l1_size} entries) too small for the virtual size ({l1_needed} needed)"
            )
        if l1_off % cluster_size:
            geometry.append("L1 table offset is not cluster aligned")
        if l1_size and l1_off == 0:
            geometry.append("L1 table at offset 0 overlaps the header")
        if rt_off % cluster_size or rt_off == 0:
            geometry.append("refcount table offset is invalid")
        if rt_clusters * cluster_size > MAX_REFTABLE_BYTES:
            geometry.append("refcount table is larger than 8 MiB")
        if rt_clusters == 0:
            geometry.append("refcount table is empty")
        if nb_snap > MAX_SNAPSHOTS:
            geometry.append(f"{nb_snap} snapshots exceed qemu's limit")
        if nb_snap and (snap_off % cluster_size or snap_off == 0):
            geometry.append("snapshot table offset is invalid")
        if backing_off and (
            backing_off > cluster_size or backing_len > min(1023, cluster_size - backing_off)
        ):
            geometry.append("backing file name does not fit in cluster 0")

        # declared structures must lie inside the file
        if l1_size and l1_off + 8 * l1_size > size:
            f.truncated("the L1 table")
        if rt_clusters and rt_off + rt_clusters * cluster_size > size:
            f.truncated("the refcount table")
        if nb_snap and snap_off + SNAPSHOT_HEADER * nb_snap > size:
            f.truncated("the snapshot table")

        # header extensions, all inside cluster 0
        ext_start = header_length if version == 3 else 72
        ext_end = backing_off if 0 < backing_off <= cluster_size else cluster_size
        self._walk_extensions(f, head, size, ext_start, ext_end, crypt, geometry)

        if geometry:
            f.fail("qcow2.geometry", "qcow2 geometry is impossible: " + "; ".join(geometry))
        return f

    @staticmethod
    def _walk_extensions(
        f: Finding, head: bytes, size: int, off: int, end: int, crypt: int, geometry: list[str]
    ) -> None:
        seen_end = False
        while off < end and off + 8 <= end:
            if off + 8 > len(head):
                f.truncated("the qcow2 header extensions")
                return
            etype = be32(head, off)
            elen = be32(head, off + 4)
            if etype == EXT_END:
                seen_end = True
                break
            if elen > end - off - 8:
                geometry.append(f"header extension {etype:#x} overruns cluster 0")
                return
            if etype == EXT_DATA_FILE:
                f.fail("qcow2.data_file", "qcow2 image carries an external data file name extension")
            elif etype == EXT_CRYPTO:
                f.fail("qcow2.encryption", "qcow2 image carries an encryption header extension")
                if crypt != 2 or elen != 16:
                    geometry.append("encryption header extension without LUKS encryption")
            elif etype == EXT_BACKING_FORMAT and elen >= 16:
                geometry.append("backing format name too long")
            off += 8 + ((elen + 7) & ~7)
        if not seen_end and off + 8 > len(head) and len(head) >= size and off < end:
            f.truncated("the qcow2 header extensions")
