"""The node-local image cache (/v2/cache): admin-only, as Glance.

Each node (a host and its cache directory) caches for itself; filling the cache is a durable job
whose kind names the node, so only that node's workers claim it and a restart resumes it.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from daguerre.context import RequestContext
from daguerre.db import images as image_repo
from daguerre.db.schema import jobs
from daguerre.domain import image as img
from daguerre.domain.errors import Invalid, NotFound
from daguerre.jobs import queue as job_queue
from daguerre.runtime import Runtime
from daguerre.stores.base import ObjectReader, StoreNotFound
from daguerre.stores.filesystem import FilesystemStore


def cache_dir(rt: Runtime) -> Path | None:
    d = rt.settings.DEFAULT.image_cache_dir
    if not d:
        return None
    path = Path(d).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def node_kind(rt: Runtime) -> str:
    return f"cache-image:{socket.gethostname()}:{cache_dir(rt)}"


def _require(rt: Runtime, ctx: RequestContext, rule: str) -> Path:
    rt.policy.authorize(ctx, rule, {"project_id": ctx.project_id})
    path = cache_dir(rt)
    if path is None:
        raise NotFound("Caching via API is not supported at this site.")
    return path


@dataclass
class CacheEntry:
    image_id: str
    hits: int
    last_accessed: float
    last_modified: float
    size: int


def _meta(path: Path) -> dict:
    try:
        return json.loads(path.with_suffix(".meta").read_text())
    except (OSError, ValueError):
        return {}


def entries(path: Path) -> list[CacheEntry]:
    out = []
    for f in sorted(path.iterdir()):
        if f.suffix or not f.is_file() or f.name.startswith("."):
            continue
        st = f.stat()
        meta = _meta(f)
        out.append(CacheEntry(f.name, int(meta.get("hits", 0)), float(meta.get("last_accessed", st.st_mtime)),
                              st.st_mtime, st.st_size))  # fmt: skip
    return out


async def queued(rt: Runtime) -> list[str]:
    async with rt.db.read() as conn:
        rows = await conn.execute(sa.select(jobs.c.image_id).where(
            jobs.c.kind == node_kind(rt), jobs.c.state.in_([job_queue.READY, job_queue.RUNNING])))  # fmt: skip
        return [r[0] for r in rows]


async def list_cache(rt: Runtime, ctx: RequestContext) -> tuple[list[CacheEntry], list[str]]:
    path = _require(rt, ctx, "cache_list")
    return entries(path), await queued(rt)


async def queue_image(rt: Runtime, ctx: RequestContext, image_id: str) -> None:
    path = _require(rt, ctx, "cache_image")
    async with rt.db.write() as conn:
        image = await image_repo.get(conn, image_id) if len(image_id) <= 36 else None
        if image is None:
            raise NotFound(f"Image {image_id} not found")
        if image.status != img.ACTIVE:
            raise Invalid(f"Only active images can be cached; image {image_id} is {image.status}")
        if (path / image_id).exists() or image_id in await queued(rt):
            return
        await job_queue.enqueue(conn, node_kind(rt), {"image_id": image_id}, image_id=image_id)


async def delete(rt: Runtime, ctx: RequestContext, image_id: str) -> None:
    path = _require(rt, ctx, "cache_delete")
    async with rt.db.read() as conn:
        known = await image_repo.get(conn, image_id) if len(image_id) <= 36 else None
    f = path / image_id
    if known is None and not f.exists():
        raise NotFound(f"Image {image_id} is neither known nor cached")
    f.unlink(missing_ok=True)
    f.with_suffix(".meta").unlink(missing_ok=True)


async def clear(rt: Runtime, ctx: RequestContext, target: str | None) -> None:
    path = _require(rt, ctx, "cache_delete")
    target = (target or "").strip().lower()
    if target not in ("", "cache", "queue"):
        raise Invalid(f"Invalid x-image-cache-clear-target {target!r}: use cache, queue or nothing for both")
    if target in ("", "queue"):
        async with rt.db.write() as conn:
            # Running fills too: a fill publishes its file only if its job still exists.
            await conn.execute(
                jobs.delete().where(
                    jobs.c.kind == node_kind(rt), jobs.c.state.in_([job_queue.READY, job_queue.RUNNING])
                )
            )
    if target in ("", "cache"):
        for f in path.iterdir():
            if f.is_file():
                f.unlink(missing_ok=True)


@functools.lru_cache(maxsize=4)
def _cache_store(directory: Path) -> FilesystemStore:
    """The cache directory read as a store (ranges, the same reader as every store), made once."""
    return FilesystemStore("image-cache", directory)


async def open_cached(
    rt: Runtime, image: img.Image, byte_range: tuple[int, int] | None
) -> ObjectReader | None:
    """A reader over the cached copy of the image's data (counting the hit), or None."""
    path = cached_path(rt, image)
    if path is None:
        return None
    store = _cache_store(path.parent)
    try:
        return await store.open(path.name, byte_range)
    except StoreNotFound:
        return None  # evicted between the check and the open


def cached_path(rt: Runtime, image: img.Image) -> Path | None:
    """The cached copy of an active image's data, counting the hit; None when not cached."""
    path = cache_dir(rt)
    if path is None or image.size is None:
        return None
    f = path / image.id
    try:
        if f.stat().st_size != image.size:
            return None
    except FileNotFoundError:
        return None
    meta = _meta(f)
    meta = {"hits": int(meta.get("hits", 0)) + 1, "last_accessed": time.time()}
    tmp = f.with_suffix(f".meta.{os.getpid()}")
    tmp.write_text(json.dumps(meta))
    tmp.replace(f.with_suffix(".meta"))
    return f
