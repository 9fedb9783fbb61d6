"""The verdict does not depend on how the bytes are chunked, and memory stays bounded."""

from __future__ import annotations

import tracemalloc

import pytest
from formats_helpers import vmdk_gd_at_end
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daguerre.formats import MAX_RETAINED, Inspector, Verdict, inspect_file

MiB = 1024 * 1024


def feed_in(data: bytes, sizes) -> Verdict:
    ins = Inspector()
    pos = 0
    it = iter(sizes)
    while pos < len(data):
        n = next(it)
        ins.feed(memoryview(data)[pos : pos + n])
        pos += n
        assert ins.retained_bytes() <= MAX_RETAINED
    return ins.finish()


def const(n):
    while True:
        yield n


SMALL = [
    "qcow2_v3",
    "qcow2_v2",
    "vhd_dynamic",
    "vdi",
    "iso",
    "vmdk_stream",
    "kernel",
    "qed",
    "vmdk_sparse_ide",
]
LARGE = ["vhdx", "vhdx_data", "vmdk_stream_footer", "vhd_fixed", "qcow2_2m_clusters", "iso_gpt_hybrid", "gpt"]


@pytest.mark.parametrize("name", SMALL)
def test_one_byte_chunks_match(corpus, name):
    data = corpus[name].read()
    assert len(data) <= 400 * 1024
    ref = inspect_file(corpus[name].path)
    assert feed_in(data, const(1)) == ref
    assert feed_in(data, const(7)) == ref


@pytest.mark.parametrize("name", SMALL + LARGE)
@pytest.mark.parametrize("chunk", [997, 65537, 4 * MiB, 4 * MiB + 3])
def test_odd_and_large_chunks_match(corpus, name, chunk):
    data = corpus[name].read()
    assert feed_in(data, const(chunk)) == inspect_file(corpus[name].path)


def test_chunking_matters_not_for_refusals(corpus):
    """A malformed image too: VMDK stream whose footer lies."""
    data = bytearray(vmdk_gd_at_end(corpus["vmdk_stream_lsilogic"].read()))
    data[-1024 + 12] ^= 1
    ref = feed_in(bytes(data), const(4 * MiB))
    assert ref.checks == ("vmdk.footer",)
    assert feed_in(bytes(data), const(1)) == ref
    assert feed_in(bytes(data), const(513)) == ref


_REF: dict[str, Verdict] = {}


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    name=st.sampled_from(
        ["vhdx", "vmdk_stream_footer", "vhd_dynamic_data", "qcow2_compressed", "iso_gpt_hybrid"]
    ),
    cuts=st.lists(st.floats(0, 1), min_size=1, max_size=40),
)
def test_random_chunk_boundaries(corpus, name, cuts):
    data = corpus[name].read()
    if name not in _REF:
        _REF[name] = inspect_file(corpus[name].path)
    points = sorted({0, len(data), *(int(c * len(data)) for c in cuts)})
    sizes = [b - a for a, b in zip(points, points[1:], strict=False)]
    assert feed_in(data, iter(sizes)) == _REF[name]


def test_bytes_bytearray_memoryview_inputs(corpus):
    data = corpus["qcow2_v3"].read()
    ref = inspect_file(corpus["qcow2_v3"].path)
    for conv in (bytes, bytearray, memoryview):
        ins = Inspector()
        ins.feed(conv(data))
        assert ins.finish() == ref


def test_feed_after_finish_is_an_error():
    ins = Inspector()
    ins.finish()
    with pytest.raises(RuntimeError):
        ins.feed(b"x")


def test_retained_memory_is_bounded_on_a_long_stream():
    chunk = bytes(range(256)) * (4 * 4096 + 1)  # odd-sized, non-zero
    ins = Inspector()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(40):
            ins.feed(chunk)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert ins.retained_bytes() <= MAX_RETAINED
    assert peak <= MAX_RETAINED + 256 * 1024
    v = ins.finish()
    assert v.format == "raw" and v.virtual_size == 40 * len(chunk)


@pytest.mark.parametrize(
    ("name", "bound"), [("qcow2_v3", 64 * 1024), ("vhdx", 320 * 1024), ("raw", 64 * 1024)]
)
def test_head_is_trimmed_to_what_the_format_needs(corpus, name, bound):
    data = corpus[name].read()
    if name == "qcow2_v3":
        data += bytes(3 * MiB)  # as if clusters followed
    assert len(data) > 2 * MiB + 64 * 1024
    ins = Inspector()
    ins.feed(data[: 3 * MiB])
    assert ins.retained_bytes() <= bound + 16 * 1024 + 64 * 1024
    ins.feed(data[3 * MiB :])
    untrimmed = Inspector(trim_head=False)
    untrimmed.feed(data)
    assert ins.finish() == untrimmed.finish()


@pytest.mark.parametrize("name", sorted(["qcow2_v3", "vmdk_sparse_data", "vhd_dynamic_data", "vhdx_data", "vdi_static",
                                         "iso_gpt_hybrid", "gpt", "qcow2_2m_clusters", "vmdk_stream_footer"]))  # fmt: skip
def test_trimmed_and_untrimmed_agree(corpus, name):
    data = corpus[name].read()
    a, b = Inspector(), Inspector(trim_head=False)
    a.feed(data)
    b.feed(data)
    assert a.finish() == b.finish()
