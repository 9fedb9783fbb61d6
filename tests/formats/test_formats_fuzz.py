"""Fuzzing every inspector with mutated headers.

Budget: DAGUERRE_FUZZ_EXAMPLES examples per test (default small, so the suite
stays fast); ``make fuzz`` raises it.
"""

from __future__ import annotations

import os
import struct
from datetime import timedelta

import pytest
from formats_helpers import build_kernel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daguerre.formats import CHECK_NAMES, MAX_RETAINED, FormatRefused, Inspector, SafetyPolicy, Verdict, judge

EXAMPLES = int(os.environ.get("DAGUERRE_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=10),
    database=None,
    suppress_health_check=list(HealthCheck),
)
KiB = 1024
MiB = 1024 * KiB

# (corpus image or builder, claim, regions worth mutating as (start, length); negative start = from EOF)
TARGETS: dict[str, tuple[str, list[tuple[int, int]]]] = {
    "qcow2_v2": ("qcow2", [(0, 512), (65536, 64)]),
    "qcow2_v3": ("qcow2", [(0, 512), (196608, 16)]),
    "qcow2_compressed": ("qcow2", [(0, 256)]),
    "qed": ("qed", [(0, 128)]),
    "vmdk_sparse_lsilogic": ("vmdk", [(0, 512), (512, 1024)]),
    "vmdk_stream": ("vmdk", [(0, 512), (512, 512)]),
    "vmdk_stream_footer": ("vmdk", [(0, 128), (-1536, 1536)]),
    "vhd_dynamic": ("vhd", [(0, 512), (512, 1024), (-512, 512)]),
    "vhd_fixed": ("vhd", [(-512, 512), (0, 512)]),
    "vhdx": ("vhdx", [(0, 64), (64 * KiB, 128), (128 * KiB, 128), (192 * KiB, 256), (3 * MiB, 512)]),
    "vdi": ("vdi", [(0, 512)]),
    "parallels": ("ploop", [(0, 64)]),
    "luks": ("luks", [(0, 592)]),
    "iso": ("iso", [(32 * KiB, 2048), (0, 512)]),
    "iso_gpt_hybrid": ("iso", [(0, 1024), (32 * KiB, 256)]),
    "gpt": ("raw", [(0, 1024), (1024, 256), (-512, 512)]),
    "kernel": ("aki", [(0, 1024)]),
}

INTERESTING = [0, 1, 2, 3, 4, 7, 8, 9, 0x10, 0x200, 0x1000, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF,
               0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 2**32, 2**40, 2**62, 2**63, 2**64 - 1, 2**64 - 512]  # fmt: skip

_cache: dict[str, bytes] = {}


def image_bytes(corpus, name: str) -> bytes:
    if name not in _cache:
        _cache[name] = corpus[name].read()
    return _cache[name]


def mutation(length: int):
    overwrite = st.tuples(
        st.just("bytes"), st.integers(0, max(0, length - 1)), st.binary(min_size=1, max_size=8)
    )
    ints = st.tuples(
        st.just("int"),
        st.integers(0, max(0, length - 1)),
        st.tuples(st.sampled_from(["<I", ">I", "<Q", ">Q", "<H", ">H"]), st.sampled_from(INTERESTING)),
    )
    flip = st.tuples(st.just("flip"), st.integers(0, max(0, length - 1)), st.integers(0, 7))
    return st.one_of(overwrite, ints, flip)


def apply(buf: bytearray, region: tuple[int, int], m) -> None:
    start, length = region
    base = len(buf) + start if start < 0 else start
    kind, off, val = m
    pos = base + off
    if kind == "bytes":
        buf[pos : pos + len(val)] = val
    elif kind == "int":
        fmt, v = val
        size = struct.calcsize(fmt)
        if pos + size <= len(buf):
            struct.pack_into(fmt, buf, pos, v & ((1 << (8 * size)) - 1))
    else:
        if pos < len(buf):
            buf[pos] ^= 1 << val


def run(buf: bytes, claim: str, chunk: int) -> Verdict:
    ins = Inspector()
    mv = memoryview(buf)
    peak = 0
    for i in range(0, len(buf), chunk):
        ins.feed(mv[i : i + chunk])
        peak = max(peak, ins.retained_bytes())
    v = ins.finish()
    assert isinstance(v, Verdict)
    assert peak <= MAX_RETAINED
    assert not [f for f in v.failures if f.check == "inspection_error"], v.failures
    assert {f.check for f in v.failures} <= CHECK_NAMES
    assert v.virtual_size is None or isinstance(v.virtual_size, int)
    assert all(isinstance(k, str) and isinstance(x, str) for k, x in v.facts.items())
    # trimming the head once it is complete never changes the verdict
    untrimmed = Inspector(trim_head=False)
    untrimmed.feed(buf)
    assert untrimmed.finish() == v
    try:
        judge(v, claim, SafetyPolicy())
    except FormatRefused as exc:
        assert exc.failures and str(exc)
    return v


@pytest.mark.parametrize("name", sorted(TARGETS))
@FUZZ
@given(data=st.data())
def test_mutated_headers_only_yield_verdicts(corpus, name, data):
    claim, regions = TARGETS[name]
    buf = bytearray(image_bytes(corpus, name))
    size = len(buf)
    muts = data.draw(
        st.lists(
            st.integers(0, len(regions) - 1).flatmap(
                lambda r: st.tuples(st.just(r), mutation(regions[r][1]))
            ),
            min_size=1,
            max_size=12,
        )
    )
    for r, m in muts:
        apply(buf, regions[r], m)
    assert len(buf) >= size
    del buf[size:]
    if data.draw(st.booleans()):
        buf = buf[: data.draw(st.integers(0, size))]
    chunk = data.draw(st.sampled_from([4 * MiB, 65536, 4099] + ([1, 13] if size <= 64 * KiB else [])))
    run(bytes(buf), claim, chunk)


@FUZZ
@given(
    prefix=st.sampled_from(
        [
            b"QFI\xfb",
            b"QED\x00",
            b"KDMV",
            b"COWD",
            b"vhdxfile",
            b"conectix",
            b"LUKS\xba\xbe",
            b"WithoutFreeSpace",
            b"WithouFreSpacExt",
            b"version=1\n",
            b"# Disk DescriptorFile\nversion=1\n",
        ]
    ),  # fmt: skip
    body=st.binary(max_size=4096),
    tail=st.sampled_from([b"", b"conectix", b"koly", b"\x55\xaa"]),
    pad=st.integers(0, 70000),
)
def test_random_bytes_behind_magics(prefix, body, tail, pad):
    buf = prefix + body + bytes(pad)
    if tail == b"conectix":
        buf += tail + bytes(504)
    elif tail == b"koly":
        buf += tail + bytes(508)
    elif tail:
        buf = buf[:510].ljust(510, b"\0") + tail + buf[512:]
    run(buf, "raw", 4099)


@FUZZ
@given(st.binary(min_size=0, max_size=2048), st.integers(0, 0x8000))
def test_kernel_like_boot_sectors(body, where):
    k = bytearray(build_kernel(48 * KiB))
    k[where : where + len(body)] = body
    run(bytes(k[: 48 * KiB]), "aki", 65536)
