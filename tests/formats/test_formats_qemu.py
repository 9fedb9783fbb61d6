"""qemu.py: info/convert on real images, format pinned, limits applied, recheck_info."""

from __future__ import annotations

import os

import pytest
from formats_helpers import qemu_img

from daguerre.formats import FormatRefused, SafetyPolicy, inspect_file
from daguerre.formats import qemu as q
from daguerre.formats.qemu import QemuError, QemuLimits, qemu_img_convert, qemu_img_info, recheck_info

MiB = 1024 * 1024


async def test_info_on_real_images(corpus):
    for name in ("qcow2_v3", "vmdk_stream", "vhd_dynamic", "vhdx", "vdi", "parallels"):
        img = corpus[name]
        info = await qemu_img_info(img.path, img.claim)
        assert info["format"] == img.qemu_fmt
        assert info["virtual-size"] == inspect_file(img.path).virtual_size
        recheck_info(info, img.claim, SafetyPolicy())


async def test_format_is_pinned_never_probed(corpus):
    img = corpus["qcow2_v3"]
    info = await qemu_img_info(img.path, "raw")
    assert info["format"] == "raw"
    assert info["virtual-size"] == -(-os.path.getsize(img.path) // 512) * 512
    with pytest.raises(FormatRefused) as ei:
        recheck_info(info, "qcow2", SafetyPolicy())
    assert ei.value.checks == ("format_mismatch",)


async def test_fixed_vhd_is_read_as_vpc_only_when_asked(corpus):
    img = corpus["vhd_fixed"]
    assert (await qemu_img_info(img.path, "vhd"))["format"] == "vpc"
    assert (await qemu_img_info(img.path, "raw"))["format"] == "raw"


async def test_info_failure_is_qemu_error(tmp_path):
    p = tmp_path / "junk.qcow2"
    p.write_bytes(b"not a qcow2 at all" * 100)
    with pytest.raises(QemuError):
        await qemu_img_info(p, "qcow2")


async def test_recheck_refuses_backing_file(tmp_path):
    p = tmp_path / "child.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", "/etc/hostname", "-F", "raw", str(p), "1M")
    info = await qemu_img_info(p, "qcow2")
    with pytest.raises(FormatRefused) as ei:
        recheck_info(info, "qcow2", SafetyPolicy())
    assert ei.value.checks == ("qemu.backing_file",)


async def test_recheck_refuses_data_file(tmp_path):
    p = tmp_path / "df.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-o", f"data_file={tmp_path}/df.raw", str(p), "1M")
    info = await qemu_img_info(p, "qcow2")
    with pytest.raises(FormatRefused) as ei:
        recheck_info(info, "qcow2", SafetyPolicy())
    assert ei.value.checks == ("qemu.data_file",)


async def test_recheck_refuses_vmdk_create_type(tmp_path):
    p = tmp_path / "flat.vmdk"
    qemu_img("create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat", str(p), "1M")
    info = await qemu_img_info(p, "vmdk")
    with pytest.raises(FormatRefused) as ei:
        recheck_info(info, "vmdk", SafetyPolicy())
    assert set(ei.value.checks) == {"vmdk.create_type", "qemu.vmdk_extent"}


async def test_recheck_policy_types_and_relaxation(corpus, caplog):
    info = await qemu_img_info(corpus["vmdk_stream"].path, "vmdk")
    strict = SafetyPolicy(vmdk_allowed_types=frozenset({"monolithicSparse"}))
    with pytest.raises(FormatRefused):
        recheck_info(info, "vmdk", strict)
    relaxed = SafetyPolicy(
        vmdk_allowed_types=frozenset({"monolithicSparse"}), relaxed_checks=frozenset({"vmdk.create_type"})
    )
    recheck_info(info, "vmdk", relaxed)
    assert any("vmdk.create_type" in r.getMessage() for r in caplog.records if r.name == "daguerre.formats")


def test_recheck_on_synthetic_json():
    base = {"format": "qcow2", "virtual-size": 1 << 20, "filename": "x"}
    recheck_info(base, "qcow2", SafetyPolicy())
    for extra, check in [
        ({"backing-filename": "/etc/passwd"}, "qemu.backing_file"),
        ({"format-specific": {"type": "qcow2", "data": {"data-file": "/dev/sda"}}}, "qemu.data_file"),
        ({"encrypted": True}, "qemu.encrypted"),
        ({"virtual-size": 1 << 60}, "virtual_size_limit"),
    ]:
        with pytest.raises(FormatRefused) as ei:
            recheck_info({**base, **extra}, "qcow2", SafetyPolicy())
        assert ei.value.checks == (check,)
    with pytest.raises(FormatRefused) as ei:
        recheck_info({**base, "format": "raw"}, "ploop", SafetyPolicy())
    assert ei.value.checks == ("format_mismatch",)
    recheck_info({**base, "format": "parallels"}, "ploop", SafetyPolicy())
    recheck_info({**base, "format": "vpc"}, "vhd", SafetyPolicy())
    recheck_info({**base, "format": "raw"}, "iso", SafetyPolicy())


async def test_convert_roundtrip_with_progress(corpus, tmp_path):
    src = corpus["qcow2_data"]
    dst = tmp_path / "out.raw"
    seen: list[float] = []
    await qemu_img_convert(src.path, "qcow2", dst, "raw", QemuLimits(), progress=seen.append)
    assert dst.read_bytes() == corpus["raw"].read()
    assert seen and seen[-1] == 1.0 and all(0.0 <= x <= 1.0 for x in seen)
    assert seen == sorted(seen)


async def test_convert_keeps_zero_regions_sparse(tmp_path):
    src = tmp_path / "sparse.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", str(src), "256M")
    dst = tmp_path / "sparse.raw"
    await qemu_img_convert(src, "qcow2", dst, "raw", QemuLimits())
    st = os.stat(dst)
    assert st.st_size == 256 * MiB
    assert st.st_blocks * 512 < 4 * MiB


async def test_convert_to_qcow2_is_inspectable(corpus, tmp_path):
    dst = tmp_path / "out.qcow2"
    await qemu_img_convert(corpus["vhd_dynamic_data"].path, "vhd", dst, "qcow2", QemuLimits())
    v = inspect_file(dst)
    assert v.format == "qcow2" and v.failures == ()


async def test_wall_clock_limit_kills_convert_and_removes_dst(tmp_path):
    src = tmp_path / "big.raw"
    pattern = bytes(range(256)) * 4096
    with open(src, "wb") as fh:
        for _ in range(192):
            fh.write(pattern)
    dst = tmp_path / "big.qcow2"
    with pytest.raises(QemuError, match="wall-clock"):
        await qemu_img_convert(
            src, "raw", dst, "qcow2", QemuLimits(wall_seconds=0.05), progress=lambda f: None
        )
    assert not dst.exists()


async def test_convert_failure_removes_dst(tmp_path):
    src = tmp_path / "bad.qcow2"
    src.write_bytes(b"QFI\xfb" + bytes(1020))
    dst = tmp_path / "never.raw"
    with pytest.raises(QemuError):
        await qemu_img_convert(src, "qcow2", dst, "raw", QemuLimits())
    assert not dst.exists()


async def test_address_space_limit_applies(corpus):
    with pytest.raises(QemuError):
        await qemu_img_info(corpus["qcow2_v3"].path, "qcow2", QemuLimits(address_space=8 * MiB))


def test_limits_are_passed_to_the_child(monkeypatch):
    cmd, preexec = q._command(["info", "x"], QemuLimits(cpu_seconds=7, address_space=123456789))
    if preexec is None:
        assert "--cpu=7" in cmd and "--as=123456789" in cmd
        assert cmd.index("--") < cmd.index("info")
    monkeypatch.setattr(q.shutil, "which", lambda name: None if name == "prlimit" else f"/usr/bin/{name}")
    cmd, preexec = q._command(["info", "x"], QemuLimits())
    assert cmd[0].endswith("qemu-img") and callable(preexec)


async def test_cpu_limit_kills_child(monkeypatch):
    """RLIMIT_CPU really reaches the child: a busy shell loop instead of qemu-img dies of SIGXCPU."""
    monkeypatch.setattr(q, "QEMU_IMG", "sh")
    with pytest.raises(QemuError, match="resource limit|failed"):
        await q._run(["-c", "while :; do :; done"], QemuLimits(cpu_seconds=1, wall_seconds=20))


def test_unknown_disk_format_has_no_qemu_driver():
    with pytest.raises(QemuError):
        q.qemu_format("docker")
