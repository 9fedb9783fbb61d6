"""Valid images: detected format and virtual size agree with qemu-img, and judge() accepts them."""

from __future__ import annotations

import logging

import pytest
from formats_helpers import qemu_info

from daguerre.formats import FormatRefused, Inspector, SafetyPolicy, inspect_file, judge

VALID = [
    "raw",
    "qcow2_v2",
    "qcow2_v3",
    "qcow2_data",
    "qcow2_compressed",
    "qcow2_small_clusters",
    "qcow2_2m_clusters",
    "qcow2_snapshots_bitmap",
    "vmdk_sparse_ide",
    "vmdk_sparse_lsilogic",
    "vmdk_sparse_buslogic",
    "vmdk_sparse_legacyESX",
    "vmdk_sparse_data",
    "vmdk_stream",
    "vmdk_stream_lsilogic",
    "vmdk_stream_footer",
    "vhd_dynamic",
    "vhd_dynamic_data",
    "vhd_fixed",
    "vhd_fixed_force_size",
    "vhd_fixed_gpt",
    "vhdx",
    "vhdx_data",
    "vhdx_big_blocks",
    "vdi",
    "vdi_static",
    "parallels",
    "iso",
    "iso_gpt_hybrid",
    "gpt",
    "kernel",
]
REFUSED_ANYWAY = {"qed": {"qed.banned"}, "luks": {"luks.encrypted"}}


@pytest.mark.parametrize("name", VALID + sorted(REFUSED_ANYWAY))
def test_detects_format_and_virtual_size_like_qemu(corpus, name):
    img = corpus[name]
    v = inspect_file(img.path)
    assert v.format == img.fmt
    info = qemu_info(img.path, img.qemu_fmt)
    assert v.virtual_size == info["virtual-size"]


@pytest.mark.parametrize("name", VALID)
def test_valid_images_are_accepted(corpus, name):
    img = corpus[name]
    v = inspect_file(img.path)
    assert v.failures == ()
    assert judge(v, img.claim, SafetyPolicy()) is v


@pytest.mark.parametrize("name", sorted(REFUSED_ANYWAY))
def test_qed_and_luks_are_refused_even_when_claimed(corpus, name):
    img = corpus[name]
    v = inspect_file(img.path)
    with pytest.raises(FormatRefused) as ei:
        judge(v, img.claim, SafetyPolicy())
    assert set(ei.value.checks) == REFUSED_ANYWAY[name]
    assert ei.value.detected == img.fmt


def test_facts(corpus):
    v2 = inspect_file(corpus["qcow2_v2"].path)
    assert v2.facts["qcow2_version"] == "2" and v2.facts["qcow2_compat"] == "0.10"
    v3 = inspect_file(corpus["qcow2_v3"].path)
    assert v3.facts["qcow2_version"] == "3" and v3.facts["qcow2_compat"] == "1.1"
    assert v3.facts["qcow2_cluster_size"] == "65536"
    s = inspect_file(corpus["vmdk_stream_lsilogic"].path)
    assert s.facts["vmdk_create_type"] == "streamOptimized"
    assert s.facts["vmdk_adapter_type"] == "lsilogic"
    m = inspect_file(corpus["vmdk_sparse_buslogic"].path)
    assert m.facts["vmdk_create_type"] == "monolithicSparse"
    assert m.facts["vmdk_adapter_type"] == "buslogic"
    assert inspect_file(corpus["vhd_fixed"].path).facts["vhd_disk_type"] == "fixed"
    assert inspect_file(corpus["vhd_dynamic"].path).facts["vhd_disk_type"] == "dynamic"
    assert inspect_file(corpus["kernel"].path).facts["kernel"] == "bzImage"
    assert inspect_file(corpus["iso_gpt_hybrid"].path).facts["iso_hybrid"] == "gpt"


@pytest.mark.parametrize(
    ("name", "claim"),
    [
        ("kernel", "aki"),
        ("kernel", "raw"),
        ("raw", "ami"),
        ("raw", "ari"),
        ("raw", "aki"),
        ("gpt", "raw"),
        ("gpt", "ami"),
        ("parallels", "ploop"),
        ("iso_gpt_hybrid", "iso"),
    ],
)
def test_claims_that_accept_other_detections(corpus, name, claim):
    v = inspect_file(corpus[name].path)
    assert judge(v, claim, SafetyPolicy()) is v


def test_raw_inspection_is_refused_for_kernel_claimed_as_iso(corpus):
    v = inspect_file(corpus["kernel"].path)
    with pytest.raises(FormatRefused) as ei:
        judge(v, "iso", SafetyPolicy())
    assert ei.value.checks == ("format_mismatch",)


def test_empty_stream_is_raw():
    v = Inspector().finish()
    assert (v.format, v.virtual_size, v.failures) == ("raw", 0, ())


def test_vmdk_allowed_types_policy(corpus):
    v = inspect_file(corpus["vmdk_stream"].path)
    policy = SafetyPolicy(vmdk_allowed_types=frozenset({"monolithicSparse"}))
    with pytest.raises(FormatRefused) as ei:
        judge(v, "vmdk", policy)
    assert ei.value.checks == ("vmdk.create_type",)
    # the inspector applies its own policy too
    v2 = inspect_file(corpus["vmdk_stream"].path, policy)
    assert v2.checks == ("vmdk.create_type",)


def test_virtual_size_limit_is_policy(corpus):
    v = inspect_file(corpus["qcow2_v3"].path)
    with pytest.raises(FormatRefused) as ei:
        judge(v, "qcow2", SafetyPolicy(max_virtual_size=8 * 1024 * 1024))
    assert ei.value.checks == ("virtual_size_limit",)
    assert judge(v, "qcow2", SafetyPolicy(max_virtual_size=16 * 1024 * 1024)) is v


def test_relaxed_check_is_logged_not_silent(corpus, caplog):
    v = inspect_file(corpus["qcow2_v3"].path)
    policy = SafetyPolicy(max_virtual_size=1, relaxed_checks=frozenset({"virtual_size_limit"}))
    with caplog.at_level(logging.WARNING, logger="daguerre.formats"):
        assert judge(v, "qcow2", policy) is v
    recs = [r for r in caplog.records if r.name == "daguerre.formats" and r.levelno == logging.WARNING]
    assert recs and "virtual_size_limit" in recs[0].getMessage()


def test_relaxing_one_check_keeps_the_others(corpus):
    v = inspect_file(corpus["qcow2_v3"].path)
    policy = SafetyPolicy(max_virtual_size=1, relaxed_checks=frozenset({"format_mismatch"}))
    with pytest.raises(FormatRefused) as ei:
        judge(v, "raw", policy)
    assert ei.value.checks == ("virtual_size_limit",)


def test_refusal_sentence_names_check_and_format(corpus):
    v = inspect_file(corpus["qcow2_v3"].path)
    with pytest.raises(FormatRefused) as ei:
        judge(v, "raw", SafetyPolicy())
    text = str(ei.value)
    assert "format_mismatch" in text and "qcow2" in text
    assert ei.value.detected == "qcow2"


def test_vhdx_with_stale_log_guid_but_no_entries_is_accepted(corpus, tmp_path):
    """Hyper-V may leave a non-zero log GUID on a cleanly closed file; qemu opens it."""
    from test_formats_malicious import Ctx, vhdx_log

    p = tmp_path / "stale.vhdx"
    p.write_bytes(vhdx_log(Ctx(corpus, tmp_path, "stale"), entry=False))
    v = inspect_file(p)
    assert v.failures == () and v.virtual_size == qemu_info(p, "vhdx")["virtual-size"]
