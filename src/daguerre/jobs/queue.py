"""The jobs table as a queue. Rows are written in the same transaction as the state change that
needs them; workers claim with a lease (SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE on SQLite) and
renew it while they work, and a restart finds every unfinished job. A job that is retried starts
its handler over: handlers are written as idempotent steps (docs/architecture.md says why there are
no checkpoints)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from daguerre.db.database import JOBS_ENQUEUED
from daguerre.db.images import utcnow
from daguerre.db.schema import jobs

READY, RUNNING, DONE, FAILED = "ready", "running", "done", "failed"


@dataclass
class Job:
    id: str
    kind: str
    state: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    lease_owner: str | None
    image_id: str | None
    task_id: str | None


def _job(row: sa.Row) -> Job:
    m = row._mapping
    return Job(m["id"], m["kind"], m["state"], dict(m["payload"] or {}), m["attempts"],
               m["max_attempts"], m["lease_owner"], m["image_id"], m["task_id"])  # fmt: skip


async def enqueue(
    conn: AsyncConnection,
    kind: str,
    payload: dict[str, Any],
    *,
    image_id: str | None = None,
    task_id: str | None = None,
    max_attempts: int = 3,
    state: str = READY,
    lease_owner: str | None = None,
    lease_seconds: float = 0,
) -> str:
    now = utcnow()
    job_id = str(uuid.uuid4())
    if state == READY:
        # Once this transaction commits, Database.write wakes this process's idle workers.
        conn.info[JOBS_ENQUEUED] = True
    await conn.execute(
        jobs.insert().values(
            id=job_id, kind=kind, state=state, payload=payload, attempts=0, max_attempts=max_attempts,
            lease_owner=lease_owner, lease_expires_at=now + dt.timedelta(seconds=lease_seconds) if lease_owner else None,
            run_after=now, image_id=image_id, task_id=task_id, created_at=now, updated_at=now,
        )
    )  # fmt: skip
    return job_id


async def get(conn: AsyncConnection, job_id: str) -> Job | None:
    row = (await conn.execute(sa.select(jobs).where(jobs.c.id == job_id))).first()
    return _job(row) if row else None


async def claim(
    conn: AsyncConnection, owner: str, lease_seconds: float, kinds: list[str], job_id: str | None = None
) -> Job | None:
    """Take one ready job (or a running one whose lease expired) for ``owner``."""
    now = utcnow()
    query = (
        sa.select(jobs)
        .where(
            jobs.c.kind.in_(kinds),
            sa.or_(
                sa.and_(jobs.c.state == READY, jobs.c.run_after <= now),
                sa.and_(jobs.c.state == RUNNING, jobs.c.lease_expires_at < now),
            ),
        )
        .order_by(jobs.c.run_after)
        .limit(1)
    )
    if job_id is not None:
        query = query.where(jobs.c.id == job_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    job = _job(row)
    await conn.execute(
        jobs.update()
        .where(jobs.c.id == job.id)
        .values(state=RUNNING, lease_owner=owner, lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
                attempts=jobs.c.attempts + 1, updated_at=now)
    )  # fmt: skip
    job.state, job.lease_owner, job.attempts = RUNNING, owner, job.attempts + 1
    return job


async def attach_image(conn: AsyncConnection, job_id: str, payload: dict[str, Any], image_id: str) -> None:
    """A job that made its image (the legacy task import) records it, so a retry finds it."""
    await conn.execute(jobs.update().where(jobs.c.id == job_id).values(payload=payload, image_id=image_id))


async def renew(conn: AsyncConnection, job_id: str, owner: str, lease_seconds: float) -> bool:
    now = utcnow()
    values: dict[str, Any] = {
        "lease_expires_at": now + dt.timedelta(seconds=lease_seconds),
        "updated_at": now,
    }
    result = await conn.execute(
        jobs.update()
        .where(jobs.c.id == job_id, jobs.c.lease_owner == owner, jobs.c.state == RUNNING)
        .values(**values)
    )
    return result.rowcount == 1


async def finish(conn: AsyncConnection, job_id: str) -> None:
    await conn.execute(jobs.delete().where(jobs.c.id == job_id))


async def fail(conn: AsyncConnection, job_id: str, error: str, *, retry_in: float | None) -> None:
    now = utcnow()
    if retry_in is None:
        values = {"state": FAILED, "last_error": error, "lease_owner": None, "updated_at": now}
    else:
        values = {"state": READY, "last_error": error, "lease_owner": None, "updated_at": now,
                  "run_after": now + dt.timedelta(seconds=retry_in)}  # fmt: skip
    await conn.execute(jobs.update().where(jobs.c.id == job_id).values(**values))


async def expired_leases(conn: AsyncConnection, kind: str) -> list[Job]:
    rows = await conn.execute(
        sa.select(jobs).where(
            jobs.c.kind == kind, jobs.c.state == RUNNING, jobs.c.lease_expires_at < utcnow()
        )
    )
    return [_job(r) for r in rows]


async def held_by(conn: AsyncConnection, kind: str, owner_prefix: str) -> list[Job]:
    rows = await conn.execute(
        sa.select(jobs).where(
            jobs.c.kind == kind, jobs.c.state == RUNNING, jobs.c.lease_owner.like(owner_prefix + "%")
        )
    )
    return [_job(r) for r in rows]
