"""Tasks: the user-visible record of asynchronous work (imports), as /v2/tasks shows it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

PENDING, PROCESSING, SUCCESS, FAILURE = "pending", "processing", "success", "failure"
TASK_TYPES = ("import", "api_image_import", "location_import")


@dataclass
class Task:
    id: str
    type: str
    status: str
    owner: str | None
    input: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    message: str = ""
    image_id: str | None = None
    request_id: str | None = None
    user_id: str | None = None
    expires_at: dt.datetime | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
