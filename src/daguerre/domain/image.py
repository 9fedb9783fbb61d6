"""The image record, its statuses and the transition table."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from daguerre.domain.errors import Conflict

QUEUED = "queued"
SAVING = "saving"
UPLOADING = "uploading"
IMPORTING = "importing"
ACTIVE = "active"
KILLED = "killed"
PENDING_DELETE = "pending_delete"
DELETED = "deleted"
DEACTIVATED = "deactivated"

STATUSES = (QUEUED, SAVING, UPLOADING, IMPORTING, ACTIVE, KILLED, PENDING_DELETE, DELETED, DEACTIVATED)

# The one table of status changes (Glance's, glance/domain Image.valid_state_targets). Every write
# of an image's status goes through it: db/images.py checks it in insert, transition, save and
# mark_deleted. A same-status write (e.g. recording the staged size while ``uploading``) is not a
# transition; db/images.py's update_fields does it, guarded by the expected status.
INITIAL = QUEUED
TRANSITIONS: dict[str, frozenset[str]] = {
    QUEUED: frozenset({SAVING, UPLOADING, IMPORTING, ACTIVE, DELETED}),
    SAVING: frozenset({ACTIVE, KILLED, DELETED, QUEUED}),
    UPLOADING: frozenset({IMPORTING, QUEUED, DELETED}),
    IMPORTING: frozenset({ACTIVE, DELETED, QUEUED}),
    ACTIVE: frozenset({PENDING_DELETE, DELETED, DEACTIVATED}),
    KILLED: frozenset({DELETED}),
    PENDING_DELETE: frozenset({DELETED, ACTIVE}),
    DELETED: frozenset(),
    DEACTIVATED: frozenset({ACTIVE, DELETED}),
}

VISIBILITIES = ("public", "private", "shared", "community")

# Attributes stored in columns; everything else is a custom (string) property.
BASE_ATTRIBUTES = (
    "id", "name", "status", "visibility", "protected", "os_hidden", "checksum", "os_hash_algo",
    "os_hash_value", "owner", "size", "virtual_size", "min_disk", "min_ram", "container_format",
    "disk_format", "created_at", "updated_at", "tags",
)  # fmt: skip
READ_ONLY = frozenset(
    {"created_at", "updated_at", "status", "checksum", "size", "virtual_size", "direct_url", "self", "file",
     "schema", "id", "os_hash_algo", "os_hash_value", "stores"}
)  # fmt: skip
RESERVED = frozenset({"location", "locations", "deleted", "deleted_at"})
RESERVED_PREFIX = "os_glance"
# Server-managed os_glance_* properties that are kept but never shown.
HIDDEN_PROPERTIES = frozenset({"os_glance_stage_host", "os_glance_hash_op_host"})
# Introspection facts recorded at import; only admins may change them afterwards.
INTROSPECTED_PREFIX = "os_daguerre_"
# min_disk and min_ram are 32-bit integer columns (as in Glance, which refuses larger values).
MAX_MIN_REQUIREMENT = 2**31 - 1


class InvalidTransition(Conflict):
    """A status change the transition table does not allow (409 where it reaches the API)."""


def allowed(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def check_transition(current: str, target: str) -> None:
    if not allowed(current, target):
        raise InvalidTransition(f"Image status transition from {current} to {target} is not allowed")


@dataclass
class Location:
    store: str
    key: str
    url: str
    status: str = "active"
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Image:
    id: str
    owner: str | None
    name: str | None = None
    status: str = QUEUED
    visibility: str = "shared"
    protected: bool = False
    os_hidden: bool = False
    checksum: str | None = None
    os_hash_algo: str | None = None
    os_hash_value: str | None = None
    size: int | None = None
    virtual_size: int | None = None
    min_disk: int = 0
    min_ram: int = 0
    container_format: str | None = None
    disk_format: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    tags: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    locations: list[Location] = field(default_factory=list)
    # Optimistic concurrency: bumped by every write, checked by guarded updates.
    version: int = 0

    @property
    def has_data(self) -> bool:
        return bool(self.locations)
