"""LUKS containers: recognised so they are never taken as raw, and refused
(the payload is encrypted and cannot be inspected)."""

from __future__ import annotations

from .base import Probe, be16, be32, be64
from .model import Finding, SafetyPolicy
from .stream import StreamState

MAGICS = (b"LUKS\xba\xbe", b"SKUL\xba\xbe")


def matches(head: bytes) -> bool:
    return head[:6] in MAGICS


class LuksProbe(Probe):
    name = "luks"

    def finish(self, st: StreamState, policy: SafetyPolicy) -> Finding | None:
        head = bytes(st.head[:592])
        if not matches(head):
            return None
        f = Finding("luks")
        f.fail("luks.encrypted", "LUKS-encrypted images are not accepted")
        if len(head) < 8:
            f.truncated("the LUKS header")
            return f
        version = be16(head, 6)
        f.facts["luks_version"] = str(version)
        if version == 1:
            if len(head) < 592:
                f.truncated("the LUKS header")
                return f
            payload = be32(head, 104) * 512
            f.facts["luks_cipher"] = head[8:40].split(b"\0", 1)[0].decode("ascii", "replace")
            if payload > st.size:
                f.truncated("the LUKS payload")
            else:
                f.virtual_size = st.size - payload
        elif version == 2:
            if len(head) >= 16:
                hsize = be64(head, 8)
                if hsize > st.size:
                    f.truncated("the LUKS2 header")
        else:
            f.fail("luks.version", f"LUKS version {version} is unknown")
        return f
