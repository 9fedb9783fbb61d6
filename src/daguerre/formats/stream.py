"""Bounded buffers for one streaming pass over an image.

The :class:`StreamState` keeps three kinds of bytes, all bounded:

* the *head*: the first ``HEAD_LIMIT`` bytes of the stream (every header we
  parse lives there: qcow2 cluster 0 is at most 2 MiB, a VMDK descriptor at
  most 1 MiB after sector 1, ISO descriptors and GPT tables are well inside);
* the *tail*: the last ``TAIL_SIZE`` bytes (fixed VHD footer, VMDK footer,
  DMG trailer, GPT backup header);
* *captures*: windows ``(offset, length)`` requested by an inspector once it
  has read the head (VHDX metadata region, …). Captures can chain: the
  completion callback of one may request another further on.

Only those bytes are ever copied; the rest of a chunk is just counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

HEAD_LIMIT = 2 * 1024 * 1024 + 64 * 1024
TAIL_SIZE = 8 * 1024  # VMDK footer (1536 B) and VHD/DMG trailers (512 B) are all we need
MIN_HEAD = 64 * 1024  # what every format's identification looks at
CAPTURE_BUDGET = 1024 * 1024
MAX_CAPTURES = 64
# The most an Inspector ever retains: head + tail (trimmed lazily, so up to
# twice its size) + every capture.
MAX_RETAINED = HEAD_LIMIT + 2 * TAIL_SIZE + CAPTURE_BUDGET
# after finish() the head is also held once as immutable bytes
MAX_RETAINED_FINISHED = MAX_RETAINED + HEAD_LIMIT


@dataclass(eq=False)
class Capture:
    """A window of the stream an inspector asked to see."""

    offset: int
    length: int
    on_complete: Callable[[Capture], None] | None = None
    data: bytearray = field(default_factory=bytearray)
    missed: bool = False  # the window started before the cursor and was not in the head

    @property
    def complete(self) -> bool:
        return len(self.data) == self.length

    def bytes(self) -> bytes:
        return bytes(self.data)


class StreamState:
    """Head buffer, tail buffer and scheduled capture windows of one stream."""

    def __init__(self) -> None:
        self.head = bytearray()
        self._tail = bytearray()
        self.size = 0  # bytes seen so far (total size once finished)
        self._cursor = 0  # offset of the first byte not yet offered to captures
        self._pending: list[Capture] = []
        self._captures: list[Capture] = []
        self._captured_bytes = 0
        self.finished = False
        self._head_closed = False
        self._frozen: bytes | None = None

    # -- feeding -----------------------------------------------------------
    def feed(self, mv: memoryview, on_head_complete: Callable[[], None] | None = None) -> None:
        n = len(mv)
        if n == 0:
            return
        start = self.size
        end = start + n
        if start < HEAD_LIMIT and not self._head_closed:
            self.head += mv[: HEAD_LIMIT - start]
        self.size = end
        if on_head_complete is not None and start < HEAD_LIMIT <= end:
            on_head_complete()
        if self._pending:
            self._feed_captures(mv, start)
        self._cursor = end
        if n >= TAIL_SIZE:
            self._tail = bytearray(mv[n - TAIL_SIZE :])
        else:
            self._tail += mv
            if len(self._tail) > 2 * TAIL_SIZE:
                self._tail = self._tail[-TAIL_SIZE:]

    def _feed_captures(self, mv: memoryview, start: int) -> None:
        end = start + len(mv)
        progress = True
        while progress and self._pending:
            progress = False
            for cap in list(self._pending):
                need = cap.offset + len(cap.data)
                if need < start or need >= end:
                    continue
                stop = min(end, cap.offset + cap.length)
                cap.data += mv[need - start : stop - start]
                if cap.complete:
                    self._pending.remove(cap)
                    progress = True
                    if cap.on_complete is not None:
                        cap.on_complete(cap)

    def trim_head(self, keep: int) -> None:
        """Keep only the first ``keep`` bytes of a complete head (bounded memory
        for the common case: cluster 0 of a qcow2 rather than 2 MiB)."""
        self._head_closed = True
        keep = max(keep, MIN_HEAD)
        if keep < len(self.head):
            del self.head[keep:]

    def finish(self) -> None:
        self.finished = True
        self._pending.clear()

    def frozen_head(self) -> bytes:
        """The head as immutable bytes (one shared copy, after finish)."""
        if not self.finished:
            return bytes(self.head)
        if self._frozen is None:
            self._frozen = bytes(self.head)
        return self._frozen

    # -- requests from inspectors -----------------------------------------
    def capture(
        self, offset: int, length: int, on_complete: Callable[[Capture], None] | None = None
    ) -> Capture | None:
        """Ask for ``length`` bytes at ``offset``; None if over budget.

        Bytes already in the head are copied at once; a window that starts at
        or after the cursor is filled as the stream flows; a window whose
        start has already gone past (and is not in the head) is marked missed.
        """
        if offset < 0 or length < 0:
            return None
        if len(self._captures) >= MAX_CAPTURES or self._captured_bytes + length > CAPTURE_BUDGET:
            return None
        cap = Capture(offset, length, on_complete)
        self._captures.append(cap)
        self._captured_bytes += length
        if offset + length <= len(self.head):
            cap.data += self.head[offset : offset + length]
        elif offset >= self._cursor and not self.finished:
            self._pending.append(cap)
            return cap
        elif offset < len(self.head) and len(self.head) >= self._cursor and not self.finished:
            # starts in the head, continues in bytes not seen yet
            cap.data += self.head[offset:]
            self._pending.append(cap)
            return cap
        elif self.finished and offset < len(self.head):
            cap.data += self.head[offset : offset + length]  # short: at EOF
        else:
            cap.missed = not self.finished or offset < self.size
        if cap.complete and on_complete is not None:
            on_complete(cap)
        return cap

    # -- reading -------------------------------------------------------------
    def tail(self) -> bytes:
        """The last bytes of the stream (at most TAIL_SIZE)."""
        return bytes(self._tail[-TAIL_SIZE:])

    def read(self, offset: int, length: int) -> bytes | None:
        """Bytes at an absolute offset if held in the head or tail, else None.

        Returns a short result when the range crosses EOF (only meaningful
        once finished), None when the bytes were not retained.
        """
        if offset < 0 or length < 0:
            return None
        if self.finished:
            length = max(0, min(length, self.size - offset))
        if offset + length <= len(self.head):
            return bytes(self.head[offset : offset + length])
        if self.finished:
            tail = self._tail[-TAIL_SIZE:]
            tail_start = self.size - len(tail)
            if offset >= tail_start:
                return bytes(tail[offset - tail_start : offset - tail_start + length])
        return None

    def retained_bytes(self) -> int:
        frozen = len(self._frozen) if self._frozen is not None else 0
        return len(self.head) + frozen + len(self._tail) + sum(len(c.data) for c in self._captures)
