"""The image's import lock, one for every task that works on an image's data.

An import (``POST /v2/images/{id}/import``, the legacy ``/v2/tasks`` import) and a location import
(``POST /v2/images/{id}/locations``) each hold the lock while their job runs: the property
``os_glance_import_task`` names the task, set in the same write transaction as the task and job
rows, and cleared by the job when it ends. A second task on the same image gets 409 while the
holder is pending or processing.

A lock whose task has not moved for ``STALE_AFTER`` is taken over, as Glance does: the old task is
marked failed, so a worker that comes back to it finds it no longer holds the lock and stops.
"""

from __future__ import annotations

import datetime as dt
from typing import TypeGuard

from sqlalchemy.ext.asyncio import AsyncConnection

from daguerre.db import images as image_repo
from daguerre.db import tasks as task_repo
from daguerre.domain.errors import Conflict
from daguerre.domain.image import Image
from daguerre.domain.task import FAILURE, PENDING, PROCESSING

LOCK = "os_glance_import_task"
STALE_AFTER = dt.timedelta(minutes=60)


async def ensure_free(conn: AsyncConnection, image: Image) -> None:
    """In the caller's write transaction: raise Conflict if a live task holds the lock; fail a
    stale holder so that the caller may set the lock to its own task."""
    holder = image.properties.get(LOCK)
    if not holder:
        return
    task = await task_repo.get(conn, holder)
    if task is None or task.status not in (PENDING, PROCESSING):
        return
    now = image_repo.utcnow()
    if now - (task.updated_at or now) < STALE_AFTER:
        raise Conflict(f"Image {image.id} has active task {holder}")
    await task_repo.update(conn, holder, status=FAILURE, message="Expired lock preempted")


def held_by(image: Image | None, task_id: str) -> TypeGuard[Image]:
    return image is not None and image.properties.get(LOCK) == task_id
