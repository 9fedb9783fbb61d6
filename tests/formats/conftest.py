"""Fixtures for the formats tests: a small corpus of valid images made with
qemu-img (session-scoped, in a tmp dir) plus hand-built ISO / GPT / kernel."""

from __future__ import annotations

from pathlib import Path

import pytest
from formats_helpers import (
    QEMU_IMG,
    Image,
    MiB,
    build_gpt,
    build_iso,
    build_kernel,
    build_luks1,
    qemu_img,
    vmdk_gd_at_end,
)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Image]:
    if QEMU_IMG is None:
        pytest.skip("qemu-img is not installed")
    d = tmp_path_factory.mktemp("corpus")
    images: dict[str, Image] = {}

    def add(name: str, claim: str, qemu_fmt: str, fmt: str, *create: str, path: Path | None = None) -> None:
        p = path or d / name
        if create:
            qemu_img(*create[:-1], str(p), create[-1]) if create[0] == "create" else qemu_img(*create, str(p))
        images[name] = Image(name, p, claim, qemu_fmt, fmt)

    data = d / "data.raw"
    with open(data, "wb") as fh:
        for i in range(48):
            fh.write(bytes([(i * 37) & 0xFF]) * 4096 + b"daguerre" * 512)
        fh.truncate(4 * MiB)
    images["raw"] = Image("raw", data, "raw", "raw", "raw")
    add("qcow2_v2", "qcow2", "qcow2", "qcow2", "create", "-q", "-f", "qcow2", "-o", "compat=0.10", "16M")
    add("qcow2_v3", "qcow2", "qcow2", "qcow2", "create", "-q", "-f", "qcow2", "16M")
    add("qcow2_data", "qcow2", "qcow2", "qcow2", "convert", "-O", "qcow2", str(data))
    add("qcow2_compressed", "qcow2", "qcow2", "qcow2", "convert", "-c", "-O", "qcow2", str(data))
    add(
        "qcow2_small_clusters",
        "qcow2",
        "qcow2",
        "qcow2",
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        "cluster_size=512",
        "3M",
    )
    add(
        "qcow2_2m_clusters",
        "qcow2",
        "qcow2",
        "qcow2",
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        "cluster_size=2M",
        "1G",
    )
    snap = d / "qcow2_snapshots_bitmap"
    qemu_img("create", "-q", "-f", "qcow2", str(snap), "16M")
    qemu_img("snapshot", "-c", "s1", str(snap))
    qemu_img("bitmap", "--add", str(snap), "b0")
    images["qcow2_snapshots_bitmap"] = Image("qcow2_snapshots_bitmap", snap, "qcow2", "qcow2", "qcow2")
    add("qed", "qed", "qed", "qed", "create", "-q", "-f", "qed", "16M")
    for adapter in ("ide", "lsilogic", "buslogic", "legacyESX"):
        add(
            f"vmdk_sparse_{adapter}", "vmdk", "vmdk", "vmdk",
            "create", "-q", "-f", "vmdk", "-o", f"adapter_type={adapter}", "16M",
        )  # fmt: skip
    add("vmdk_sparse_data", "vmdk", "vmdk", "vmdk", "convert", "-O", "vmdk", str(data))
    add(
        "vmdk_stream",
        "vmdk",
        "vmdk",
        "vmdk",
        "create",
        "-q",
        "-f",
        "vmdk",
        "-o",
        "subformat=streamOptimized",
        "16M",
    )
    add(
        "vmdk_stream_lsilogic", "vmdk", "vmdk", "vmdk",
        "convert", "-O", "vmdk", "-o", "subformat=streamOptimized,adapter_type=lsilogic", str(data),
    )  # fmt: skip
    add("vhd_dynamic", "vhd", "vpc", "vhd", "create", "-q", "-f", "vpc", "16M")
    add("vhd_dynamic_data", "vhd", "vpc", "vhd", "convert", "-O", "vpc", str(data))
    add("vhd_fixed", "vhd", "vpc", "vhd", "create", "-q", "-f", "vpc", "-o", "subformat=fixed", "16M")
    add(
        "vhd_fixed_force_size",
        "vhd",
        "vpc",
        "vhd",
        "create",
        "-q",
        "-f",
        "vpc",
        "-o",
        "subformat=fixed,force_size=on",
        "5M",
    )
    add("vhdx", "vhdx", "vhdx", "vhdx", "create", "-q", "-f", "vhdx", "16M")
    add("vhdx_data", "vhdx", "vhdx", "vhdx", "convert", "-O", "vhdx", str(data))
    add(
        "vhdx_big_blocks",
        "vhdx",
        "vhdx",
        "vhdx",
        "create",
        "-q",
        "-f",
        "vhdx",
        "-o",
        "block_size=32M,log_size=4M",
        "1G",
    )
    add("vdi", "vdi", "vdi", "vdi", "create", "-q", "-f", "vdi", "16M")
    add("vdi_static", "vdi", "vdi", "vdi", "create", "-q", "-f", "vdi", "-o", "static=on", "4M")
    add("parallels", "ploop", "parallels", "parallels", "create", "-q", "-f", "parallels", "16M")
    try:
        add(
            "luks", "luks", "luks", "luks",
            "create", "-q", "-f", "luks", "--object", "secret,id=s0,data=daguerre",
            "-o", "key-secret=s0,iter-time=100", "1M",
        )  # fmt: skip
    except RuntimeError:  # "Unable to get accurate CPU usage" on some kernels
        (d / "luks").write_bytes(build_luks1())
        images["luks"] = Image("luks", d / "luks", "luks", "luks", "luks")
    iso = d / "tiny.iso"
    iso.write_bytes(build_iso())
    images["iso"] = Image("iso", iso, "iso", "raw", "iso")
    gpt = d / "disk.gpt"
    gpt.write_bytes(build_gpt())
    images["gpt"] = Image("gpt", gpt, "raw", "raw", "gpt")
    # a fixed VHD's payload is a raw disk: a partition table inside is no polyglot
    add(
        "vhd_fixed_gpt",
        "vhd",
        "vpc",
        "vhd",
        "convert",
        "-f",
        "raw",
        "-O",
        "vpc",
        "-o",
        "subformat=fixed",
        str(gpt),
    )
    hybrid = d / "hybrid.iso"
    hybrid.write_bytes(build_gpt(base=build_iso()))
    images["iso_gpt_hybrid"] = Image("iso_gpt_hybrid", hybrid, "iso", "raw", "iso")
    kernel = d / "vmlinuz"
    kernel.write_bytes(build_kernel())
    images["kernel"] = Image("kernel", kernel, "aki", "raw", "raw")
    stream = d / "stream_footer.vmdk"
    stream.write_bytes(vmdk_gd_at_end(images["vmdk_stream_lsilogic"].read()))
    images["vmdk_stream_footer"] = Image("vmdk_stream_footer", stream, "vmdk", "vmdk", "vmdk")
    return images


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("work")
