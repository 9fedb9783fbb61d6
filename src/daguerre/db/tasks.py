"""Task repository."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from daguerre.db.images import utcnow
from daguerre.db.schema import tasks
from daguerre.domain.task import Task

_FIELDS = ("id", "type", "status", "owner", "input", "result", "message", "image_id", "request_id", "user_id",
           "expires_at", "created_at", "updated_at")  # fmt: skip


def _task(row: sa.Row) -> Task:
    m = row._mapping
    return Task(**{f: m[f] for f in _FIELDS})


async def insert(conn: AsyncConnection, task: Task) -> None:
    now = utcnow()
    task.created_at = task.updated_at = now
    await conn.execute(tasks.insert().values(**{f: getattr(task, f) for f in _FIELDS}, deleted=False))


async def get(conn: AsyncConnection, task_id: str) -> Task | None:
    row = (
        await conn.execute(sa.select(tasks).where(tasks.c.id == task_id, tasks.c.deleted.is_(False)))
    ).first()
    return _task(row) if row else None


async def update(conn: AsyncConnection, task_id: str, **values: Any) -> None:
    values["updated_at"] = utcnow()
    await conn.execute(tasks.update().where(tasks.c.id == task_id).values(**values))


async def list_tasks(
    conn: AsyncConnection,
    *,
    owner: str | None,
    status: str | None,
    type_: str | None,
    sort_key: str,
    sort_dir: str,
    limit: int,
    marker: Task | None,
) -> list[Task]:
    conds: list[sa.ColumnElement[bool]] = [tasks.c.deleted.is_(False)]
    if owner is not None:
        conds.append(tasks.c.owner == owner)
    if status:
        conds.append(tasks.c.status == status)
    if type_:
        conds.append(tasks.c.type == type_)
    col = tasks.c[sort_key]
    if marker is not None:
        mval = getattr(marker, sort_key)
        if sort_dir == "asc":
            conds.append(sa.or_(col > mval, sa.and_(col == mval, tasks.c.id > marker.id)))
        else:
            conds.append(sa.or_(col < mval, sa.and_(col == mval, tasks.c.id < marker.id)))
    order = [col.asc(), tasks.c.id.asc()] if sort_dir == "asc" else [col.desc(), tasks.c.id.desc()]
    rows = await conn.execute(sa.select(tasks).where(*conds).order_by(*order).limit(limit))
    return [_task(r) for r in rows]


async def for_image(conn: AsyncConnection, image_id: str) -> list[Task]:
    now = utcnow()
    rows = await conn.execute(
        sa.select(tasks)
        .where(tasks.c.image_id == image_id, tasks.c.deleted.is_(False),
               sa.or_(tasks.c.expires_at.is_(None), tasks.c.expires_at > now))
        .order_by(tasks.c.created_at)
    )  # fmt: skip
    return [_task(r) for r in rows]


def expiry(hours: int) -> dt.datetime:
    return utcnow() + dt.timedelta(hours=hours)
