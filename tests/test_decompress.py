"""Bounded streaming decompression: round trips, zip rules, bombs (with a memory bound)."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import struct
import tracemalloc
import zipfile
import zlib

import pytest
import zstandard

from daguerre.decompress import OUT_CHUNK, DecompressionRefused, DecompressLimits, decompress, sniff

MiB = 1024 * 1024
GiB = 1024 * MiB
LIMITS = DecompressLimits(max_output=GiB)

DATA = os.urandom(200_000) + b"disk image " * 300_000 + bytes(3 * MiB) + os.urandom(50_000)


async def chunked(data: bytes, size: int = 65536):
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def run(data: bytes, kind: str, limits: DecompressLimits = LIMITS, size: int = 65536) -> bytes:
    pieces = [piece async for piece in decompress(chunked(data, size), kind, limits)]
    assert all(0 < len(p) <= OUT_CHUNK for p in pieces)
    return b"".join(pieces)


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED, **kwargs) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method, **kwargs) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


class Unseekable(io.RawIOBase):
    """zipfile writes data descriptors (flag bit 3) when the output cannot seek."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.buffer += b
        return len(b)


def streamed_zip(content: bytes, force_zip64: bool = False) -> bytes:
    out = Unseekable()
    with (
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("disk.raw", "w", force_zip64=force_zip64) as member,
    ):
        for i in range(0, len(content), MiB):
            member.write(content[i : i + MiB])
    return bytes(out.buffer)


# --- sniff -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "head, kind",
    [
        (gzip.compress(b"x")[:8], "gzip"),
        (bz2.compress(b"x")[:8], "bzip2"),
        (lzma.compress(b"x")[:8], "xz"),
        (zstandard.ZstdCompressor().compress(b"x")[:8], "zstd"),
        (zip_bytes({"a": b"x"})[:8], "zip"),
        (b"QFI\xfb\x00\x00\x00\x03", None),
        (b"", None),
        (b"BZh0", None),
        (b"PK\x05\x06", None),
        (b"\x1f\x8b", None),
    ],
)
def test_sniff(head, kind):
    assert sniff(head) == kind


# --- round trips -----------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 1000, 65536, 4 * MiB])
async def test_gzip_round_trip(size):
    data = DATA if size > 1 else DATA[:20000]
    assert await run(gzip.compress(data), "gzip", size=size) == data


async def test_gzip_multi_member():
    assert (
        await run(gzip.compress(DATA) + gzip.compress(b"tail") + gzip.compress(b""), "gzip") == DATA + b"tail"
    )


async def test_gzip_nul_padding_tolerated():
    assert await run(gzip.compress(b"abc") + bytes(1000), "gzip") == b"abc"


@pytest.mark.parametrize("size", [7, 65536, 4 * MiB])
async def test_bzip2_round_trip(size):
    data = DATA if size > 7 else DATA[:50000]
    assert await run(bz2.compress(data) + bz2.compress(b"second"), "bzip2", size=size) == data + b"second"


@pytest.mark.parametrize("size", [7, 65536, 4 * MiB])
async def test_xz_round_trip(size):
    data = DATA if size > 7 else DATA[:50000]
    assert await run(lzma.compress(data) + lzma.compress(b"second"), "xz", size=size) == data + b"second"


@pytest.mark.parametrize("size", [3, 65536, 4 * MiB])
async def test_zstd_round_trip(size):
    data = DATA if size > 3 else DATA[:50000]
    skippable = struct.pack("<II", 0x184D2A5E, 5) + b"hello"
    compressed = zstandard.ZstdCompressor(level=3, write_checksum=True).compress(data)
    compressed += skippable + zstandard.ZstdCompressor().compress(b"second")
    assert await run(compressed, "zstd", size=size) == data + b"second"


async def test_zstd_streamed_frames_without_content_size():
    compressor = zstandard.ZstdCompressor(level=1).compressobj()
    compressed = compressor.compress(DATA) + compressor.flush()
    assert await run(compressed, "zstd", size=1000) == DATA


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
@pytest.mark.parametrize("size", [5, 65536, 4 * MiB])
async def test_zip_one_member(method, size):
    data = DATA if size > 5 else DATA[:30000]
    assert await run(zip_bytes({"disk.raw": data}, method), "zip", size=size) == data


async def test_zip_with_data_descriptor_and_zip64():
    assert await run(streamed_zip(DATA), "zip") == DATA
    assert await run(streamed_zip(DATA, force_zip64=True), "zip") == DATA


async def test_zip_empty_member_and_comment():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("empty", b"")
        archive.comment = b"built by a test"
    assert await run(buffer.getvalue(), "zip") == b""


async def test_output_is_never_resniffed():
    inner = gzip.compress(DATA)
    assert await run(gzip.compress(inner), "gzip") == inner
    assert await run(zip_bytes({"inner.zip": zip_bytes({"a": b"x"})}), "zip") == zip_bytes({"a": b"x"})
    assert await run(zstandard.ZstdCompressor().compress(inner), "zstd") == inner


# --- zip refusals ----------------------------------------------------------------------


async def refused(data: bytes, kind: str, limits: DecompressLimits = LIMITS) -> str:
    with pytest.raises(DecompressionRefused) as info:
        await run(data, kind, limits)
    return str(info.value)


async def test_zip_two_members_refused():
    assert "more than one member" in await refused(zip_bytes({"a": b"x" * 1000, "b": b"y"}), "zip")
    assert "more than one member" in await refused(
        zip_bytes({"a": b"x", "b": b"y"}, zipfile.ZIP_STORED), "zip"
    )


async def test_zip_central_directory_listing_two_members_refused():
    one = zip_bytes({"a": b"x"}, zipfile.ZIP_STORED)
    central = one.index(b"PK\x01\x02")
    end = one.index(b"PK\x05\x06")
    doubled = one[:end] + one[central:end] + one[end:]
    assert "exactly one" in await refused(doubled, "zip")


async def test_zip_directory_member_refused():
    assert "directory" in await refused(zip_bytes({"dir/": b""}), "zip")


async def test_zip_encrypted_refused():
    data = bytearray(zip_bytes({"a": b"secret"}))
    data[6] |= 0x01  # general purpose flag bit 0: encrypted
    assert "encrypted" in await refused(bytes(data), "zip")


async def test_zip_unsupported_method_refused():
    assert "method 12" in await refused(zip_bytes({"a": b"x" * 100}, zipfile.ZIP_BZIP2), "zip")


async def test_zip_crc_mismatch_refused():
    data = bytearray(zip_bytes({"a": b"hello world"}, zipfile.ZIP_STORED))
    data[30 + 1 + 2] ^= 0xFF  # flip a content byte
    assert "CRC" in await refused(bytes(data), "zip")


async def test_zip_truncated_refused():
    data = zip_bytes({"a": DATA})
    assert "truncated" in await refused(data[: len(data) // 2], "zip")
    assert "end of central directory" in await refused(data[:-10], "zip")


async def test_empty_zip_refused():
    buffer = io.BytesIO()
    zipfile.ZipFile(buffer, "w").close()
    assert "not a zip" in await refused(buffer.getvalue(), "zip")


# --- corrupt / truncated / wrong kind --------------------------------------------------


@pytest.mark.parametrize(
    "kind, compress",
    [
        ("gzip", gzip.compress),
        ("bzip2", bz2.compress),
        ("xz", lzma.compress),
        ("zstd", zstandard.ZstdCompressor().compress),
    ],
)
async def test_truncated_and_trailing_garbage_refused(kind, compress):
    data = compress(DATA)
    assert "truncated" in await refused(data[: len(data) - 5], kind)
    assert "truncated" in await refused(data[:100], kind)
    message = await refused(data + b"garbage!", kind)
    assert "garbage" in message or "corrupt" in message
    assert "not" in await refused(b"plain bytes", kind)
    assert await refused(b"", kind)


async def test_corrupt_stream_refused():
    data = bytearray(gzip.compress(DATA))
    data[len(data) // 2] ^= 0xFF
    assert "corrupt" in await refused(bytes(data), "gzip")


async def test_unknown_kind_refused():
    with pytest.raises(DecompressionRefused):
        async for _ in decompress(chunked(b"x"), "lha", LIMITS):
            pass


# --- limits and bombs ------------------------------------------------------------------


async def test_max_output_enforced_before_yielding_the_excess():
    limits = DecompressLimits(max_output=2 * MiB + 5, max_ratio=1e12)
    seen = 0
    with pytest.raises(DecompressionRefused, match="exceeds the limit of"):
        async for piece in decompress(chunked(gzip.compress(bytes(8 * MiB))), "gzip", limits):
            seen += len(piece)
    assert seen <= 2 * MiB + 5


async def test_ratio_floor_lets_small_highly_compressible_data_through():
    data = bytes(8 * MiB)
    assert await run(bz2.compress(data), "bzip2", DecompressLimits(max_output=GiB, max_ratio=2)) == data


class Bomb:
    """A lazily generated compressed stream of `total` zero bytes (10 GiB by default).

    The compressor and the zero buffer are created up front so that tracemalloc, started
    afterwards, measures the decompressor rather than the bomb maker.
    """

    def __init__(self, kind: str, total: int = 10 * GiB) -> None:
        self.kind = kind
        self.total = total
        self.zeros = bytes(MiB)
        self.uncompressed_made = 0
        self.compressed_made = 0
        if kind == "gzip":
            self.compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        elif kind == "bzip2":
            self.compressor = bz2.BZ2Compressor(9)
        elif kind == "xz":
            self.compressor = lzma.LZMACompressor(preset=1)
        elif kind == "zstd":
            self.compressor = zstandard.ZstdCompressor(level=1).compressobj()
        elif kind == "zip":
            self.compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)

    async def stream(self):
        if self.kind == "zip":  # local header: deflate, sizes in a data descriptor
            yield struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0x08, 8, 0, 0, 0, 0, 0, 8, 0) + b"disk.raw"
        for _ in range(self.total // MiB):
            self.uncompressed_made += MiB
            out = self.compressor.compress(self.zeros)
            if out:
                self.compressed_made += len(out)
                yield out
        yield self.compressor.flush()


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz", "zstd", "zip"])
@pytest.mark.parametrize(
    "limits",
    [
        DecompressLimits(max_output=100 * GiB, max_ratio=100),
        DecompressLimits(max_output=64 * MiB, max_ratio=1e9),
    ],
    ids=["ratio", "max_output"],
)
async def test_bomb_refused_with_bounded_memory(kind, limits):
    bomb = Bomb(kind)
    produced = 0
    tracemalloc.start()
    try:
        with pytest.raises(DecompressionRefused, match="decompression bomb") as info:
            async for piece in decompress(bomb.stream(), kind, limits):
                produced += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    expected = "compression ratio" if limits.max_ratio == 100 else f"exceeds the limit of {64 * MiB} bytes"
    assert expected in str(info.value)
    assert peak < 6 * MiB, f"peak traced memory {peak / MiB:.1f} MiB"
    assert produced <= limits.max_output
    # Stopped early: only a small part of the 10 GiB was ever generated.
    assert bomb.uncompressed_made < GiB


async def test_default_ratio_stops_strong_bombs_early():
    bomb = Bomb("zstd")
    produced = 0
    with pytest.raises(DecompressionRefused, match="compression ratio"):
        async for piece in decompress(bomb.stream(), "zstd", DecompressLimits(max_output=100 * GiB)):
            produced += len(piece)
    assert produced < 100 * MiB
