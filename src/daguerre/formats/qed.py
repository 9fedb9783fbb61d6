"""QED: recognised only to be refused (nobody uses it; it supports backing files)."""

from __future__ import annotations

from .base import Probe, le32, le64
from .model import Finding, SafetyPolicy
from .stream import StreamState

MAGIC = b"QED\x00"


def matches(head: bytes) -> bool:
    return head[:4] == MAGIC


class QedProbe(Probe):
    name = "qed"

    def finish(self, st: StreamState, policy: SafetyPolicy) -> Finding | None:
        head = bytes(st.head[:64])
        if not matches(head):
            return None
        f = Finding("qed")
        f.fail("qed.banned", "QED images are not accepted")
        if len(head) >= 64:
            f.virtual_size = le64(head, 48)
            f.facts["qed_cluster_size"] = str(le32(head, 4))
            if le32(head, 56):
                f.fail("qed.backing_file", "QED image names a backing file")
        else:
            f.truncated("the QED header")
        return f
