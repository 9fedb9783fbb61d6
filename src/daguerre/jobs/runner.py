"""Workers: claim jobs with a lease, run their handler, renew the lease while it runs.

In-process workers start with the API server by default; `daguerre worker` runs the same loop in
other processes or on other machines sharing the database and stores.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable

import sqlalchemy as sa

from daguerre.db.schema import jobs
from daguerre.jobs import queue
from daguerre.jobs.queue import Job
from daguerre.runtime import Runtime

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0
# Retries wait 2, 4, 8 ... seconds, at most this long: a job retried until done (a store that
# was down for hours) is tried again within minutes of the store coming back.
MAX_RETRY_DELAY = 300.0
Handler = Callable[[Runtime, Job], Awaitable[None]]
FailureHook = Callable[[Runtime, Job, str], Awaitable[None]]


class Permanent(Exception):
    """A job failure that retrying cannot fix (bad input, refused image)."""


_HANDLERS: dict[str, tuple[Handler, FailureHook | None]] = {}
# Kinds retried until they succeed or fail permanently, whatever their max_attempts: removing data
# from a store that is down. Giving up after three tries in six seconds would leave the data
# there for good.
_UNTIL_DONE: set[str] = set()


def handler(
    kind: str, on_failure: FailureHook | None = None, *, until_done: bool = False
) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _HANDLERS[kind] = (fn, on_failure)
        if until_done:
            _UNTIL_DONE.add(kind)
        return fn

    return register


@handler("delete-data", until_done=True)
async def _delete_data(rt: Runtime, job: Job) -> None:
    store_id = job.payload["store"]
    if store_id not in rt.stores:
        raise Permanent(f"store {store_id} is not configured here")
    await rt.stores[store_id].delete(job.payload["key"], missing_ok=True)


@handler("discard-partial", until_done=True)
async def _discard_partial(rt: Runtime, job: Job) -> None:
    """What a failed import or copy may have left in a store under a deleted image's key (an
    RBD image without its snapshot, an S3 multipart upload) when the store could not be reached
    to clean up. Enqueued when the image is deleted: no writer can start under its key again."""
    store_id = job.payload["store"]
    if store_id not in rt.stores:
        raise Permanent(f"store {store_id} is not configured here")
    await rt.stores[store_id].discard_partial(job.payload["key"])


@handler("delete-staging", until_done=True)
async def _delete_staging(rt: Runtime, job: Job) -> None:
    await rt.staging.delete(job.payload["key"], missing_ok=True)


def register(kind: str, fn: Handler, on_failure: FailureHook | None = None) -> None:
    _HANDLERS[kind] = (fn, on_failure)


def kinds() -> list[str]:
    return list(_HANDLERS)


async def _execute(rt: Runtime, job: Job) -> None:
    fn, on_failure = _HANDLERS[job.kind]

    async def keep_lease() -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            async with rt.db.write() as conn:
                await queue.renew(conn, job.id, rt.process_id, LEASE_SECONDS)

    renewer = asyncio.create_task(keep_lease())
    try:
        await fn(rt, job)
    except asyncio.CancelledError:
        # Shutdown: leave the row running; its lease expires and another worker resumes it.
        raise
    except Exception as exc:
        message = str(exc) or type(exc).__name__
        out_of_attempts = job.kind not in _UNTIL_DONE and job.attempts >= job.max_attempts
        permanent = isinstance(exc, Permanent) or out_of_attempts
        log.warning("job %s (%s) failed (attempt %d): %s", job.id, job.kind, job.attempts, message,
                    exc_info=not isinstance(exc, Permanent))  # fmt: skip
        if permanent and on_failure is not None:
            try:
                await on_failure(rt, job, message)
            except Exception:
                log.exception("failure hook of job %s failed", job.id)
        async with rt.db.write() as conn:
            retry_in = None if permanent else min(2.0 ** min(job.attempts, 30), MAX_RETRY_DELAY)
            await queue.fail(conn, job.id, message, retry_in=retry_in)
        return
    finally:
        renewer.cancel()
        try:
            await renewer
        except asyncio.CancelledError:
            pass
    async with rt.db.write() as conn:
        await queue.finish(conn, job.id)


async def run_now(rt: Runtime, job_id: str) -> bool:
    """Run one specific job in this task if it can be claimed; False if someone else has it."""
    async with rt.db.write() as conn:
        job = await queue.claim(conn, rt.process_id, LEASE_SECONDS, kinds(), job_id=job_id)
    if job is None:
        return False
    await _execute(rt, job)
    return True


async def run_one(rt: Runtime) -> bool:
    async with rt.db.write() as conn:
        job = await queue.claim(conn, rt.process_id, LEASE_SECONDS, kinds())
    if job is None:
        return False
    await _execute(rt, job)
    return True


async def worker_loop(rt: Runtime, *, poll: float = 0.5, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            worked = await run_one(rt)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("worker loop error")
            worked = False
        if not worked:
            await _idle(rt, stop, poll)


async def _idle(rt: Runtime, stop: asyncio.Event, poll: float) -> None:
    """Wait for the next poll, a job committed by this process, or the stop signal."""
    signal = rt.db.jobs_enqueued
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(signal.wait())]
    try:
        await asyncio.wait(waits, timeout=poll, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
    # Cleared only after waking: a job committed while we were claiming keeps it set, so the
    # next wait returns at once.
    signal.clear()


def dead_local_owner(owner: str | None, me: str) -> bool:
    """A lease held by a process on this host that no longer exists (or by our own past life)."""
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or owner == me:
        return False
    if int(pid_text) == os.getpid():
        return True  # same pid, different boot token: a previous incarnation
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


async def release_dead_local(rt: Runtime) -> int:
    """Jobs leased by a dead process on this host become claimable now, not when the lease runs out."""
    async with rt.db.write() as conn:
        rows = (await conn.execute(sa.select(jobs.c.id, jobs.c.lease_owner).where(
            jobs.c.state == queue.RUNNING, jobs.c.kind != "upload-guard"))).all()  # fmt: skip
        dead = [job_id for job_id, owner in rows if dead_local_owner(owner, rt.process_id)]
        if dead:
            await conn.execute(
                sa.update(jobs).where(jobs.c.id.in_(dead)).values(lease_expires_at=queue.utcnow())
            )
    return len(dead)
