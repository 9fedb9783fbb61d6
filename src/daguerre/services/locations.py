"""Image locations: the ``locations`` JSON-patch operations and the Locations API (v2.17).

Two ways in, as in Glance:

* PATCH ``/locations`` (only with ``[DEFAULT] show_multiple_locations = True``): add, replace
  and remove location records synchronously. A queued image that gains a location becomes
  active at once, taking size from the location and checksum/hashes from ``validation_data``
  (trusted, not computed). Checked against contract §2.3.
* ``POST /v2/images/{id}/locations``: the image must be queued; a ``location_import`` task
  (services/location_job.py) records the location, hashes the data (``do_secure_hash``), verifies
  ``validation_data`` and activates the image. ``GET`` lists locations for services.

A location URL is either an http(s) URL served through a configured read-only ``http`` store
(filtered by ``[import_filtering_opts]`` like web-download), or the location URL of an object
in one of our writable stores; only service callers (rule ``service_api``) may name the latter,
and never an object another image uses.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from daguerre.context import RequestContext
from daguerre.db import images as image_repo
from daguerre.db import tasks as task_repo
from daguerre.db.schema import image_locations, images
from daguerre.domain import image as img
from daguerre.domain.errors import Conflict, DomainError, Forbidden, Invalid, TooLarge
from daguerre.domain.image import Image, Location
from daguerre.domain.task import PENDING, Task
from daguerre.jobs import queue as job_queue
from daguerre.runtime import Runtime
from daguerre.services import access, import_lock
from daguerre.stores.base import Store, StoreError

LOCATION_JOB = "location-import"
TASK_TYPE = "location_import"
HASH_HOST = "os_glance_hash_op_host"
# Algorithms the Locations API accepts in validation_data (Glance's schema enum).
API_HASH_ALGOS = ("sha1", "sha256", "sha512", "md5")
MAX_URL = 255


# --- stores ----------------------------------------------------------------------------------


def writable_stores(rt: Runtime) -> list[str]:
    """Store ids that accept data (uploads, imports, copies): every store but the http ones."""
    return [sid for sid, store in rt.stores.items() if store.capabilities.writable]


def http_store(rt: Runtime) -> Store | None:
    """The configured http store (the heaviest when there are several)."""
    ids = [sid for sid, store in rt.stores.items() if store.type == "http"]
    return rt.stores[rt.by_weight(ids)[0]] if ids else None


def _is_http(url: str) -> bool:
    return url.split(":", 1)[0].lower() in ("http", "https")


def _match_writable(rt: Runtime, url: str) -> tuple[str, str] | None:
    """(store, key) when ``url`` is the location URL of an object in one of our writable stores."""
    marker = "KEYf3c1a9d07e"
    for sid in writable_stores(rt):
        store = rt.stores[sid]
        try:
            prefix, _, suffix = store.location_url(marker).partition(marker)
            if url.startswith(prefix) and url.endswith(suffix) and len(url) > len(prefix) + len(suffix):
                key = url[len(prefix) : len(url) - len(suffix)]
                if "/" not in key and store.location_url(key) == url:
                    return sid, key
        except StoreError:
            continue
    return None


@dataclass
class Resolved:
    url: str
    store: str
    key: str
    size: int


async def resolve(rt: Runtime, ctx: RequestContext, url: str, tgt: dict, *, connect: bool = True) -> Resolved:
    """Which store serves ``url`` and how big the object is; 400/403 when it may not be used.

    With ``connect=False`` an http URL is only filtered (no request is sent) and size is -1.
    """
    if not isinstance(url, str) or not url:
        raise Invalid("Invalid location: the URL must be a non-empty string")
    if len(url) > MAX_URL:
        raise Invalid(f"Invalid location: the URL is longer than {MAX_URL} characters")
    if _is_http(url):
        store = http_store(rt)
        if store is None:
            raise Invalid("Invalid location: no http store is configured here")
        try:
            await store.check_url(url)  # type: ignore[attr-defined]
            size = await store.stat(url) if connect else -1
        except StoreError as exc:
            raise Invalid(f"Invalid location {url}: {exc}") from None
        if connect and size <= 0:
            raise Invalid(f"Invalid location {url}: the object is empty or its size is unknown")
        return Resolved(url, store.id, url, size)
    match = _match_writable(rt, url)
    if match is None:
        raise Invalid(f"Invalid location {url}: no store here serves this URL")
    if not rt.policy.check(ctx, "service_api", tgt):
        raise Forbidden("Only services may add locations in Image service stores; use an http URL")
    sid, key = match
    async with rt.db.read() as conn:
        used = await _key_users(conn, sid, key)
    if used - {tgt.get("id")}:
        raise Invalid(f"Invalid location {url}: the data belongs to another image")
    try:
        size = await rt.stores[sid].stat(key)
    except StoreError as exc:
        raise Invalid(f"Invalid location {url}: {exc}") from None
    if size <= 0:
        raise Invalid(f"Invalid location {url}: the object is empty")
    return Resolved(url, sid, key, size)


async def _key_users(conn: AsyncConnection, store: str, key: str) -> set[str]:
    rows = await conn.execute(
        sa.select(image_locations.c.image_id)
        .join(images, images.c.id == image_locations.c.image_id)
        .where(image_locations.c.store == store, image_locations.c.key == key, images.c.deleted.is_(False))
    )
    return {r[0] for r in rows}


def _location(rt: Runtime, r: Resolved, metadata: dict) -> Location:
    meta = dict(metadata)
    if rt.multi_store:
        meta["store"] = r.store
    return Location(r.store, r.key, r.url, "active", meta)


# --- JSON patch --------------------------------------------------------------------------------


def _location_ops(ops: list) -> list:
    return [op for op in ops if op.path and op.path[0] == "locations"]


async def precheck(
    rt: Runtime, ctx: RequestContext, image_id: str, ops: list
) -> dict[str, Resolved | DomainError]:
    """Before the write transaction: resolve every URL the patch adds (network I/O happens here).

    Errors are kept, not raised, so that ``apply_op`` reports them in patch order (a 409 on
    validation_data wins over a bad URL, as in Glance).
    """
    values: list[Any] = []
    for op in _location_ops(ops):
        if op.op == "add":
            values.append(op.value)
        elif op.op == "replace" and isinstance(op.value, list):
            values.extend(op.value)
    urls = {v["url"] for v in values if isinstance(v, dict) and isinstance(v.get("url"), str)}
    if not urls or not rt.settings.DEFAULT.show_multiple_locations:
        return {}
    async with rt.db.read() as conn:
        image, tgt = await access.load(rt, conn, ctx, image_id)
    if not rt.policy.check(ctx, "modify_image", tgt) or not rt.policy.check(ctx, "set_image_location", tgt):
        return {}  # apply_op raises the 403 without our having fetched anything
    known = {loc.url: loc for loc in image.locations}
    out: dict[str, Resolved | DomainError] = {}
    for url in sorted(urls):
        if url in known and image.size is not None:  # already here (a metadata-only replace): no new check
            loc = known[url]
            out[url] = Resolved(url, loc.store, loc.key, image.size)
            continue
        try:
            out[url] = await resolve(rt, ctx, url, tgt)
        except DomainError as exc:
            out[url] = exc
    return out


def _check_value(value: Any) -> dict:
    """A location object: {url, metadata[, validation_data]} (Glance's location schema)."""
    if not isinstance(value, dict):
        raise Invalid("Provided object does not match schema 'image': a location must be an object")
    extra = set(value) - {"url", "metadata", "validation_data"}
    if extra:
        raise Invalid(
            f"Provided object does not match schema 'image': unexpected location keys {sorted(extra)}"
        )
    if not isinstance(value.get("url"), str) or not value["url"]:
        raise Invalid("Provided object does not match schema 'image': location 'url' is required")
    if len(value["url"]) > MAX_URL:
        raise Invalid(f"Provided object does not match schema 'image': location url longer than {MAX_URL}")
    if not isinstance(value.get("metadata"), dict):
        raise Invalid("Provided object does not match schema 'image': location 'metadata' must be an object")
    vd = value.get("validation_data")
    if vd is not None:
        if not isinstance(vd, dict) or set(vd) - {"checksum", "os_hash_algo", "os_hash_value"}:
            raise Invalid("Provided object does not match schema 'image': invalid validation_data")
        if not all(isinstance(vd.get(k), str) for k in ("os_hash_algo", "os_hash_value")):
            raise Invalid("Provided object does not match schema 'image': validation_data needs os_hash_algo "
                          "and os_hash_value")  # fmt: skip
        if len(vd["os_hash_algo"]) > 64 or len(vd["os_hash_value"]) > 128:
            raise Invalid("Provided object does not match schema 'image': validation_data value too long")
        if "checksum" in vd and (not isinstance(vd["checksum"], str) or len(vd["checksum"]) != 32):
            raise Invalid("Provided object does not match schema 'image': checksum must be 32 characters")
    return value


def _hex_size(value: str) -> int | None:
    try:
        return len(bytes.fromhex(value))
    except ValueError:
        return None


def validation_values(rt: Runtime, image: Image, values: list[dict]) -> dict[str, str]:
    """validation_data of the new locations → the values to set on the image (409 on conflicts)."""
    merged: dict[str, str] = {}
    for value in values:
        for k, v in (value.get("validation_data") or {}).items():
            if merged.get(k, v) != v:
                raise Conflict(f"Conflicting values for {k}")
            merged[k] = v
    new = {}
    for k, v in merged.items():
        current = getattr(image, k)
        if v == current:
            continue
        if current:
            raise Conflict(f"{k} is already set with a different value")
        new[k] = v
    if not new:
        return {}
    if image.status != img.QUEUED:
        raise Conflict(
            f"New value(s) for {', '.join(new)} may only be provided when image status is 'queued'"
        )
    if "checksum" in new and _hex_size(new["checksum"]) != 16:
        raise Conflict(f"checksum ({new['checksum']}) is not a valid md5 hexadecimal value")
    algo = new.get("os_hash_algo")
    if algo != rt.settings.DEFAULT.hashing_algorithm:
        raise Conflict(f"os_hash_algo must be {rt.settings.DEFAULT.hashing_algorithm}, not {algo}")
    want = hashlib.new(algo).digest_size
    if _hex_size(new.get("os_hash_value", "")) != want:
        raise Conflict(f"os_hash_value is not a valid {algo} value (should be {want} bytes of hexadecimal)")
    return new


def _position(token: str, count: int, allow_end: bool) -> int | None:
    pos = count if allow_end else count - 1
    if token.isdigit():
        pos = int(token)
    elif token != "-":
        return None
    if allow_end:
        return pos if 0 <= pos <= count else None
    return pos if 0 <= pos < count else None


def _resolved(checked: dict, url: str) -> Resolved:
    found = checked.get(url)
    if isinstance(found, DomainError):
        raise found
    if found is None:
        raise Invalid(f"Invalid location {url}")
    return found


def _activate(image: Image, val: dict[str, str]) -> None:
    if image.status != img.QUEUED:
        return
    if not image.disk_format or not image.container_format:
        raise Invalid("Properties disk_format, container_format must be set prior to saving data.")
    for k, v in val.items():
        setattr(image, k, v)
    image.status = img.ACTIVE


def _check_quota(rt: Runtime, count: int) -> None:
    quota = rt.settings.DEFAULT.image_location_quota
    if quota >= 0 and count > quota:
        raise TooLarge(f"Maximum number of locations ({quota}) exceeded")


def apply_op(
    rt: Runtime, ctx: RequestContext, old: Image, new: Image, op: Any, tgt: dict, checked: dict
) -> None:
    """One ``/locations`` operation of a PATCH, applied to ``new`` (the caller saves it)."""
    if not rt.settings.DEFAULT.show_multiple_locations:
        raise Forbidden("It's not allowed to update locations if locations are invisible.")
    depth = 1 if op.op == "replace" else 2
    if len(op.path) != depth:
        raise Invalid(f"Invalid JSON pointer for this resource: '/{'/'.join(op.path)}'")
    if op.op == "remove":
        rt.policy.authorize(ctx, "delete_image_location", tgt)
        if new.status != img.ACTIVE:
            raise Conflict(f"It's not allowed to remove locations if image status is {new.status}.")
        if len(new.locations) == 1:
            raise Forbidden("Cannot remove last location in the image.")
        pos = _position(op.path[1], len(new.locations), False)
        if pos is None:
            raise Invalid("Invalid position for removing a location.")
        new.locations.pop(pos)
        return
    rt.policy.authorize(ctx, "set_image_location", tgt)
    if new.status not in (img.QUEUED, img.ACTIVE):
        raise Conflict(f"It's not allowed to {op.op} locations if image status is {new.status}.")
    if op.op == "add":
        value = _check_value(op.value)
        val = validation_values(rt, new, [value])
        pos = _position(op.path[1], len(new.locations), True)
        if pos is None:
            raise Invalid("Invalid position for adding a location.")
        r = _resolved(checked, value["url"])
        loc = _location(rt, r, value["metadata"])
        if any(x.url == loc.url and x.metadata == loc.metadata for x in new.locations):
            raise Invalid(f"The location {loc.url} already exists")
        _check_quota(rt, len(new.locations) + 1)
        new.locations.insert(pos, loc)
        if new.size is None:
            new.size = r.size
        _activate(new, val)
        return
    # replace
    if not isinstance(op.value, list):
        raise Invalid("Provided object does not match schema 'image': locations must be an array")
    values = [_check_value(v) for v in op.value]
    if not values and new.locations:
        raise Forbidden("Cannot replace the locations of an image with an empty list.")
    val = validation_values(rt, new, values)
    current_urls = sorted(loc.url for loc in new.locations)
    wanted_urls = sorted(v["url"] for v in values)
    if new.locations and current_urls != wanted_urls:
        raise Invalid(
            "Original locations is not empty: only the metadata of existing locations can be replaced"
        )
    if new.locations:
        pool = list(new.locations)
        replaced = []
        for v in values:
            same = next(loc for loc in pool if loc.url == v["url"])
            pool.remove(same)
            meta = dict(v["metadata"])
            if rt.multi_store:
                meta["store"] = same.store
            replaced.append(Location(same.store, same.key, same.url, same.status, meta))
        new.locations = replaced
        return
    locs = [_location(rt, _resolved(checked, v["url"]), v["metadata"]) for v in values]
    for loc in locs:
        if sum(1 for x in locs if x.url == loc.url and x.metadata == loc.metadata) > 1:
            raise Invalid(f"The location {loc.url} already exists")
    _check_quota(rt, len(locs))
    new.locations = locs
    if locs:
        if new.size is None:
            new.size = _resolved(checked, values[0]["url"]).size
        _activate(new, val)


async def persist(rt: Runtime, conn: AsyncConnection, old: Image, new: Image) -> None:
    """Write ``new.locations`` over ``old.locations`` (in the caller's transaction, after save)."""
    if old.locations == new.locations:
        return
    await image_repo.remove_locations(conn, new.id)
    for loc in new.locations:
        await image_repo.add_location(conn, new.id, loc)
    kept = {(loc.store, loc.key) for loc in new.locations}
    for loc in old.locations:
        store = rt.stores.get(loc.store)
        if (loc.store, loc.key) in kept or store is None or not store.capabilities.writable:
            continue
        await job_queue.enqueue(conn, "delete-data", {"store": loc.store, "key": loc.key}, image_id=new.id)


# --- Locations API (v2.17) ---------------------------------------------------------------------


def _api_validation_data(raw: Any) -> dict[str, str]:
    if raw is None or raw == {}:
        return {}
    if not isinstance(raw, dict):
        raise Invalid("validation_data must be an object")
    extra = set(raw) - {"os_hash_algo", "os_hash_value"}
    if extra:
        raise Invalid(f"Unexpected validation_data keys: {', '.join(sorted(extra))}")
    algo, value = raw.get("os_hash_algo"), raw.get("os_hash_value")
    if algo is None or value is None:
        raise Invalid("validation_data requires both os_hash_algo and os_hash_value")
    if algo not in API_HASH_ALGOS:
        raise Invalid(f"os_hash_algo must be one of {', '.join(API_HASH_ALGOS)}, not {algo!r}")
    want = hashlib.new(algo).digest_size
    if not isinstance(value, str) or _hex_size(value) != want:
        raise Invalid(f"os_hash_value is not a valid {algo} hash ({want * 2} hexadecimal digits expected)")
    return {"os_hash_algo": algo, "os_hash_value": value.lower()}


async def add_location(rt: Runtime, ctx: RequestContext, image_id: str, body: Any) -> Task:
    """POST /v2/images/{id}/locations → the task that will hash, verify and activate."""
    if not isinstance(body, dict):
        raise Invalid("Request body must be a JSON object")
    extra = set(body) - {"url", "validation_data"}
    if extra:
        raise Invalid(f"Unexpected keys in request body: {', '.join(sorted(extra))}")
    url = body.get("url")
    if not isinstance(url, str) or not url:
        raise Invalid("'url' is required")
    vd = _api_validation_data(body.get("validation_data"))
    async with rt.db.read() as conn:
        image, tgt = await access.load(rt, conn, ctx, image_id)
    rt.policy.authorize(ctx, "add_image_location", tgt)
    if image.status != img.QUEUED:
        raise Conflict(f"It's not allowed to add locations if image status is {image.status}.")
    if not image.disk_format or not image.container_format:
        raise Conflict(
            "The 'disk_format' and 'container_format' properties must be set before adding a location"
        )
    service = rt.policy.check(ctx, "service_api", tgt)
    if not service and (not _is_http(url) or http_store(rt) is None):
        raise Forbidden(
            "Only locations of an http store can be added by users, and an http store must be configured"
        )
    # Filter now (no connection): a URL that may never be fetched is a 400, not a failed task.
    r = await resolve(rt, ctx, url, tgt, connect=not _is_http(url))
    task = Task(
        id=str(uuid.uuid4()), type=TASK_TYPE, status=PENDING, owner=ctx.project_id,
        input={"image_id": image_id, "loc_url": url, "validation_data": vd}, image_id=image_id,
        request_id=ctx.request_id, user_id=ctx.user_id,
    )  # fmt: skip
    async with rt.db.write() as conn:
        image, tgt = await access.load(rt, conn, ctx, image_id, for_update=True)
        if image.status != img.QUEUED:
            raise Conflict(f"It's not allowed to add locations if image status is {image.status}.")
        await import_lock.ensure_free(conn, image)
        await image_repo.set_properties(conn, image_id, {import_lock.LOCK: task.id})
        await task_repo.insert(conn, task)
        await job_queue.enqueue(
            conn, LOCATION_JOB,
            {"image_id": image_id, "task_id": task.id, "url": url, "store": r.store, "key": r.key,
             "validation_data": vd},
            image_id=image_id, task_id=task.id, max_attempts=1,
        )  # fmt: skip
    return task


async def list_locations(rt: Runtime, ctx: RequestContext, image_id: str) -> list[dict]:
    """GET /v2/images/{id}/locations: services only (fetch_image_location)."""
    async with rt.db.read() as conn:
        image, tgt = await access.load(rt, conn, ctx, image_id)
    rt.policy.authorize(ctx, "fetch_image_location", tgt)
    out = []
    for loc in image.locations:
        if loc.status != "active":
            continue
        meta = dict(loc.metadata)
        if rt.multi_store:
            meta.setdefault("store", loc.store)
        out.append({"url": loc.url, "metadata": meta})
    return out
