"""Bounded streaming decompression for the import pipeline (Glance's image_decompression plugin).

``decompress(chunks, kind, limits)`` turns an async stream of compressed bytes into an
async stream of decompressed bytes, holding no more than about one output chunk (1 MiB)
and one input slice (64 KiB) at a time, whatever the compression ratio. It refuses, with
DecompressionRefused:

* output larger than ``max_output``;
* a running compression ratio above ``max_ratio`` once more than ``ratio_floor`` bytes
  came out (a decompression bomb is stopped after about that much work);
* corrupt or truncated data, trailing garbage;
* zip archives that are not exactly one regular file stored or deflated (encrypted,
  multi-member, directory-only, other methods, ...).

It is never recursive: the output is passed on as-is and never sniffed again, so an
archive inside an archive comes out as the inner archive's bytes.

Output may already have been yielded when a refusal is raised (a second zip member, for
instance, is only seen after the first was streamed out): a caller must treat the
exception as "discard everything written so far".

Formats: gzip (multi-member; NUL padding after the last member tolerated), bzip2
(multi-stream), xz (multi-stream, decoder memory capped), zstd (multiple frames and
skippable frames; truncation detected by walking the frame/block structure), zip.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import IO, Protocol, cast

import zstandard

MiB = 1024 * 1024
OUT_CHUNK = MiB
_IN_SLICE = 64 * 1024
_XZ_MEMLIMIT = 256 * MiB
_ZIP_TRAILER_LIMIT = 1 * MiB

KINDS = ("gzip", "bzip2", "xz", "zip", "zstd")


@dataclass(frozen=True)
class DecompressLimits:
    max_output: int
    max_ratio: float = 1000.0
    # The ratio is only checked once this much output was produced: small inputs (a
    # compressed empty disk header, say) legitimately have huge ratios.
    ratio_floor: int = 16 * MiB


class DecompressionRefused(Exception):
    """The compressed data is refused: a bomb, corrupt, or an archive we do not unpack."""


def sniff(head: bytes) -> str | None:
    """The compression format of a stream starting with *head* (its magic bytes), or None."""
    if head.startswith(b"\x1f\x8b\x08"):
        return "gzip"
    if head.startswith(b"BZh") and len(head) >= 4 and head[3:4] in b"123456789":
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    return None


# --- plumbing --------------------------------------------------------------------------


class _Input:
    """Pull-based reader over the async chunk stream, handing out slices of at most 64 KiB."""

    def __init__(self, chunks: AsyncIterable[bytes]) -> None:
        self._it = aiter(chunks)
        self._buf = b""
        self._pos = 0
        self._eof = False
        self.consumed = 0

    async def _fill(self) -> bool:
        while self._pos >= len(self._buf):
            if self._eof:
                return False
            try:
                chunk = await anext(self._it)
            except StopAsyncIteration:
                self._eof = True
                return False
            self._buf = bytes(chunk)
            self._pos = 0
        return True

    async def take(self, n: int = _IN_SLICE) -> bytes | None:
        """Up to n bytes (at least one), or None at the end of the stream."""
        if not await self._fill():
            return None
        data = self._buf[self._pos : self._pos + n]
        self._pos += len(data)
        self.consumed += len(data)
        return data

    def unread(self, data: bytes) -> None:
        if data:
            self._buf = bytes(data) + self._buf[self._pos :]
            self._pos = 0
            self.consumed -= len(data)

    async def aclose(self) -> None:
        """Close the upstream iterator (if it is an async generator we stopped early)."""
        aclose = getattr(self._it, "aclose", None)
        if aclose is not None:
            await aclose()

    async def read_exact(self, n: int) -> bytes:
        """n bytes, or fewer at the end of the stream."""
        parts = []
        got = 0
        while got < n:
            data = await self.take(n - got)
            if data is None:
                break
            parts.append(data)
            got += len(data)
        return b"".join(parts)

    async def peek(self, n: int) -> bytes:
        data = await self.read_exact(n)
        self.unread(data)
        return data


class _Meter:
    def __init__(self, limits: DecompressLimits, source: _Input) -> None:
        self.limits = limits
        self.source = source
        self.produced = 0

    def add(self, n: int) -> None:
        self.produced += n
        limits = self.limits
        if self.produced > limits.max_output:
            raise DecompressionRefused(
                f"decompressed data exceeds the limit of {limits.max_output} bytes (decompression bomb?)"
            )
        if self.produced > limits.ratio_floor:
            ratio = self.produced / max(self.source.consumed, 1)
            if ratio > limits.max_ratio:
                raise DecompressionRefused(
                    f"compression ratio {ratio:.0f}:1 exceeds the limit of {limits.max_ratio:g}:1 "
                    f"(decompression bomb?)"
                )


# --- gzip, bzip2, xz: decompressor objects, multi-member -------------------------------


class _ZlibMember:
    """One deflate stream (gzip member or raw deflate), output bounded per call."""

    def __init__(self, wbits: int) -> None:
        self.d = zlib.decompressobj(wbits)

    @property
    def eof(self) -> bool:
        return self.d.eof

    @property
    def unused_data(self) -> bytes:
        return self.d.unused_data

    def feed(self, data: bytes) -> Iterator[bytes]:
        out = self.d.decompress(data, OUT_CHUNK)
        yield out
        # A full output buffer may leave output pending even when all input was taken.
        while not self.d.eof and (self.d.unconsumed_tail or len(out) == OUT_CHUNK):
            out = self.d.decompress(self.d.unconsumed_tail, OUT_CHUNK)
            if not out and not self.d.eof:
                break
            yield out


class _BufferedMember:
    """bz2/lzma decompressor objects (they buffer input; output bounded by max_length)."""

    def __init__(self, decompressor: bz2.BZ2Decompressor | lzma.LZMADecompressor) -> None:
        self.d = decompressor

    @property
    def eof(self) -> bool:
        return self.d.eof

    @property
    def unused_data(self) -> bytes:
        return self.d.unused_data

    def feed(self, data: bytes) -> Iterator[bytes]:
        yield self.d.decompress(data, OUT_CHUNK)
        while not self.d.eof and not self.d.needs_input:
            yield self.d.decompress(b"", OUT_CHUNK)


class _Member(Protocol):
    """One gzip/bzip2/xz member being decompressed."""

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def feed(self, data: bytes) -> Iterator[bytes]: ...


_MEMBER_FORMATS: dict[str, tuple[bytes, Callable[[], _Member]]] = {
    "gzip": (b"\x1f\x8b", lambda: _ZlibMember(16 + zlib.MAX_WBITS)),
    "bzip2": (b"BZh", lambda: _BufferedMember(bz2.BZ2Decompressor())),
    "xz": (
        b"\xfd7zXZ\x00",
        lambda: _BufferedMember(lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=_XZ_MEMLIMIT)),
    ),
}


async def _members(source: _Input, meter: _Meter, kind: str) -> AsyncGenerator[bytes, None]:
    magic, factory = _MEMBER_FORMATS[kind]
    members = 0
    while True:
        head = await source.peek(len(magic))
        if members and not head:
            return
        if not head.startswith(magic):
            if members and not head.strip(b"\0"):
                # NUL padding after the last member (xz stream padding; tolerated for all).
                while (data := await source.take()) is not None:
                    if data.strip(b"\0"):
                        raise DecompressionRefused(f"trailing garbage after the {kind} data")
                return
            if members:
                raise DecompressionRefused(f"trailing garbage after the {kind} data")
            raise DecompressionRefused(f"not {kind} data")
        member = factory()
        while not member.eof:
            data = await source.take()
            if data is None:
                raise DecompressionRefused(f"truncated {kind} data")
            for out in member.feed(data):
                if out:
                    meter.add(len(out))
                    yield out
        source.unread(member.unused_data)
        members += 1


# --- zstd ------------------------------------------------------------------------------


class _NeedInput(Exception):
    pass


class _PullSource:
    """The file-like source handed to zstandard's stream_reader: input is pushed in by us.

    ``read1`` asks its source for more only when its input is used up and it produced no
    output yet, so raising _NeedInput there loses nothing; we fetch a slice and call again.
    """

    def __init__(self) -> None:
        self.pending: bytes | None = None
        self.eof = False

    def read(self, size: int = -1) -> bytes:
        if self.pending is not None:
            data, self.pending = self.pending, None
            return data
        if self.eof:
            return b""
        raise _NeedInput


_ZSTD_MAGIC = 0xFD2FB528


class _ZstdFrames:
    """Walks zstd frame and block headers over the compressed bytes, to detect truncation."""

    def __init__(self) -> None:
        self.state = "magic"
        self.buf = bytearray()
        self.skip = 0
        self.after_skip = "magic"
        self.checksum = False
        self.last_block = False

    _SIZES = {"magic": 4, "fhd": 1, "block": 3, "checksum": 4, "skipsize": 4}

    def _need(self) -> int:
        return self.header_rest if self.state == "hdr" else self._SIZES[self.state]

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        i = 0
        n = len(view)
        while i < n:
            if self.skip:
                step = min(self.skip, n - i)
                self.skip -= step
                i += step
                if not self.skip:
                    self.state = self.after_skip
                continue
            need = self._need()
            step = min(need - len(self.buf), n - i)
            self.buf += view[i : i + step]
            i += step
            if len(self.buf) == need:
                value = bytes(self.buf)
                self.buf.clear()
                self._parse(value)

    def _parse(self, value: bytes) -> None:
        state = self.state
        if state == "magic":
            magic = int.from_bytes(value, "little")
            if magic == _ZSTD_MAGIC:
                self.state = "fhd"
            elif magic & 0xFFFFFFF0 == 0x184D2A50:
                self.state = "skipsize"
            else:
                raise DecompressionRefused("corrupt zstd data: bad frame magic")
        elif state == "skipsize":
            self.skip = int.from_bytes(value, "little")
            self.after_skip = "magic"
            self.state = "skipping"
            if not self.skip:
                self.state = "magic"
        elif state == "fhd":
            fhd = value[0]
            fcs_flag, single, self.checksum, did_flag = fhd >> 6, (fhd >> 5) & 1, bool(fhd & 4), fhd & 3
            fcs = (1 if single else 0, 2, 4, 8)[fcs_flag]
            self.header_rest = (0 if single else 1) + (0, 1, 2, 4)[did_flag] + fcs
            self.state = "hdr" if self.header_rest else "block"
        elif state == "hdr":
            self.state = "block"
        elif state == "block":
            header = int.from_bytes(value, "little")
            last, block_type, size = header & 1, (header >> 1) & 3, header >> 3
            content = 1 if block_type == 1 else size
            if last:
                self.after_skip = "checksum" if self.checksum else "magic"
            else:
                self.after_skip = "block"
            self.skip = content
            self.state = "skipping" if content else self.after_skip
        elif state == "checksum":
            self.state = "magic"

    @property
    def complete(self) -> bool:
        return self.state == "magic" and not self.buf and not self.skip


async def _zstd(source: _Input, meter: _Meter) -> AsyncGenerator[bytes, None]:
    if sniff(await source.peek(4)) != "zstd":
        raise DecompressionRefused("not zstd data")
    frames = _ZstdFrames()
    pull = _PullSource()
    # _PullSource has the read/read1 that stream_reader calls; it is not a whole IO[bytes].
    reader = zstandard.ZstdDecompressor().stream_reader(
        cast(IO[bytes], pull), read_size=_IN_SLICE, read_across_frames=True
    )
    try:
        while True:
            try:
                out = reader.read1(OUT_CHUNK)
            except _NeedInput:
                data = await source.take()
                if data is None:
                    pull.eof = True
                else:
                    frames.feed(data)
                    pull.pending = data
                continue
            if not out:
                break
            meter.add(len(out))
            yield out
    finally:
        reader.close()
    if not frames.complete:
        raise DecompressionRefused("truncated zstd data")


# --- zip -------------------------------------------------------------------------------

_LOCAL = b"PK\x03\x04"
_CENTRAL = b"PK\x01\x02"
_END = b"PK\x05\x06"
_END64 = b"PK\x06\x06"
_END64_LOCATOR = b"PK\x06\x07"
_DESCRIPTOR = b"PK\x07\x08"


async def _zip(source: _Input, meter: _Meter) -> AsyncGenerator[bytes, None]:
    header = await source.read_exact(30)
    if len(header) < 30 or not header.startswith(_LOCAL):
        raise DecompressionRefused("not a zip archive")
    (_, _version, flags, method, _time, _date, crc, csize, usize, name_len, extra_len) = struct.unpack(
        "<IHHHHHIIIHH", header
    )
    name = await source.read_exact(name_len)
    extra = await source.read_exact(extra_len)
    if len(name) < name_len or len(extra) < extra_len:
        raise DecompressionRefused("truncated zip archive")
    if flags & 0x1 or flags & 0x40 or method == 99:
        raise DecompressionRefused("encrypted zip archives are not supported")
    if name.endswith(b"/"):
        raise DecompressionRefused("the zip archive's first member is a directory, not a file")
    zip64 = False
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, pos)
        if tag == 0x0001:
            zip64 = True
            body = extra[pos + 4 : pos + 4 + size]
            fields = []
            if usize == 0xFFFFFFFF:
                fields.append("u")
            if csize == 0xFFFFFFFF:
                fields.append("c")
            for k, field_name in enumerate(fields):
                if len(body) >= 8 * (k + 1):
                    value = struct.unpack_from("<Q", body, 8 * k)[0]
                    if field_name == "u":
                        usize = value
                    else:
                        csize = value
        pos += 4 + size
    descriptor = bool(flags & 0x8)

    checksum = 0
    produced = 0
    if method == 0:
        if descriptor:
            raise DecompressionRefused(
                "zip member stored with a data descriptor (unknown length) is not supported"
            )
        remaining = csize
        while remaining:
            data = await source.take(min(remaining, _IN_SLICE))
            if data is None:
                raise DecompressionRefused("truncated zip archive")
            remaining -= len(data)
            checksum = zlib.crc32(data, checksum)
            produced += len(data)
            meter.add(len(data))
            yield data
    elif method == 8:
        member = _ZlibMember(-zlib.MAX_WBITS)
        while not member.eof:
            data = await source.take()
            if data is None:
                raise DecompressionRefused("truncated zip archive")
            for out in member.feed(data):
                if out:
                    checksum = zlib.crc32(out, checksum)
                    produced += len(out)
                    meter.add(len(out))
                    yield out
        source.unread(member.unused_data)
    else:
        raise DecompressionRefused(
            f"zip compression method {method} is not supported (only stored and deflate)"
        )

    if descriptor:
        if await source.peek(4) == _DESCRIPTOR:
            await source.read_exact(4)
        size_len = 8 if zip64 else 4
        raw = await source.read_exact(4 + 2 * size_len)
        if len(raw) < 4 + 2 * size_len:
            raise DecompressionRefused("truncated zip archive")
        crc = struct.unpack_from("<I", raw)[0]
        usize = int.from_bytes(raw[4 + size_len :], "little")
    if checksum != crc:
        raise DecompressionRefused("zip member CRC-32 mismatch (corrupt archive)")
    if produced != usize:
        raise DecompressionRefused("zip member size does not match its header (corrupt archive)")

    # What follows must be the central directory listing exactly this one member.
    signature = await source.read_exact(4)
    if signature == _LOCAL:
        raise DecompressionRefused("zip archive has more than one member; exactly one is required")
    trailer = signature + await source.read_exact(_ZIP_TRAILER_LIMIT)
    if await source.take(1) is not None:
        raise DecompressionRefused("zip archive has more than one member or trailing data")
    _check_zip_trailer(trailer)


def _check_zip_trailer(trailer: bytes) -> None:
    pos = 0
    entries = 0
    while trailer.startswith(_CENTRAL, pos):
        if len(trailer) < pos + 46:
            raise DecompressionRefused("truncated zip central directory")
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", trailer, pos + 28)
        entries += 1
        pos += 46 + name_len + extra_len + comment_len
    if entries != 1:
        raise DecompressionRefused(
            f"zip archive lists {entries} members in its central directory; exactly one is required"
        )
    if trailer.startswith(_END64, pos):
        (size,) = struct.unpack_from("<Q", trailer, pos + 4)
        pos += 12 + size
    if trailer.startswith(_END64_LOCATOR, pos):
        pos += 20
    if not trailer.startswith(_END, pos) or len(trailer) < pos + 22:
        raise DecompressionRefused("malformed zip archive (no end of central directory record)")
    total = struct.unpack_from("<H", trailer, pos + 10)[0]
    if total not in (1, 0xFFFF):
        raise DecompressionRefused(f"zip archive has {total} members; exactly one is required")


# --- entry point -----------------------------------------------------------------------


async def decompress(
    chunks: AsyncIterable[bytes], kind: str, limits: DecompressLimits
) -> AsyncIterator[bytes]:
    """Decompress *chunks* (one compression layer of *kind*) within *limits*.

    Yields pieces of at most OUT_CHUNK bytes. Raises DecompressionRefused for bombs,
    corrupt/truncated data and zip archives that are not a single stored/deflated file.
    """
    if kind not in KINDS:
        raise DecompressionRefused(f"unsupported compression format {kind!r}")
    source = _Input(chunks)
    meter = _Meter(limits, source)
    if kind == "zip":
        stream = _zip(source, meter)
    elif kind == "zstd":
        stream = _zstd(source, meter)
    else:
        stream = _members(source, meter, kind)
    try:
        async for out in stream:
            yield out
    except (zlib.error, OSError, EOFError, lzma.LZMAError, zstandard.ZstdError) as exc:
        raise DecompressionRefused(f"corrupt {kind} data: {exc}") from None
    finally:
        await stream.aclose()
        await source.aclose()
