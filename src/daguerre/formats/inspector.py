"""The streaming Inspector: every chunk once, bounded memory, verdict at EOF."""

from __future__ import annotations

import logging
import os

from . import gpt, iso, luks, other, parallels, qcow2, qed, vdi, vhd, vhdx, vmdk
from .base import Probe
from .model import Finding, FormatRefused, SafetyFailure, SafetyPolicy, Verdict
from .stream import HEAD_LIMIT, MAX_RETAINED, StreamState

log = logging.getLogger("daguerre.formats")

FILE_CHUNK = 4 * 1024 * 1024

# Order decides which format names a polyglot (formats with a header at
# offset 0 first, then footers, then content formats).
_PROBE_TYPES: tuple[type[Probe], ...] = (
    qcow2.Qcow2Probe,
    qed.QedProbe,
    vmdk.VmdkProbe,
    vhdx.VhdxProbe,
    vdi.VdiProbe,
    luks.LuksProbe,
    parallels.ParallelsProbe,
    vhd.VhdProbe,
    other.OtherProbe,
    iso.IsoProbe,
    gpt.GptProbe,
)


class Inspector:
    """Streaming: feed every chunk exactly once, as the bytes flow to the store;
    bounded memory (see :data:`MAX_RETAINED`)."""

    max_retained = MAX_RETAINED

    def __init__(self, policy: SafetyPolicy | None = None, *, trim_head: bool = True) -> None:
        self.policy = policy or SafetyPolicy()
        self._trim = trim_head
        self._st = StreamState()
        self._probes = [t() for t in _PROBE_TYPES]
        self._scheduled = False
        self._verdict: Verdict | None = None
        self._errors: list[str] = []

    @property
    def bytes_seen(self) -> int:
        return self._st.size

    def retained_bytes(self) -> int:
        return self._st.retained_bytes()

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        if self._verdict is not None:
            raise RuntimeError("Inspector.feed() after finish()")
        mv = chunk if isinstance(chunk, memoryview) else memoryview(chunk)
        if mv.ndim != 1 or mv.itemsize != 1:
            mv = mv.cast("B")
        self._st.feed(mv, self._schedule if not self._scheduled else None)

    def _schedule(self) -> None:
        if self._scheduled:
            return
        self._scheduled = True
        head = self._st.head
        keep = 0
        for p in self._probes:
            try:
                p.schedule(self._st, self.policy)
                keep = max(keep, p.head_needed(head))  # type: ignore[arg-type]
            except Exception:  # fail closed, never crash the upload path
                log.exception("format inspector %s failed while scheduling", p.name)
                self._errors.append(p.name)
                keep = HEAD_LIMIT
        if self._trim and not self._st.finished:
            self._st.trim_head(keep)

    def finish(self) -> Verdict:
        if self._verdict is not None:
            return self._verdict
        self._st.finish()
        self._schedule()
        findings = []
        for p in self._probes:
            try:
                f = p.finish(self._st, self.policy)
            except Exception:  # fail closed, never crash the upload path
                log.exception("format inspector %s failed", p.name)
                self._errors.append(p.name)
                continue
            if f is not None:
                findings.append(f)
        verdict = _combine(findings, self._st)
        if self._errors:
            err = SafetyFailure(
                "inspection_error", f"the {', '.join(self._errors)} inspector could not parse the image"
            )
            verdict = Verdict(verdict.format, verdict.virtual_size, verdict.facts, (*verdict.failures, err))
        self._verdict = verdict
        return self._verdict


def _combine(findings: list[Finding], st: StreamState) -> Verdict:
    head = st.head
    if not findings:
        facts = {}
        if gpt.is_kernel(head):
            facts["kernel"] = "bzImage"
        return Verdict("raw", st.size, facts, ())
    containers = [f for f in findings if f.container]
    contents = [f for f in findings if not f.container]
    failures: list[SafetyFailure] = []
    if containers:
        primary = containers[0]
        extra = [f.format for f in containers[1:]]
        if contents and not primary.raw_payload:
            extra += [f.format for f in contents]
        if extra:
            failures.append(
                SafetyFailure(
                    "polyglot",
                    f"image matches several formats: {', '.join([primary.format, *extra])}",
                )
            )
    else:
        names = {f.format for f in contents}
        primary = contents[0]  # iso before gpt: an ISO+GPT hybrid is an iso
        if names == {"iso", "gpt"}:
            gpt_finding = contents[1]
            failures.extend(gpt_finding.failures)
            primary.facts["iso_hybrid"] = gpt_finding.facts.get("partition_table", "gpt")
    failures = list(primary.failures) + failures
    # dedupe, keep order
    seen = set()
    uniq = []
    for fl in failures:
        if (fl.check, fl.message) not in seen:
            seen.add((fl.check, fl.message))
            uniq.append(fl)
    return Verdict(primary.format, primary.virtual_size, dict(primary.facts), tuple(uniq))


# --- the rule ---------------------------------------------------------------

_QEMU_NAMES = {"vhd": "vpc", "ploop": "parallels"}


def _claim_accepts(claimed: str, detected: str) -> bool:
    if claimed == detected:
        return True
    if claimed in ("raw", "ami") and detected == "gpt":
        return True  # whole-disk images carry partition tables
    if claimed in ("ami", "aki", "ari") and detected == "raw":
        return True
    return bool(claimed == "ploop" and detected == "parallels")


def judge(verdict: Verdict, claimed_disk_format: str, policy: SafetyPolicy) -> Verdict:
    """Apply our rule; raise FormatRefused listing every failing, non-relaxed check."""
    claimed = (claimed_disk_format or "").lower()
    failures = list(verdict.failures)
    if not _claim_accepts(claimed, verdict.format):
        if claimed == "raw":
            msg = f"image claimed as raw is recognisably {verdict.format}"
        else:
            msg = f"image claimed as {claimed or 'nothing'} is detected as {verdict.format}"
        failures.append(SafetyFailure("format_mismatch", msg))
    if verdict.format == "vmdk":
        ctype = verdict.facts.get("vmdk_create_type")
        allowed = {t.lower() for t in policy.vmdk_allowed_types}
        if (
            ctype is not None
            and ctype.lower() not in allowed
            and not any(
                f.check in ("vmdk.create_type", "vmdk.text_descriptor", "vmdk.cowd") for f in failures
            )
        ):
            failures.append(SafetyFailure("vmdk.create_type", f"VMDK create type {ctype!r} is not allowed"))
    if verdict.virtual_size is not None and verdict.virtual_size > policy.max_virtual_size:
        failures.append(
            SafetyFailure(
                "virtual_size_limit",
                f"virtual size {verdict.virtual_size} exceeds the limit of {policy.max_virtual_size} bytes",
            )
        )
    return _apply_relaxations(failures, verdict, policy, claimed)


def _apply_relaxations(
    failures: list[SafetyFailure], verdict: Verdict, policy: SafetyPolicy, claimed: str
) -> Verdict:
    fatal = []
    for f in failures:
        if f.check in policy.relaxed_checks:
            log.warning(
                "relaxed format check %s fired (claimed %s, detected %s): %s",
                f.check,
                claimed,
                verdict.format,
                f.message,
            )
        else:
            fatal.append(f)
    if fatal:
        raise FormatRefused(tuple(fatal), verdict.format)
    return verdict


def inspect_file(path: str | os.PathLike[str], policy: SafetyPolicy | None = None) -> Verdict:
    """Convenience: run a file through an Inspector in 4 MiB chunks."""
    ins = Inspector(policy)
    buf = bytearray(FILE_CHUNK)
    mv = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while True:
            n = fh.readinto(buf)
            if not n:
                break
            ins.feed(mv[:n])
    return ins.finish()


__all__ = ["Inspector", "judge", "inspect_file", "FormatRefused", "SafetyFailure", "SafetyPolicy", "Verdict"]
