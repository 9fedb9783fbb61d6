"""Image membership (sharing an image with another project)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

MEMBER_STATUSES = ("pending", "accepted", "rejected")


@dataclass
class Member:
    image_id: str
    member_id: str
    status: str = "pending"
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
