"""Hand-built malicious and malformed images: each must be refused with exactly
the expected set of check names."""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from formats_helpers import build_gpt, build_iso, build_kernel, qemu_img, vmdk_gd_at_end

from daguerre.formats import CHECK_NAMES, FormatRefused, Inspector, SafetyPolicy, judge
from daguerre.formats.crc32c import crc32c


def inspect_bytes(data: bytes, chunk: int = 65536):
    ins = Inspector()
    for i in range(0, len(data), chunk):
        ins.feed(data[i : i + chunk])
    return ins.finish()


class Ctx:
    def __init__(self, corpus, workdir: Path, name: str):
        self.corpus = corpus
        self.dir = workdir / name
        self.dir.mkdir(exist_ok=True)

    def img(self, name: str) -> bytearray:
        return bytearray(self.corpus[name].read())

    def qemu(self, *args: str) -> bytearray:
        """qemu-img create/convert into a fresh file in this case's dir."""
        p = self.dir / "out.img"
        p.unlink(missing_ok=True)
        if args[0] == "create":
            qemu_img(*args[:-1], str(p), args[-1])
        else:
            qemu_img(*args, str(p))
        return bytearray(p.read_bytes())


# ---- byte helpers -----------------------------------------------------------------


def put(b: bytearray, off: int, fmt: str, *vals) -> bytearray:
    struct.pack_into(fmt, b, off, *vals)
    return b


def vhd_sum(block: bytes, field: int) -> int:
    return ~sum(block[:field] + b"\0\0\0\0" + block[field + 4 :]) & 0xFFFFFFFF


def vhd_fix(b: bytearray, off: int) -> None:
    struct.pack_into(">I", b, off + 64, vhd_sum(bytes(b[off : off + 512]), 64))


def vhd_patch_footers(b: bytearray, fn: Callable[[bytearray], None], fix: bool = True) -> bytearray:
    for off in (0, len(b) - 512):
        footer = bytearray(b[off : off + 512])
        fn(footer)
        b[off : off + 512] = footer
        if fix:
            vhd_fix(b, off)
    return b


def vmdk_set_descriptor(b: bytearray, text: str) -> bytearray:
    size = struct.unpack_from("<Q", b, 36)[0] * 512
    raw = text.encode()
    assert len(raw) < size
    b[512 : 512 + size] = raw.ljust(size, b"\0")
    return b


def vmdk_descriptor(
    create_type: str = "monolithicSparse",
    extents: str = 'RW 32768 SPARSE "disk.vmdk"',
    extra: str = "",
    parent_cid: str = "ffffffff",
) -> str:
    return (
        "# Disk DescriptorFile\nversion=1\nCID=12345678\n"
        f'parentCID={parent_cid}\ncreateType="{create_type}"\n{extra}\n'
        f"# Extent description\n{extents}\n\n# The Disk Data Base\n#DDB\n\n"
        'ddb.virtualHWVersion = "4"\nddb.adapterType = "ide"\n'
    )


def vhdx_regions(b: bytes) -> dict[bytes, tuple[int, int]]:
    rt = 192 * 1024
    count = struct.unpack_from("<I", b, rt + 8)[0]
    out = {}
    for i in range(count):
        e = rt + 16 + 32 * i
        out[bytes(b[e : e + 16])] = struct.unpack_from("<QI", b, e + 16)
    return out


METADATA = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E").bytes_le
FILE_PARAMS = uuid.UUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B").bytes_le
VDS = uuid.UUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8").bytes_le


def vhdx_item(b: bytes, guid: bytes) -> int:
    md_off = vhdx_regions(b)[METADATA][0]
    count = struct.unpack_from("<H", b, md_off + 10)[0]
    for i in range(count):
        e = md_off + 32 + 32 * i
        if b[e : e + 16] == guid:
            return md_off + struct.unpack_from("<I", b, e + 16)[0]
    raise AssertionError("item not found")


def vhdx_fix_header(b: bytearray, off: int) -> None:
    struct.pack_into("<I", b, off + 4, 0)
    struct.pack_into("<I", b, off + 4, crc32c(bytes(b[off : off + 4096])))


def qcow2_luks_header(c: Ctx) -> bytearray:
    """What qemu writes for encrypt.format=luks: crypt_method 2 and a crypto
    header extension pointing at the LUKS header (built by hand: qemu-img
    cannot time PBKDF2 iterations on this machine)."""
    b = c.img("qcow2_v3")
    put(b, 32, ">I", 2)
    hl = struct.unpack_from(">I", b, 100)[0]
    ext = struct.pack(">IIQQ", 0x0537BE77, 16, 65536 * 4, 2 * 1024 * 1024)
    b[hl:4096] = ext + b[hl : 4096 - len(ext)]
    return b


def qcow2_with_iso(c: Ctx) -> bytearray:
    b = c.img("qcow2_v3")
    iso = build_iso()
    b[32768 : 32768 + 4096] = iso[32768 : 32768 + 4096]
    return b


def iso_with_descriptor(c: Ctx) -> bytearray:
    b = bytearray(build_iso())
    text = b'# Disk DescriptorFile\nversion=1\ncreateType="monolithicFlat"\nRW 64 FLAT "/etc/passwd" 0\n'
    b[: len(text)] = text
    return b


def cowd(parent: bool = True) -> bytearray:
    b = bytearray(65536)
    put(b, 0, "<4sIIIIII", b"COWD", 1, 3, 2048, 64, 4, 1)
    if parent:
        b[0x200 : 0x200 + 40] = b'parentFileNameHint="/etc/passwd"\n'.ljust(40, b"\0")
    return b


TEXT_DESCRIPTOR = (
    '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n'
    'RW 2048 FLAT "/etc/passwd" 0\n'
)


def vhd_differencing(c: Ctx) -> bytearray:
    b = c.img("vhd_dynamic")
    vhd_patch_footers(b, lambda f: put(f, 60, ">I", 4))
    dyn = bytearray(b[512:1536])
    dyn[40:56] = uuid.uuid4().bytes
    name = "C:\\base.vhd".encode("utf-16-be")
    dyn[64 : 64 + len(name)] = name
    put(dyn, 576, ">4sIIIQ", b"W2ku", 512, len(name), 0, 1536)
    put(dyn, 36, ">I", vhd_sum(bytes(dyn), 36))
    b[512:1536] = dyn
    return b


def vhdx_log(c: Ctx, entry: bool = True) -> bytearray:
    """Both headers name a log GUID; with ``entry`` a log entry carrying it sits in the log."""
    b = c.img("vhdx")
    guid = uuid.uuid4().bytes
    for off in (64 * 1024, 128 * 1024):
        b[off + 48 : off + 64] = guid
        vhdx_fix_header(b, off)
    if entry:
        log_off = struct.unpack_from("<Q", b, 64 * 1024 + 72)[0]
        e = log_off + 8 * 4096
        struct.pack_into("<4sIIIQII", b, e, b"loge", 0, 4096, 0, 1, 1, 0)
        b[e + 32 : e + 48] = guid
    return b


def vhdx_parent(c: Ctx) -> bytearray:
    b = c.img("vhdx")
    off = vhdx_item(b, FILE_PARAMS)
    put(b, off + 4, "<I", struct.unpack_from("<I", b, off + 4)[0] | 2)
    return b


def vhdx_vds(c: Ctx, value: int) -> bytearray:
    b = c.img("vhdx")
    return put(b, vhdx_item(b, VDS), "<Q", value)


def gpt_bad_header_crc() -> bytearray:
    b = bytearray(build_gpt())
    b[512 + 40] ^= 1  # first usable LBA
    return b


def gpt_mbr(entry: bytes) -> bytearray:
    b = bytearray(8192 * 512)
    b[446:462] = entry
    b[510:512] = b"\x55\xaa"
    return b


def streamopt_footer_mismatch(c: Ctx) -> bytearray:
    b = bytearray(vmdk_gd_at_end(bytes(c.img("vmdk_stream_lsilogic"))))
    put(b, len(b) - 1024 + 12, "<Q", 1 << 40)  # footer capacity
    return b


def streamopt_no_footer(c: Ctx) -> bytearray:
    b = c.img("vmdk_stream_lsilogic")
    b[56:64] = b"\xff" * 8
    return b


def vhd_fixed_holding_qcow2(c: Ctx) -> bytearray:
    b = c.img("vhd_fixed")
    b[:65536] = c.img("qcow2_v3")[:65536]
    return b


def dmg_trailer(c: Ctx) -> bytearray:
    b = c.img("raw")
    b[-512:-508] = b"koly"
    return b


QED_CREATE = ("create", "-q", "-f", "qed", "16M")
SECRET = ("--object", "secret,id=s0,data=daguerre")

# name -> (builder, claimed disk_format, expected failing checks)
CASES: dict[str, tuple[Callable[[Ctx], bytes], str, set[str]]] = {
    # --- qcow2 -------------------------------------------------------------------
    "qcow2_backing_file": (
        lambda c: c.qemu("create", "-q", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", "16M"),
        "qcow2",
        {"qcow2.backing_file"},
    ),
    "qcow2_backing_file_claimed_raw": (
        lambda c: c.qemu("create", "-q", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", "16M"),
        "raw",
        {"qcow2.backing_file", "format_mismatch"},
    ),
    "qcow2_data_file": (
        lambda c: c.qemu("create", "-q", "-f", "qcow2", "-o", f"data_file={c.dir}/ext.raw", "16M"),
        "qcow2",
        {"qcow2.data_file"},
    ),
    "qcow2_data_file_raw_bit": (
        lambda c: c.qemu(
            "create", "-q", "-f", "qcow2", "-o", f"data_file={c.dir}/ext.raw,data_file_raw=on", "16M"
        ),
        "qcow2",
        {"qcow2.data_file"},
    ),
    "qcow2_data_file_extension_bit_clear": (
        lambda c: put(
            c.qemu("create", "-q", "-f", "qcow2", "-o", f"data_file={c.dir}/ext.raw", "16M"), 72, ">Q", 0
        ),
        "qcow2",
        {"qcow2.data_file"},
    ),
    "qcow2_autoclear_data_file_raw_only": (
        lambda c: put(c.img("qcow2_v3"), 88, ">Q", 2),
        "qcow2",
        {"qcow2.data_file"},
    ),
    "qcow2_luks_encrypted": (qcow2_luks_header, "qcow2", {"qcow2.encryption"}),
    "qcow2_aes_crypt_method": (
        lambda c: put(c.img("qcow2_v3"), 32, ">I", 1),
        "qcow2",
        {"qcow2.encryption"},
    ),
    "qcow2_1EiB": (
        lambda c: c.qemu("create", "-q", "-f", "qcow2", "-o", "cluster_size=2M", "1E"),
        "qcow2",
        {"virtual_size_limit"},
    ),
    "qcow2_cluster_bits_8": (lambda c: put(c.img("qcow2_v3"), 20, ">I", 8), "qcow2", {"qcow2.geometry"}),
    "qcow2_cluster_bits_30": (lambda c: put(c.img("qcow2_v3"), 20, ">I", 30), "qcow2", {"qcow2.geometry"}),
    "qcow2_size_lies_about_l1": (
        lambda c: put(c.img("qcow2_v3"), 24, ">Q", 1 << 40),
        "qcow2",
        {"qcow2.geometry"},
    ),
    "qcow2_l1_size_huge": (
        lambda c: put(c.img("qcow2_v3"), 36, ">I", 5_000_000),
        "qcow2",
        {"qcow2.geometry", "truncated"},
    ),
    "qcow2_l1_offset_unaligned": (
        lambda c: put(c.img("qcow2_v3"), 40, ">Q", 196608 + 8),
        "qcow2",
        {"qcow2.geometry", "truncated"},
    ),
    "qcow2_too_many_snapshots": (
        lambda c: put(c.img("qcow2_v3"), 60, ">IQ", 70_000, 0),
        "qcow2",
        {"qcow2.geometry", "truncated"},
    ),
    "qcow2_version_1": (lambda c: put(c.img("qcow2_v3"), 4, ">I", 1), "qcow2", {"qcow2.unknown_features"}),
    "qcow2_version_4": (lambda c: put(c.img("qcow2_v3"), 4, ">I", 4), "qcow2", {"qcow2.unknown_features"}),
    "qcow2_unknown_incompatible_bit": (
        lambda c: put(c.img("qcow2_v3"), 72, ">Q", 1 << 10),
        "qcow2",
        {"qcow2.unknown_features"},
    ),
    "qcow2_extended_l2": (
        lambda c: c.qemu("create", "-q", "-f", "qcow2", "-o", "extended_l2=on", "16M"),
        "qcow2",
        {"qcow2.extended_l2"},
    ),
    "qcow2_corrupt_bit": (lambda c: put(c.img("qcow2_v3"), 72, ">Q", 2), "qcow2", {"qcow2.corrupt"}),
    "qcow2_header_length_short": (
        lambda c: put(c.img("qcow2_v3"), 100, ">I", 72),
        "qcow2",
        {"qcow2.geometry"},
    ),
    "qcow2_compression_type_mismatch": (
        lambda c: put(c.img("qcow2_v3"), 104, ">B", 1),
        "qcow2",
        {"qcow2.geometry"},
    ),
    "qcow2_truncated": (lambda c: c.img("qcow2_v3")[:70000], "qcow2", {"truncated"}),
    "qcow2_header_only": (lambda c: c.img("qcow2_v3")[:50], "qcow2", {"truncated"}),
    # --- qed -----------------------------------------------------------------------
    "qed": (lambda c: c.qemu(*QED_CREATE), "qed", {"qed.banned"}),
    "qed_claimed_raw": (lambda c: c.qemu(*QED_CREATE), "raw", {"qed.banned", "format_mismatch"}),
    "qed_backing_file": (
        lambda c: c.qemu("create", "-q", "-f", "qed", "-b", "/etc/passwd", "-F", "raw", "16M"),
        "qed",
        {"qed.banned", "qed.backing_file"},
    ),
    # --- vmdk ----------------------------------------------------------------------
    "vmdk_parent_file_name_hint": (
        lambda c: vmdk_set_descriptor(
            c.img("vmdk_sparse_ide"), vmdk_descriptor(extra='parentFileNameHint="/etc/passwd"')
        ),
        "vmdk",
        {"vmdk.parent"},
    ),
    "vmdk_relative_parent_hint_claimed_raw": (
        lambda c: vmdk_set_descriptor(
            c.img("vmdk_sparse_ide"), vmdk_descriptor(extra='parentFileNameHint="base.vmdk"')
        ),
        "raw",
        {"vmdk.parent", "format_mismatch"},
    ),
    "vmdk_parent_cid": (
        lambda c: vmdk_set_descriptor(c.img("vmdk_sparse_ide"), vmdk_descriptor(parent_cid="a1b2c3d4")),
        "vmdk",
        {"vmdk.parent"},
    ),
    "vmdk_capacity0_flat_extent_on_host_file": (
        lambda c: vmdk_set_descriptor(
            put(c.img("vmdk_sparse_ide"), 12, "<Q", 0),
            vmdk_descriptor("monolithicFlat", 'RW 2048 FLAT "/etc/passwd" 0'),
        ),
        "vmdk",
        {"vmdk.capacity", "vmdk.create_type", "vmdk.extent"},
    ),
    "vmdk_capacity0_relative_extent": (
        lambda c: vmdk_set_descriptor(
            put(c.img("vmdk_sparse_ide"), 12, "<Q", 0), vmdk_descriptor(extents='RW 0 SPARSE "other.vmdk"')
        ),
        "vmdk",
        {"vmdk.capacity"},
    ),
    "vmdk_create_type_flat": (
        lambda c: vmdk_set_descriptor(c.img("vmdk_sparse_ide"), vmdk_descriptor("monolithicFlat")),
        "vmdk",
        {"vmdk.create_type"},
    ),
    "vmdk_create_type_missing": (
        lambda c: vmdk_set_descriptor(
            c.img("vmdk_sparse_ide"), vmdk_descriptor().replace('createType="monolithicSparse"\n', "")
        ),
        "vmdk",
        {"vmdk.create_type"},
    ),
    "vmdk_two_extents": (
        lambda c: vmdk_set_descriptor(
            c.img("vmdk_sparse_ide"),
            vmdk_descriptor(extents='RW 32768 SPARSE "disk.vmdk"\nRW 2048 FLAT "disk2.vmdk" 0'),
        ),
        "vmdk",
        {"vmdk.extent"},
    ),
    "vmdk_extent_path": (
        lambda c: vmdk_set_descriptor(
            c.img("vmdk_sparse_ide"), vmdk_descriptor(extents='RW 32768 SPARSE "../../etc/disk.vmdk"')
        ),
        "vmdk",
        {"vmdk.extent"},
    ),
    "vmdk_no_extent": (
        lambda c: vmdk_set_descriptor(c.img("vmdk_sparse_ide"), vmdk_descriptor(extents="")),
        "vmdk",
        {"vmdk.extent"},
    ),
    "vmdk_garbage_descriptor_line": (
        lambda c: vmdk_set_descriptor(c.img("vmdk_sparse_ide"), vmdk_descriptor(extra="this is not vmdk")),
        "vmdk",
        {"vmdk.descriptor"},
    ),
    "vmdk_descriptor_elsewhere": (
        lambda c: put(c.img("vmdk_sparse_ide"), 28, "<Q", 2),
        "vmdk",
        {"vmdk.descriptor"},
    ),
    "vmdk_version_4": (lambda c: put(c.img("vmdk_sparse_ide"), 4, "<I", 4), "vmdk", {"vmdk.version"}),
    "vmdk_grain_not_power_of_two": (
        lambda c: put(c.img("vmdk_sparse_ide"), 20, "<Q", 100),
        "vmdk",
        {"vmdk.geometry"},
    ),
    "vmdk_stream_footer_mismatch": (streamopt_footer_mismatch, "vmdk", {"vmdk.footer"}),
    "vmdk_stream_gd_at_end_without_footer": (streamopt_no_footer, "vmdk", {"vmdk.footer"}),
    "vmdk_truncated": (lambda c: c.img("vmdk_sparse_data")[:4096], "vmdk", {"truncated"}),
    "vmdk_cowd": (lambda c: cowd(), "vmdk", {"vmdk.cowd"}),
    "vmdk_cowd_claimed_raw": (lambda c: cowd(), "raw", {"vmdk.cowd", "format_mismatch"}),
    "vmdk_text_descriptor": (lambda c: TEXT_DESCRIPTOR.encode(), "vmdk", {"vmdk.text_descriptor"}),
    "vmdk_text_descriptor_claimed_raw": (
        lambda c: b"\n  # comment\n" + TEXT_DESCRIPTOR.encode().split(b"\n", 1)[1],
        "raw",
        {"vmdk.text_descriptor", "format_mismatch"},
    ),
    "vmdk_text_descriptor_claiming_monolithic_sparse": (
        lambda c: TEXT_DESCRIPTOR.replace("monolithicFlat", "monolithicSparse").encode(),
        "vmdk",
        {"vmdk.text_descriptor"},
    ),
    # --- vhd -----------------------------------------------------------------------
    "vhd_differencing": (vhd_differencing, "vhd", {"vhd.differencing"}),
    "vhd_dynamic_with_parent_locator": (
        lambda c: vhd_patch_footers(vhd_differencing(c), lambda f: put(f, 60, ">I", 3)),
        "vhd",
        {"vhd.differencing"},
    ),
    "vhd_bad_checksum": (
        lambda c: vhd_patch_footers(c.img("vhd_dynamic"), lambda f: put(f, 24, ">I", 12345), fix=False),
        "vhd",
        {"vhd.checksum"},
    ),
    "vhd_fixed_bad_checksum": (
        lambda c: (lambda b: put(b, len(b) - 512 + 24, ">I", 12345))(c.img("vhd_fixed")),
        "vhd",
        {"vhd.checksum"},
    ),
    "vhd_cut_to_footer_copy": (lambda c: c.img("vhd_dynamic")[:512], "vhd", {"truncated"}),
    "vhd_missing_trailing_footer": (lambda c: c.img("vhd_dynamic")[:-512], "vhd", {"truncated"}),
    "vhd_trailing_footer_differs": (
        lambda c: (lambda b: (put(b, len(b) - 512 + 24, ">I", 7), vhd_fix(b, len(b) - 512), b)[-1])(
            c.img("vhd_dynamic")
        ),
        "vhd",
        {"vhd.footer"},
    ),
    "vhd_unknown_disk_type": (
        lambda c: vhd_patch_footers(c.img("vhd_dynamic"), lambda f: put(f, 60, ">I", 5)),
        "vhd",
        {"vhd.disk_type"},
    ),
    "vhd_fixed_claimed_raw": (lambda c: c.img("vhd_fixed"), "raw", {"format_mismatch"}),
    "vhd_dynamic_claimed_raw": (lambda c: c.img("vhd_dynamic"), "raw", {"format_mismatch"}),
    "vhd_fixed_truncated": (
        lambda c: (lambda b: b[:1048576] + b[-512:])(c.img("vhd_fixed")),
        "vhd",
        {"truncated"},
    ),
    # --- vhdx ----------------------------------------------------------------------
    "vhdx_has_parent": (vhdx_parent, "vhdx", {"vhdx.parent"}),
    "vhdx_log_needs_replay": (vhdx_log, "vhdx", {"vhdx.log"}),
    "vhdx_region_table_checksum": (
        lambda c: (lambda b: (b.__setitem__(192 * 1024 + 100, 1), b)[-1])(c.img("vhdx")),
        "vhdx",
        {"vhdx.region_table"},
    ),
    "vhdx_both_headers_bad": (
        lambda c: (lambda b: (b.__setitem__(65536 + 300, 9), b.__setitem__(131072 + 300, 9), b)[-1])(
            c.img("vhdx")
        ),
        "vhdx",
        {"vhdx.header"},
    ),
    "vhdx_virtual_size_unaligned": (lambda c: vhdx_vds(c, 16 * 1024 * 1024 + 1), "vhdx", {"vhdx.geometry"}),
    "vhdx_virtual_size_beyond_bat": (lambda c: vhdx_vds(c, 4 * 2**40), "vhdx", {"vhdx.geometry"}),
    "vhdx_truncated": (lambda c: c.img("vhdx")[: 2 * 1024 * 1024 + 4096], "vhdx", {"truncated"}),
    "vhdx_claimed_raw": (lambda c: c.img("vhdx"), "raw", {"format_mismatch"}),
    # --- vdi -----------------------------------------------------------------------
    "vdi_differencing_type": (lambda c: put(c.img("vdi"), 0x4C, "<I", 4), "vdi", {"vdi.differencing"}),
    "vdi_parent_uuid": (
        lambda c: (lambda b: (b.__setitem__(slice(0x1B8, 0x1C8), uuid.uuid4().bytes), b)[-1])(c.img("vdi")),
        "vdi",
        {"vdi.differencing"},
    ),
    "vdi_bad_block_size": (lambda c: put(c.img("vdi"), 0x178, "<I", 4096), "vdi", {"vdi.header"}),
    "vdi_truncated_block_map": (lambda c: c.img("vdi")[:600], "vdi", {"truncated"}),
    "vdi_claimed_raw": (lambda c: c.img("vdi"), "raw", {"format_mismatch"}),
    # --- luks / parallels / others -----------------------------------------------------
    "luks_claimed_raw": (lambda c: c.img("luks"), "raw", {"luks.encrypted", "format_mismatch"}),
    "parallels_claimed_raw": (lambda c: c.img("parallels"), "raw", {"format_mismatch"}),
    "parallels_bad_version": (lambda c: put(c.img("parallels"), 16, "<I", 3), "ploop", {"parallels.header"}),
    "parallels_dirty": (
        lambda c: put(c.img("parallels"), 44, "<I", 0x746F6E59),
        "ploop",
        {"parallels.dirty"},
    ),
    "qcow2_claimed_raw": (lambda c: c.img("qcow2_v3"), "raw", {"format_mismatch"}),
    "vmdk_claimed_raw": (lambda c: c.img("vmdk_sparse_ide"), "raw", {"format_mismatch"}),
    "iso_claimed_raw": (lambda c: build_iso(), "raw", {"format_mismatch"}),
    "bochs_claimed_raw": (
        lambda c: b"Bochs Virtual HD Image\0".ljust(65536, b"\0"),
        "raw",
        {"unsupported_format", "format_mismatch"},
    ),
    "cloop_claimed_raw": (
        lambda c: b"#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0\n".ljust(65536, b"\0"),
        "raw",
        {"unsupported_format", "format_mismatch"},
    ),
    "dmg_claimed_raw": (dmg_trailer, "raw", {"unsupported_format", "format_mismatch"}),
    # --- polyglots -------------------------------------------------------------------
    "polyglot_qcow2_iso_claimed_qcow2": (qcow2_with_iso, "qcow2", {"polyglot"}),
    "polyglot_qcow2_iso_claimed_iso": (qcow2_with_iso, "iso", {"polyglot", "format_mismatch"}),
    "polyglot_qcow2_mbr": (
        lambda c: (lambda b: (b.__setitem__(slice(510, 512), b"\x55\xaa"), b)[-1])(c.img("qcow2_v3")),
        "qcow2",
        {"polyglot"},
    ),
    "polyglot_iso_with_vmdk_descriptor": (
        iso_with_descriptor,
        "iso",
        {"polyglot", "format_mismatch", "vmdk.text_descriptor"},
    ),
    "polyglot_fixed_vhd_holding_qcow2": (vhd_fixed_holding_qcow2, "vhd", {"polyglot", "format_mismatch"}),
    "polyglot_vmdk_with_vhd_footer": (
        lambda c: c.img("vmdk_sparse_data") + c.img("vhd_fixed")[-512:],
        "vmdk",
        {"polyglot"},
    ),
    # --- iso / gpt / kernel ----------------------------------------------------------
    "iso_truncated": (lambda c: build_iso()[: 40 * 1024], "iso", {"truncated"}),
    "iso_bad_block_size": (
        lambda c: put(bytearray(build_iso()), 32768 + 128, "<H", 3),
        "iso",
        {"iso.descriptor"},
    ),
    "gpt_bad_boot_flag": (
        lambda c: gpt_mbr(bytes([0x7F, 0, 2, 0, 0x83, 0, 0, 0]) + struct.pack("<II", 2048, 4096)),
        "raw",
        {"gpt.mbr"},
    ),
    "gpt_empty_partition_table": (lambda c: gpt_mbr(bytes(16)), "raw", {"gpt.mbr"}),
    "gpt_hybrid_mbr": (lambda c: build_gpt(hybrid=True), "raw", {"gpt.mbr"}),
    "gpt_protective_wrong_start": (
        lambda c: put(bytearray(build_gpt()), 446 + 8, "<I", 63),
        "raw",
        {"gpt.mbr"},
    ),
    "gpt_header_crc": (lambda c: gpt_bad_header_crc(), "raw", {"gpt.header"}),
    "gpt_truncated": (lambda c: build_gpt()[: 2048 * 512], "raw", {"truncated"}),
    "not_a_kernel_claimed_aki": (
        lambda c: (lambda k: (k.__setitem__(slice(0x202, 0x206), b"XXXX"), k)[-1])(bytearray(build_kernel())),
        "aki",
        {"gpt.mbr", "format_mismatch"},
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_refused_with_exact_checks(corpus, workdir, name):
    builder, claim, expected = CASES[name]
    data = bytes(builder(Ctx(corpus, workdir, name)))
    verdict = inspect_bytes(data)
    assert not any(f.check == "inspection_error" for f in verdict.failures)
    untrimmed = Inspector(trim_head=False)
    untrimmed.feed(data)
    assert untrimmed.finish() == verdict
    with pytest.raises(FormatRefused) as ei:
        judge(verdict, claim, SafetyPolicy())
    assert set(ei.value.checks) == expected, str(ei.value)


def test_case_count():
    assert len(CASES) >= 40


def test_expected_checks_are_known_names():
    for _, _, expected in CASES.values():
        assert expected <= CHECK_NAMES


def test_unknown_relaxed_check_is_a_configuration_error():
    with pytest.raises(ValueError, match="qcow2.backingfile"):
        SafetyPolicy(relaxed_checks=frozenset({"qcow2.backingfile"}))
