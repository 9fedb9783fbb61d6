"""Image data: upload (PUT /file), stage (PUT /stage), download (GET /file), and recovery of
transfers interrupted by a crash.

The upload, top to bottom: authorize → load → queued→saving (guarded; a second upload gets 409)
with an upload lease in the same transaction → stream through size limits, md5+sha512 and the
format inspector → store.put → judge the inspected format → record location, size, hashes,
virtual size → active → commit. Any failure: delete what was written, restore queued, raise.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from daguerre.context import RequestContext
from daguerre.db import images as image_repo
from daguerre.domain import image as img
from daguerre.domain.errors import (
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    RangeNotSatisfiable,
    TooLarge,
    Unavailable,
    UnsupportedMedia,
)
from daguerre.domain.image import Image, Location
from daguerre.formats import FormatRefused, Inspector, SafetyPolicy, Verdict, judge
from daguerre.jobs import queue as job_queue
from daguerre.jobs.runner import LEASE_SECONDS, dead_local_owner
from daguerre.runtime import Runtime
from daguerre.services import access
from daguerre.services.cache import open_cached
from daguerre.stores import STAGING_STORE
from daguerre.stores.base import (
    ObjectReader,
    Store,
    StoreError,
    StoreFull,
    StoreNotFound,
    StoreSizeMismatch,
    StoreUnavailable,
)
from daguerre.stores.streams import DigestingStream, LimitExceeded, rechunk

log = logging.getLogger(__name__)

UPLOAD_GUARD = "upload-guard"


def safety_policy(rt: Runtime) -> SafetyPolicy:
    f = rt.settings.image_format
    relaxed = set(f.relaxed_checks)
    if not f.require_image_format_match:
        # Glance's switch: a claim that does not match the bytes is logged, not refused.
        # Intrinsic safety failures (backing files, data files, ...) are still refused.
        relaxed.add("format_mismatch")
    return SafetyPolicy(
        max_virtual_size=f.max_virtual_size,
        relaxed_checks=frozenset(relaxed),
        vmdk_allowed_types=frozenset(f.vmdk_allowed_types),
    )


def judge_claim(rt: Runtime, verdict: Verdict, disk_format: str) -> Verdict:
    """Our rule (format-safety spec): refuse with 415 naming the check and the detected format."""
    try:
        return judge(verdict, disk_format, safety_policy(rt))
    except FormatRefused as exc:
        raise UnsupportedMedia(f"Image content refused by format inspection: {exc}") from exc


def _limits(rt: Runtime, used: int) -> list[tuple[int, str]]:
    limits = [(rt.settings.DEFAULT.image_size_cap, "image_size_cap")]
    quota = rt.settings.storage_quota_bytes
    if quota > 0:
        limits.append((max(quota - used, 0), "user_storage_quota"))
    return limits


def _limit_error(exc: LimitExceeded) -> TooLarge:
    if exc.what == "image_size_cap":
        return TooLarge(f"Image exceeds the storage quota: image_size_cap of {exc.limit} bytes exceeded")
    return TooLarge(f"Denying attempt to upload image because it exceeds the quota: {exc.what}")


async def _lease_keeper(rt: Runtime, guard_id: str) -> None:
    while True:
        await asyncio.sleep(LEASE_SECONDS / 3)
        async with rt.db.write() as conn:
            await job_queue.renew(conn, guard_id, rt.process_id, LEASE_SECONDS)


@dataclass
class _Transfer:
    image: Image
    guard_id: str


async def _begin(rt: Runtime, ctx: RequestContext, image_id: str, rule: str, target_status: str,
                 expected: int | None, store_key: str, store_id: str) -> _Transfer:  # fmt: skip
    async with rt.db.write() as conn:
        image, tgt = await access.load(rt, conn, ctx, image_id, for_update=True)
        rt.policy.authorize(ctx, rule, tgt)
        if image.status != img.QUEUED:
            raise Conflict(
                f"Image {image_id} is in status {image.status}; data can only be added to a queued image"
            )
        if not image.disk_format or not image.container_format:
            raise Invalid("Properties disk_format, container_format must be set prior to saving data.")
        if expected is not None and expected > rt.settings.DEFAULT.image_size_cap:
            raise TooLarge(
                f"Image size {expected} exceeds image_size_cap of {rt.settings.DEFAULT.image_size_cap} bytes"
            )
        quota = rt.settings.storage_quota_bytes
        if (
            quota > 0
            and expected is not None
            and image.owner
            and await image_repo.storage_used(conn, image.owner) + expected > quota
        ):
            raise TooLarge("Denying attempt to upload image because it exceeds the quota")
        if not await image_repo.transition(conn, image_id, [img.QUEUED], target_status):
            raise Conflict(f"Image {image_id} is not queued")
        guard_id = await job_queue.enqueue(
            conn, UPLOAD_GUARD, {"store": store_id, "key": store_key, "status": target_status},
            image_id=image_id, state=job_queue.RUNNING, lease_owner=rt.process_id, lease_seconds=LEASE_SECONDS,
        )  # fmt: skip
    return _Transfer(image, guard_id)


async def _abort(rt: Runtime, transfer: _Transfer, from_status: str, store: Store, key: str) -> None:
    """Undo an upload or stage: data removed, image back in queued, guard gone.

    The data may be a finished object or a store's partial one (an RBD image without its
    snapshot, an S3 multipart upload) that the store's own clean-up could not remove, typically
    because the store stopped answering, which is also why the upload failed. Then the image
    stays in its transfer status and the guard's lease is ended at once, so housekeeping (any
    process, every few seconds) removes the data and puts the image back in queued as soon as
    the store answers: no orphan is left, and no new upload can write under the key before."""
    try:
        await store.delete(key, missing_ok=True)
        await store.discard_partial(key)
    except StoreError as exc:
        log.warning("could not remove the data of failed upload %s yet (%s); housekeeping retries", key, exc)
        async with rt.db.write() as conn:
            await job_queue.renew(conn, transfer.guard_id, rt.process_id, 0)
        return
    async with rt.db.write() as conn:
        await image_repo.transition(
            conn, transfer.image.id, [from_status], img.QUEUED, size=None, virtual_size=None
        )
        await job_queue.finish(conn, transfer.guard_id)


async def _put(rt: Runtime, store: Store, key: str, stream: DigestingStream, expected: int | None) -> None:
    try:
        await store.put(key, stream.__aiter__(), size=expected)
    except LimitExceeded as exc:
        raise _limit_error(exc) from exc
    except StoreSizeMismatch as exc:
        raise Invalid(f"Image size mismatch: declared {exc.expected} bytes, received {exc.actual}") from exc
    except StoreFull as exc:
        raise TooLarge(f"Image storage media is full: {exc}") from exc
    except StoreUnavailable as exc:
        raise Unavailable(str(exc)) from exc
    except StoreError as exc:
        # Any other store failure is the backend's, not the caller's: 503 with what went wrong.
        raise Unavailable(f"The image store failed: {exc}") from exc


async def upload(
    rt: Runtime,
    ctx: RequestContext,
    image_id: str,
    body: AsyncIterator[bytes],
    expected_size: int | None,
    store_id: str | None = None,
) -> Image:
    store_id = store_id or rt.default_store
    if store_id not in rt.stores:
        raise Invalid(f"Store for identifier {store_id} not found")
    store = rt.stores[store_id]
    if not store.capabilities.writable:
        raise Gone(f"Store {store_id} is read-only: data cannot be uploaded to it")
    key = image_id
    transfer = await _begin(rt, ctx, image_id, "upload_image", img.SAVING, expected_size, key, store_id)
    image = transfer.image
    keeper = asyncio.create_task(_lease_keeper(rt, transfer.guard_id))
    try:
        # A previous attempt that crashed after writing but before recording leaves data under the
        # key (finished, or unfinished such as an S3 multipart upload): the upload guard makes
        # removing it safe.
        try:
            await store.delete(key, missing_ok=True)
        except StoreError as exc:
            raise Unavailable(f"The image store failed: {exc}") from exc
        await store.discard_partial(key)
        async with rt.db.read() as conn:
            used = await image_repo.storage_used(conn, image.owner) if image.owner else 0
        inspector = Inspector(safety_policy(rt))
        stream = DigestingStream(
            rechunk(body),
            rt.settings.DEFAULT.hashing_algorithm,
            limits=_limits(rt, used),
            observers=[inspector.feed],
        )
        await _put(rt, store, key, stream, expected_size)
        verdict = judge_claim(rt, inspector.finish(), image.disk_format or "raw")
        digests = stream.digests()
        async with rt.db.write() as conn:
            ok = await image_repo.transition(
                conn, image_id, [img.SAVING], img.ACTIVE, size=digests.size, checksum=digests.md5,
                os_hash_algo=digests.algo, os_hash_value=digests.value, virtual_size=verdict.virtual_size,
            )  # fmt: skip
            if not ok:
                raise Gone(f"Image {image_id} was deleted or changed while its data was being uploaded")
            await image_repo.add_location(conn, image_id, Location(store_id, key, store.location_url(key),
                                                                   metadata={"store": store_id}))  # fmt: skip
            await job_queue.finish(conn, transfer.guard_id)
    except BaseException:
        keeper.cancel()
        await asyncio.shield(_abort(rt, transfer, img.SAVING, store, key))
        raise
    keeper.cancel()
    return await _reload(rt, image_id)


async def _exists(store: Store, key: str) -> bool:
    try:
        await store.stat(key)
        return True
    except StoreError:
        return False


async def _reload(rt: Runtime, image_id: str) -> Image:
    async with rt.db.read() as conn:
        image = await image_repo.get(conn, image_id)
    if image is None:
        raise Gone(f"Image {image_id} was deleted")
    return image


async def stage(
    rt: Runtime, ctx: RequestContext, image_id: str, body: AsyncIterator[bytes], expected_size: int | None
) -> Image:
    """PUT /stage: like upload, into the staging store; the import job inspects and stores it."""
    if "glance-direct" not in rt.settings.DEFAULT.enabled_import_methods:
        raise NotFound("glance-direct import method is not enabled")
    key = image_id
    if await _exists(rt.staging, key):
        async with rt.db.read() as conn:
            await access.load(rt, conn, ctx, image_id)
        raise Conflict(f"Image {image_id} already has data on staging")
    transfer = await _begin(
        rt, ctx, image_id, "modify_image", img.UPLOADING, expected_size, key, STAGING_STORE
    )
    image = transfer.image
    keeper = asyncio.create_task(_lease_keeper(rt, transfer.guard_id))
    try:
        stream = DigestingStream(rechunk(body), rt.settings.DEFAULT.hashing_algorithm,
                                 limits=[(rt.settings.DEFAULT.image_size_cap, "image_size_cap")])  # fmt: skip
        await _put(rt, rt.staging, key, stream, expected_size)
        async with rt.db.write() as conn:
            current = await image_repo.get(conn, image_id)
            if current is None or current.status != img.UPLOADING:
                raise Gone(f"Image {image_id} was deleted or changed while being staged")
            await image_repo.update_fields(conn, image_id, img.UPLOADING, size=stream.size)
            await image_repo.set_properties(conn, image_id, {"os_glance_stage_host": rt.process_id})
            await job_queue.finish(conn, transfer.guard_id)
    except BaseException:
        keeper.cancel()
        await asyncio.shield(_abort(rt, transfer, img.UPLOADING, rt.staging, key))
        raise
    keeper.cancel()
    return image


@dataclass
class Download:
    image: Image
    reader: ObjectReader | None  # None: no data (204)
    partial: bool = False


_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", re.IGNORECASE)
_CONTENT_RANGE = re.compile(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", re.IGNORECASE)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """A single HTTP byte range as [start, end); None for no range. Multiple ranges → 400.

    As Glance: a range past the end is cut to the end, a suffix longer than the image is the whole
    image, a first byte at or past the end is 416. Unlike Glance, ``bytes=-0`` and any range of an
    empty image are 416 (RFC 9110: nothing can satisfy them), and trailing junk is not ignored.
    """
    if not header:
        return None
    if "," in header:
        raise Invalid("Requests with multiple ranges are not supported; make several single-range requests.")
    m = _RANGE.fullmatch(header)
    if not m or not (m[1] or m[2]) or (m[1] and m[2] and int(m[2]) < int(m[1])):
        raise RangeNotSatisfiable(f"Invalid Range header: {header}")
    if not m[1]:
        suffix = int(m[2])
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(f"Range {header} cannot be satisfied: the image has {size} bytes")
        return max(size - suffix, 0), size
    start = int(m[1])
    if start >= size:
        raise RangeNotSatisfiable(
            f"Invalid start position in Range header: it must be in the inclusive range [0, {size - 1}]"
            if size
            else f"Range {header} cannot be satisfied: the image has 0 bytes"
        )
    return start, (min(int(m[2]) + 1, size) if m[2] else size)


def parse_content_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The legacy request header ``Content-Range: bytes a-b/(length|*)``, honoured as a range
    request as Glance does: both ends required, and the last byte must be inside the image."""
    if not header:
        return None
    m = _CONTENT_RANGE.fullmatch(header)
    if not m:
        raise RangeNotSatisfiable(f"Invalid Content-Range header: {header}")
    start, end = int(m[1]), int(m[2]) + 1
    if end <= start or (m[3] != "*" and end > int(m[3])):
        raise RangeNotSatisfiable(f"Invalid Content-Range header: {header}")
    if end > size:
        raise RangeNotSatisfiable(
            f"Invalid stop position in Content-Range header: it must be in the inclusive range [0, {size - 1}]"
            if size
            else f"Content-Range {header} cannot be satisfied: the image has 0 bytes"
        )
    return start, end


async def download(
    rt: Runtime, ctx: RequestContext, image_id: str, range_header: str | None, content_range: str | None
) -> Download:
    async with rt.db.read() as conn:
        image, tgt = await access.load(rt, conn, ctx, image_id)
    rt.policy.authorize(ctx, "download_image", tgt)
    if image.status == img.DEACTIVATED and not ctx.is_admin:
        raise Forbidden("The requested image has been deactivated. Image data download is forbidden.")
    if not image.locations or image.size is None:
        return Download(image, None)
    size = image.size
    wanted = parse_range(range_header, size) if range_header else parse_content_range(content_range, size)
    cached = await open_cached(rt, image, wanted) if image.status == img.ACTIVE else None
    if cached is not None:
        return Download(image, cached, partial=wanted is not None)
    last_error: Exception | None = None
    order = rt.by_weight([loc.store for loc in image.locations])
    for loc in sorted(image.locations, key=lambda loc: order.index(loc.store)):
        store = rt.stores.get(loc.store)
        if store is None:
            continue
        try:
            reader = await store.open(loc.key, wanted)
            return Download(image, reader, partial=wanted is not None)
        except StoreNotFound:
            continue
        except StoreError as exc:
            last_error = exc
    if last_error is not None:
        raise Unavailable(f"Image data is temporarily unavailable: {last_error}")
    return Download(image, None)


async def recover_interrupted(rt: Runtime) -> int:
    """Uploads and stages whose process died: remove their data and put the image back in queued."""
    recovered = 0
    async with rt.db.read() as conn:
        guards = await job_queue.expired_leases(conn, UPLOAD_GUARD)
        guards += [
            g
            for g in await job_queue.held_by(conn, UPLOAD_GUARD, "")
            if dead_local_owner(g.lease_owner, rt.process_id)
        ]
    seen = set()
    for guard in guards:
        if guard.id in seen:
            continue
        seen.add(guard.id)
        store = (
            rt.staging if guard.payload["store"] == STAGING_STORE else rt.stores.get(guard.payload["store"])
        )
        if store is not None:
            try:
                await store.delete(guard.payload["key"], missing_ok=True)
                await store.discard_partial(guard.payload["key"])
            except StoreError:
                log.exception("cannot remove data of interrupted upload %s yet", guard.image_id)
                continue
        if guard.image_id is None:
            continue  # every upload guard names its image; nothing to put back otherwise
        async with rt.db.write() as conn:
            await image_repo.transition(
                conn, guard.image_id, [guard.payload["status"]], img.QUEUED, size=None, virtual_size=None
            )
            await job_queue.finish(conn, guard.id)
        log.warning(
            "recovered interrupted upload of image %s: back to queued, partial data removed", guard.image_id
        )
        recovered += 1
    return recovered
