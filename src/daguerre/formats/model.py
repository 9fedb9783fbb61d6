"""Public value types of the formats package."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SafetyFailure:
    check: str  # stable check name, e.g. "qcow2.backing_file"
    message: str  # human sentence


@dataclass(frozen=True)
class Verdict:
    format: str
    virtual_size: int | None
    facts: dict[str, str]
    failures: tuple[SafetyFailure, ...]

    @property
    def checks(self) -> tuple[str, ...]:
        """Names of the failing checks, sorted, without duplicates."""
        return tuple(sorted({f.check for f in self.failures}))


DEFAULT_MAX_VIRTUAL_SIZE = 16 * 2**40

# Every check name a Verdict, judge() or recheck_info() can report.
CHECK_NAMES: frozenset[str] = frozenset(
    {
        # rule-level
        "format_mismatch",
        "virtual_size_limit",
        "polyglot",
        "truncated",
        "unsupported_format",  # bochs / cloop / dmg
        "inspection_error",  # an inspector crashed: fail closed
        # qcow2
        "qcow2.backing_file",
        "qcow2.data_file",
        "qcow2.encryption",
        "qcow2.unknown_features",
        "qcow2.extended_l2",
        "qcow2.corrupt",
        "qcow2.geometry",
        # qed
        "qed.banned",
        "qed.backing_file",
        # vmdk
        "vmdk.version",
        "vmdk.capacity",
        "vmdk.geometry",
        "vmdk.descriptor",
        "vmdk.create_type",
        "vmdk.parent",
        "vmdk.extent",
        "vmdk.footer",
        "vmdk.cowd",
        "vmdk.text_descriptor",
        # vhd
        "vhd.checksum",
        "vhd.geometry",
        "vhd.differencing",
        "vhd.disk_type",
        "vhd.dynamic_header",
        "vhd.footer",
        # vhdx
        "vhdx.header",
        "vhdx.log",
        "vhdx.region_table",
        "vhdx.metadata",
        "vhdx.parent",
        "vhdx.geometry",
        # vdi
        "vdi.differencing",
        "vdi.header",
        # iso, mbr/gpt
        "iso.descriptor",
        "gpt.mbr",
        "gpt.header",
        # luks, parallels
        "luks.encrypted",
        "luks.version",
        "parallels.header",
        "parallels.dirty",
        # qemu-img info re-check
        "qemu.backing_file",
        "qemu.data_file",
        "qemu.encrypted",
        "qemu.vmdk_extent",
    }
)


@dataclass(frozen=True)
class SafetyPolicy:
    max_virtual_size: int = DEFAULT_MAX_VIRTUAL_SIZE
    # operator-relaxed check names; each relaxation that fires is logged at WARNING
    relaxed_checks: frozenset[str] = frozenset()
    vmdk_allowed_types: frozenset[str] = frozenset({"monolithicSparse", "streamOptimized"})

    def __post_init__(self) -> None:
        unknown = set(self.relaxed_checks) - CHECK_NAMES
        if unknown:
            raise ValueError(f"unknown format safety check(s) to relax: {', '.join(sorted(unknown))}")
        object.__setattr__(self, "relaxed_checks", frozenset(self.relaxed_checks))
        object.__setattr__(self, "vmdk_allowed_types", frozenset(self.vmdk_allowed_types))


class FormatRefused(Exception):
    """The image's bytes are not acceptable for its claimed disk format."""

    def __init__(
        self, failures: tuple[SafetyFailure, ...] | list[SafetyFailure], detected: str | None
    ) -> None:
        self.failures = tuple(failures)
        self.detected = detected
        super().__init__(self._sentence())

    @property
    def checks(self) -> tuple[str, ...]:
        return tuple(sorted({f.check for f in self.failures}))

    def _sentence(self) -> str:
        what = "; ".join(f"{f.check}: {f.message}" for f in self.failures)
        return f"Image refused (detected format {self.detected or 'unknown'}): {what}"

    def __str__(self) -> str:
        return self._sentence()


@dataclass
class Finding:
    """What one format inspector concluded (mutable while it is being built)."""

    format: str
    virtual_size: int | None = None
    facts: dict[str, str] = field(default_factory=dict)
    failures: list[SafetyFailure] = field(default_factory=list)
    # "container" formats own the file layout (header at 0 or footer at EOF);
    # "content" formats (iso, gpt) describe raw disk bytes.
    container: bool = True
    # A fixed VHD's payload is a raw disk: content formats inside it are fine.
    raw_payload: bool = False

    def fail(self, check: str, message: str) -> None:
        self.failures.append(SafetyFailure(check, message))

    def truncated(self, what: str) -> None:
        self.fail("truncated", f"{self.format} image is truncated: {what} lies beyond the end of the file")
