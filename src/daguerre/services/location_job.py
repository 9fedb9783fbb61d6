"""The location_import job (POST /v2/images/{id}/locations): record, hash, verify, activate.

1. queued → importing, and the location recorded, in one transaction (as Glance does first);
2. the size from the store; with ``[DEFAULT] do_secure_hash`` (default on) the data is read
   once through md5 + the os_hash algorithm (validation_data's, else ``hashing_algorithm``),
   each read retried up to ``[DEFAULT] http_retries`` times;
3. a validation_data value that does not match → the task fails;
4. importing → active with size, checksum and hash, the lock dropped and the task a success,
   in one transaction (so whoever sees the task done sees the image active).

Without do_secure_hash nothing is read: validation_data (if any) is taken as given.

On failure the image goes back to queued with no size or hashes and the task records why.
A location in an http store stays on the image (Glance keeps it, since the http store cannot
delete it, and Tempest asserts the image's ``stores`` still names it); a location in one of
our writable stores is removed from the record (the object itself is left alone).
"""

from __future__ import annotations

import logging

from daguerre.db import images as image_repo
from daguerre.db import tasks as task_repo
from daguerre.domain import image as img
from daguerre.domain.image import Location
from daguerre.domain.task import FAILURE, PROCESSING, SUCCESS
from daguerre.jobs.queue import Job
from daguerre.jobs.runner import Permanent, handler
from daguerre.runtime import Runtime
from daguerre.services import import_lock
from daguerre.services.import_lock import LOCK
from daguerre.services.locations import HASH_HOST, LOCATION_JOB
from daguerre.stores.base import StoreError, StoreNotFound
from daguerre.stores.streams import DigestingStream, Digests

log = logging.getLogger(__name__)


def _store(rt: Runtime, job: Job):  # noqa: ANN202
    store = rt.stores.get(job.payload["store"])
    if store is None:
        raise Permanent(f"store {job.payload['store']} is not configured here")
    return store


async def _with_retries(rt: Runtime, what: str, attempt):  # noqa: ANN001, ANN202
    tries = max(1, rt.settings.DEFAULT.http_retries)
    for n in range(1, tries + 1):
        try:
            return await attempt()
        except StoreNotFound as exc:
            raise Permanent(f"{what}: the data is not there ({exc})") from exc
        except StoreError as exc:
            log.warning("%s failed (%d/%d): %s", what, n, tries, exc)
            if n == tries:
                raise Permanent(f"{what} failed after {tries} attempts: {exc}") from exc
    raise AssertionError("unreachable")


async def _hash(rt: Runtime, job: Job, algo: str) -> Digests:
    store, key = _store(rt, job), job.payload["key"]

    async def once() -> Digests:
        reader = await store.open(key)
        try:
            stream = DigestingStream(reader.__aiter__(), algo,
                                     limits=[(rt.settings.DEFAULT.image_size_cap, "image_size_cap")])  # fmt: skip
            async for _chunk in stream:
                pass
            return stream.digests()
        finally:
            await reader.aclose()

    return await _with_retries(rt, f"Hash calculation of {job.payload['url']}", once)


async def _begin(rt: Runtime, job: Job) -> None:
    p = job.payload
    async with rt.db.write() as conn:
        image = await image_repo.get(conn, p["image_id"], for_update=True)
        if not import_lock.held_by(image, p["task_id"]):
            raise Permanent(f"Image {p['image_id']} was deleted or is no longer locked by this task")
        if image.status == img.QUEUED:
            if not await image_repo.transition(conn, image.id, [img.QUEUED], img.IMPORTING):
                raise Permanent(f"Image {image.id} changed status")
        elif image.status != img.IMPORTING:
            raise Permanent(f"Image {image.id} is {image.status}, not queued")
        if not any(loc.url == p["url"] for loc in image.locations):
            meta = {"store": p["store"]} if rt.multi_store else {}
            await image_repo.add_location(
                conn, image.id, Location(p["store"], p["key"], p["url"], "active", meta)
            )
        await image_repo.set_properties(conn, image.id, {HASH_HOST: rt.process_id})
        await task_repo.update(conn, p["task_id"], status=PROCESSING, message="Calculating the hash")


async def location_failed(rt: Runtime, job: Job, message: str) -> None:
    """Back to queued, no size or hashes; the task says why."""
    p = job.payload
    async with rt.db.write() as conn:
        image = await image_repo.get(conn, p["image_id"], for_update=True)
        if import_lock.held_by(image, p["task_id"]):
            await image_repo.transition(conn, image.id, [img.IMPORTING], img.QUEUED, size=None, virtual_size=None,
                                        checksum=None, os_hash_algo=None, os_hash_value=None)  # fmt: skip
            store = rt.stores.get(p["store"])
            if store is not None and store.capabilities.writable:
                kept = [loc for loc in image.locations if loc.url != p["url"]]
                await image_repo.remove_locations(conn, image.id)
                for loc in kept:
                    await image_repo.add_location(conn, image.id, loc)
            await image_repo.set_properties(conn, image.id, {LOCK: None, HASH_HOST: None})
        await task_repo.update(conn, p["task_id"], status=FAILURE, message=message,
                               expires_at=task_repo.expiry(rt.settings.task.task_time_to_live))  # fmt: skip


@handler(LOCATION_JOB, on_failure=location_failed)
async def run_location_import(rt: Runtime, job: Job) -> None:
    p = job.payload
    d = rt.settings.DEFAULT
    vd = p.get("validation_data") or {}
    await _begin(rt, job)
    store = _store(rt, job)
    if d.do_secure_hash:
        digests = await _hash(rt, job, vd.get("os_hash_algo") or d.hashing_algorithm)
        if vd and vd["os_hash_value"] != digests.value:
            raise Permanent(f"os_hash_value: ({vd['os_hash_value']}) not matched with actual os_hash_value: "
                            f"({digests.value})")  # fmt: skip
        values = {"size": digests.size, "checksum": digests.md5, "os_hash_algo": digests.algo,
                  "os_hash_value": digests.value}  # fmt: skip
    else:
        size = await _with_retries(rt, f"Size of {p['url']}", lambda: store.stat(p["key"]))
        values = {"size": size, "checksum": None, "os_hash_algo": vd.get("os_hash_algo"),
                  "os_hash_value": vd.get("os_hash_value")}  # fmt: skip
    async with rt.db.write() as conn:
        image = await image_repo.get(conn, p["image_id"], for_update=True)
        if not import_lock.held_by(image, p["task_id"]):
            raise Permanent(f"Image {p['image_id']} was deleted or changed while its data was being hashed")
        if not await image_repo.transition(conn, image.id, [img.IMPORTING], img.ACTIVE, **values):
            raise Permanent(f"Image {image.id} changed status while its data was being hashed")
        await image_repo.set_properties(conn, image.id, {LOCK: None, HASH_HOST: None})
        await task_repo.update(
            conn, p["task_id"], status=SUCCESS, result={"image_id": image.id},
            message="" if d.do_secure_hash else "Location added without hashing (do_secure_hash is off)",
            expires_at=task_repo.expiry(rt.settings.task.task_time_to_live),
        )  # fmt: skip
