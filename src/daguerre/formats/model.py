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


@dataclass(frozen=True)
class SafetyPolicy:
    max_virtual_size: int = DEFAULT_MAX_VIRTUAL_SIZE
    relaxed_checks: frozenset[str] = frozenset()
    vmdk_allowed_types: frozenset[str] = frozenset({"monolithicSparse", "streamOptimized"})


class FormatRefused(Exception):
    """The image's bytes are not acceptable for its claimed disk format."""

    def __init__(self, failures: tuple[SafetyFailure, ...] | list[SafetyFailure], detected: str | None):
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
