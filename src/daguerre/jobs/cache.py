"""Filling the node-local image cache: copy the image's data from its best store, atomically."""

from __future__ import annotations

import os
import secrets

from daguerre.db import images as image_repo
from daguerre.domain import image as img
from daguerre.jobs.queue import Job
from daguerre.jobs.runner import Permanent, register
from daguerre.runtime import Runtime
from daguerre.services.cache import cache_dir, node_kind


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
        with open(tmp, "wb") as f:
            async for chunk in reader:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path / image_id)
    finally:
        await reader.aclose()
        tmp.unlink(missing_ok=True)


def install(rt: Runtime) -> None:
    """Register this node's cache kind (the kind carries the node, so other nodes never claim it)."""
    if cache_dir(rt) is not None:
        register(node_kind(rt), fill_cache)
