"""The one import lock (services/import_lock.py), shared by imports and location imports."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from daguerre.db import images as image_repo
from daguerre.db import tasks as task_repo
from daguerre.db.database import Database
from daguerre.db.schema import tasks
from daguerre.domain import image as img
from daguerre.domain.errors import Conflict
from daguerre.domain.task import FAILURE, PROCESSING, SUCCESS, Task
from daguerre.services import import_lock


async def _locked_image(db: Database, task_status: str, task_age: dt.timedelta) -> tuple[str, str]:
    now = image_repo.utcnow()
    image = img.Image(id=str(uuid.uuid4()), owner="p1", created_at=now, updated_at=now)
    task = Task(
        id=str(uuid.uuid4()), type="api_image_import", status=task_status, owner="p1", image_id=image.id
    )
    image.properties[import_lock.LOCK] = task.id
    async with db.write() as conn:
        await image_repo.insert(conn, image)
        await task_repo.insert(conn, task)
        # Age the task as if it had not moved for task_age.
        await conn.execute(tasks.update().where(tasks.c.id == task.id).values(updated_at=now - task_age))
    return image.id, task.id


async def _ensure_free(db: Database, image_id: str) -> None:
    async with db.write() as conn:
        image = await image_repo.get(conn, image_id)
        await import_lock.ensure_free(conn, image)


async def _task_status(db: Database, task_id: str) -> str:
    async with db.read() as conn:
        return (await task_repo.get(conn, task_id)).status


async def test_a_live_holder_keeps_the_lock(sqlite_db: Database) -> None:
    image_id, task_id = await _locked_image(sqlite_db, PROCESSING, dt.timedelta(minutes=5))
    with pytest.raises(Conflict, match=task_id):
        await _ensure_free(sqlite_db, image_id)
    assert await _task_status(sqlite_db, task_id) == PROCESSING


async def test_a_stale_holder_is_failed_and_the_lock_taken_over(sqlite_db: Database) -> None:
    image_id, task_id = await _locked_image(
        sqlite_db, PROCESSING, import_lock.STALE_AFTER + dt.timedelta(minutes=1)
    )
    await _ensure_free(sqlite_db, image_id)
    assert await _task_status(sqlite_db, task_id) == FAILURE


@pytest.mark.parametrize("status", [SUCCESS, FAILURE])
async def test_a_finished_holder_does_not_hold(sqlite_db: Database, status: str) -> None:
    image_id, task_id = await _locked_image(sqlite_db, status, dt.timedelta(minutes=1))
    await _ensure_free(sqlite_db, image_id)
    assert await _task_status(sqlite_db, task_id) == status


async def test_held_by() -> None:
    image = img.Image(id="i", owner=None, properties={import_lock.LOCK: "t1"})
    assert import_lock.held_by(image, "t1")
    assert not import_lock.held_by(image, "t2")
    assert not import_lock.held_by(None, "t1")
