"""Filling the node-local image cache: copy the image's data from its best store, atomically."""

from __future__ import annotations

import logging
import os
import secrets

from daguerre.db import images as image_repo
from daguerre.domain import image as img
from daguerre.jobs import queue as job_queue
from daguerre.jobs.queue import Job
from daguerre.jobs.runner import Permanent, register
from daguerre.runtime import Runtime
from daguerre.services.cache import cache_dir, node_kind
from daguerre.stores.threads import BlockingIO

log = logging.getLogger(__name__)
_IO = BlockingIO(capacity=4)


async def fill_cache(rt: Runtime, job: Job) -> None:
    image_id = job.payload["image_id"]
    path = cache_dir(rt)
    if path is None:
        raise Permanent("image_cache_dir is not set on this node")
    async with rt.db.read() as conn:
        image = await image_repo.get(conn, image_id)
    if image is None or image.status != img.ACTIVE or not image.locations:
        raise Permanent(f"Image {image_id} is not active with data")
    best = rt.by_weight([loc.store for loc in image.locations if loc.store in rt.stores])
    if not best:
        raise Permanent(f"Image {image_id} has no data in a configured store")
    loc = next(loc for loc in image.locations if loc.store == best[0])
    tmp = path / f".{image_id}.{os.getpid()}.{secrets.token_hex(4)}"
    reader = await rt.store(loc.store).open(loc.key)
    try:
        # Writes and the fsync on threads: the worker shares the loop with API requests.
        with open(tmp, "wb") as f:
            async for chunk in reader:
                await _IO.run(f.write, chunk)
            await _IO.run(f.flush)
            await _IO.run(os.fsync, f.fileno())
        # Publish only while this job still exists: DELETE /v2/cache removes queued and running
        # fills in a write transaction, so either it sees the published file (and removes it)
        # or we see our job gone (and discard). Either way a cleared cache stays clear.
        async with rt.db.write() as conn:
            if await job_queue.get(conn, job.id) is not None:
                os.replace(tmp, path / image_id)
            else:
                log.info("cache fill of %s was cancelled by a cache clear; discarded", image_id)
    finally:
        await reader.aclose()
        tmp.unlink(missing_ok=True)


def install(rt: Runtime) -> None:
    """Register this node's cache kind (the kind carries the node, so other nodes never claim it)."""
    if cache_dir(rt) is not None:
        register(node_kind(rt), fill_cache)
