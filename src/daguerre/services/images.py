"""Image records: create, show, list, update (JSON patch), delete, deactivate/reactivate, tags."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from daguerre.context import RequestContext
from daguerre.db import images as image_repo
from daguerre.domain import image as img
from daguerre.domain.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge, Unavailable
from daguerre.domain.image import Image
from daguerre.domain.schemas import image_schema_error
from daguerre.jobs import queue as job_queue
from daguerre.jobs.runner import run_now
from daguerre.runtime import Runtime
from daguerre.services import access, locations
from daguerre.services.imports import FAILED_IMPORT
from daguerre.services.listing import parse_list_query
from daguerre.stores.base import StoreError

WRITABLE_BASE = ("id", "name", "visibility", "protected", "os_hidden", "owner", "min_disk", "min_ram",
                 "container_format", "disk_format", "tags")  # fmt: skip
_BASE = set(img.BASE_ATTRIBUTES) | {"direct_url", "self", "file", "schema", "locations", "stores"}


def _validate(rt: Runtime, doc: dict) -> None:
    fmt = rt.settings.image_format
    error = image_schema_error(doc, fmt.disk_formats, fmt.container_formats)
    if error is not None:
        message, where = error
        raise Invalid(f"Provided object does not match schema 'image': {message} (at {where or 'image'})")


def _check_keys_writable(keys: list[str]) -> None:
    for key in keys:
        if key in img.READ_ONLY:
            raise Forbidden(f"Attribute '{key}' is read-only.")
        if key in img.RESERVED:
            raise Forbidden(f"Attribute '{key}' is reserved.")
        if key.startswith(img.RESERVED_PREFIX):
            raise Forbidden(f"Attribute '{key}' is reserved.")


def _check_quotas(rt: Runtime, image: Image) -> None:
    d = rt.settings.DEFAULT
    counted = [k for k in image.properties if not k.startswith(img.RESERVED_PREFIX)]
    if d.image_property_quota >= 0 and len(counted) > d.image_property_quota:
        raise TooLarge(f"Maximum number of properties ({d.image_property_quota}) exceeded")
    if d.image_tag_quota >= 0 and len(set(image.tags)) > d.image_tag_quota:
        raise TooLarge(f"Maximum number of tags ({d.image_tag_quota}) exceeded")


def _check_visibility_change(rt: Runtime, ctx: RequestContext, visibility: str, tgt: dict) -> None:
    if visibility == "public":
        rt.policy.authorize(ctx, "publicize_image", tgt)
    elif visibility == "community":
        rt.policy.authorize(ctx, "communitize_image", tgt)


def _check_values(image: Image) -> None:
    if image.min_disk < 0 or image.min_ram < 0:
        raise Invalid("min_disk and min_ram must be 0 or greater")
    for name in ("min_disk", "min_ram"):
        if getattr(image, name) > img.MAX_MIN_REQUIREMENT:
            raise Invalid(f"'{name}' value out of range, must not exceed {img.MAX_MIN_REQUIREMENT}.")
    for key in image.properties:
        if len(key) > 255:
            raise Invalid(f"Custom property key longer than 255 characters: {key[:40]}...")


def _check_introspected(rt: Runtime, ctx: RequestContext, keys: list[str], tgt: dict) -> None:
    if any(k.startswith(img.INTROSPECTED_PREFIX) for k in keys):
        rt.policy.authorize(ctx, "modify_introspected_properties", tgt)


async def create(rt: Runtime, ctx: RequestContext, body: dict[str, Any]) -> Image:
    if not isinstance(body, dict):
        raise Invalid("Image create body must be a JSON object")
    _check_keys_writable([k for k in body if k != "id"])
    _validate(rt, body)
    owner = body.get("owner") or ctx.project_id
    if owner != ctx.project_id and not ctx.is_admin:
        raise Forbidden("You are not permitted to create images owned by another project.")
    visibility = body.get("visibility") or "shared"
    tgt = {"project_id": owner, "owner": owner, "visibility": visibility}
    rt.policy.authorize(ctx, "add_image", tgt)
    _check_visibility_change(rt, ctx, visibility, tgt)
    _check_introspected(rt, ctx, list(body), tgt)

    image_id = body.get("id") or str(uuid.uuid4())
    now = image_repo.utcnow()
    image = Image(
        id=image_id,
        owner=owner,
        name=body.get("name"),
        visibility=visibility,
        protected=bool(body.get("protected", False)),
        os_hidden=bool(body.get("os_hidden", False)),
        min_disk=body.get("min_disk") or 0,
        min_ram=body.get("min_ram") or 0,
        container_format=body.get("container_format"),
        disk_format=body.get("disk_format"),
        created_at=now,
        updated_at=now,
        tags=sorted(set(body.get("tags") or [])),
        # null is valid only for kernel_id and ramdisk_id, and means "not set" (never a stored null).
        properties={k: v for k, v in body.items() if k not in WRITABLE_BASE and v is not None},
    )
    _check_values(image)
    _check_quotas(rt, image)
    async with rt.db.write() as conn:
        if await image_repo.exists(conn, image_id):
            raise Conflict(f"An image with identifier {image_id} already exists")
        await image_repo.insert(conn, image)
    return image


async def show(rt: Runtime, ctx: RequestContext, image_id: str) -> Image:
    async with rt.db.read() as conn:
        image, _ = await access.load(rt, conn, ctx, image_id)
    return image


@dataclass
class ImagePage:
    images: list[Image]
    full: bool  # the page holds ``limit`` rows: a next link is due


async def list_images(rt: Runtime, ctx: RequestContext, params: list[tuple[str, str]]) -> ImagePage:
    rt.policy.authorize(ctx, "get_images", {"project_id": ctx.project_id})
    query, marker_id = parse_list_query(rt, ctx, params)
    async with rt.db.read() as conn:
        if marker_id is not None:
            marker = await image_repo.get(conn, marker_id) if len(marker_id) <= 36 else None
            member = await access.member_of(conn, ctx, marker) if marker else None
            if marker is None or not access.visible(ctx, marker, member):
                raise Invalid(f"Invalid marker. Image {marker_id} could not be found.")
            query.marker = marker
        found = await image_repo.list_images(conn, query)
    return ImagePage(found, full=len(found) == query.limit and query.limit > 0)


# --- update (JSON patch) ---------------------------------------------------------------------


@dataclass(frozen=True)
class PatchOp:
    op: str  # add | remove | replace
    path: tuple[str, ...]
    value: Any = None
    # The deprecated v2.0 media type: 'add' of an existing property is a conflict.
    strict_add: bool = False


async def update(rt: Runtime, ctx: RequestContext, image_id: str, ops: list[PatchOp]) -> Image:
    # Location URLs are checked over the network here, outside the write transaction.
    checked = await locations.precheck(rt, ctx, image_id, ops)
    for _attempt in range(5):
        async with rt.db.write() as conn:
            old, tgt = await access.load(rt, conn, ctx, image_id, for_update=True)
            rt.policy.authorize(ctx, "modify_image", tgt)
            new = _apply_ops(rt, ctx, old, ops, tgt, checked)
            if await image_repo.save(conn, new, old=old):
                await locations.persist(rt, conn, old, new)
                return new
    raise Conflict("The image was changed concurrently; try again")


def _copy(image: Image) -> Image:
    return Image(**{**image.__dict__, "tags": list(image.tags), "properties": dict(image.properties),
                    "locations": list(image.locations)})  # fmt: skip


def _apply_ops(rt: Runtime, ctx: RequestContext, old: Image, ops: list[PatchOp], tgt: dict,
               checked: dict | None = None) -> Image:  # fmt: skip
    new = _copy(old)
    changed_base: dict[str, Any] = {}
    for op in ops:
        name = op.path[0]
        if name == "locations":
            locations.apply_op(rt, ctx, old, new, op, tgt, checked or {})
            continue
        _check_keys_writable([name])
        if len(op.path) != 1:
            raise Invalid(f"Invalid JSON pointer for this resource: '/{'/'.join(op.path)}'")
        is_base = name in _BASE
        if op.op == "remove":
            if is_base:
                raise Forbidden(f"Properties {name} must not be removed.")
            if name not in new.properties:
                raise Conflict(f"Property {name} does not exist.")
            _check_introspected(rt, ctx, [name], tgt)
            del new.properties[name]
            continue
        if is_base:
            changed_base[name] = op.value
            if name == "tags":
                if not isinstance(op.value, list):
                    raise Invalid("Provided object does not match schema 'image': tags must be an array")
                new.tags = sorted(set(op.value))
            else:
                setattr(new, name, op.value)
            continue
        if op.op == "replace" and name not in new.properties:
            raise Conflict(f"Property {name} does not exist.")
        if op.op == "add" and op.strict_add and name in new.properties:
            raise Conflict(f"Property {name} already present.")
        _check_introspected(rt, ctx, [name], tgt)
        new.properties[name] = op.value
        changed_base[name] = op.value

    _validate(rt, dict(changed_base.items()))
    for name in [k for k, v in new.properties.items() if v is None]:
        del new.properties[name]  # kernel_id/ramdisk_id set to null: unset, as on create
    for flag in ("protected", "os_hidden"):
        if flag in changed_base and not isinstance(changed_base[flag], bool):
            raise Invalid(f"Provided object does not match schema 'image': {flag} must be a boolean")
    for numeric in ("min_disk", "min_ram"):
        if numeric in changed_base and changed_base[numeric] is None:
            setattr(new, numeric, 0)
    if "owner" in changed_base and new.owner != old.owner and not ctx.is_admin:
        raise Forbidden("Owner can't be updated by non admin.")
    if "visibility" in changed_base and new.visibility != old.visibility:
        _check_visibility_change(rt, ctx, new.visibility, tgt)
    for fmt in ("disk_format", "container_format"):
        if (
            fmt in changed_base
            and getattr(new, fmt) != getattr(old, fmt)
            and old.status not in (img.QUEUED, img.IMPORTING)
        ):
            raise Forbidden(f"Attribute {fmt} can be only replaced for a queued image.")
    if "id" in changed_base and new.id != old.id:
        raise Forbidden("Attribute 'id' is read-only.")
    _check_values(new)
    _check_quotas(rt, new)
    return new


# --- delete and actions ----------------------------------------------------------------------


async def delete(rt: Runtime, ctx: RequestContext, image_id: str) -> None:
    # Asking the stores whether the data is in use can wait as long as a store's timeout (RBD
    # asks Ceph for clones of the image's snapshot), so it happens before the write transaction,
    # never inside it: on SQLite that transaction holds the service's one writer, and a stalled
    # store would stall every write. Under the guarded delete the image is read again and deleted
    # only if the data the stores answered for is still its data; otherwise they are asked again.
    for _attempt in range(5):
        async with rt.db.read() as conn:
            image, tgt = await access.load(rt, conn, ctx, image_id)
        _check_deletable(rt, ctx, image, tgt)
        await _refuse_if_in_use(rt, image.id, image.locations)
        async with rt.db.write() as conn:
            current, tgt = await access.load(rt, conn, ctx, image_id, for_update=True)
            _check_deletable(rt, ctx, current, tgt)
            if _data(current.locations) != _data(image.locations):
                continue
            if not await image_repo.mark_deleted(conn, image_id, current.status):
                continue
            job_ids = []
            for loc in current.locations:
                job_ids.append(
                    await job_queue.enqueue(
                        conn, "delete-data", {"store": loc.store, "key": loc.key}, image_id=image_id
                    )
                )
            # Stores an import or copy failed on may hold its partial data under the image's key.
            for store_id in sorted(
                set(current.properties.get(FAILED_IMPORT, "").split(",")) & set(rt.stores)
            ):
                job_ids.append(await job_queue.enqueue(conn, "discard-partial", {"store": store_id, "key": image_id},
                                                       image_id=image_id))  # fmt: skip
            job_ids.append(
                await job_queue.enqueue(conn, "delete-staging", {"key": image_id}, image_id=image_id)
            )
            await image_repo.remove_locations(conn, image_id)
        break
    else:
        raise Conflict(f"Image {image_id} kept changing while being deleted; try again")
    # The jobs are durable; running them now just makes the space come back at once.
    for job_id in job_ids:
        await run_now(rt, job_id)


def _check_deletable(rt: Runtime, ctx: RequestContext, image: Image, tgt: dict) -> None:
    rt.policy.authorize(ctx, "delete_image", tgt)
    if image.protected:
        raise Forbidden(f"Image {image.id} is protected and cannot be deleted.")
    if image.status == img.DELETED or image.status == img.PENDING_DELETE:
        raise Invalid(f"Image status transition from {image.status} to deleted is not allowed")


def _data(locations: list[img.Location]) -> list[tuple[str, str]]:
    """What a store was asked about: the (store, key) pairs, in a stable order."""
    return sorted((loc.store, loc.key) for loc in locations)


async def _refuse_if_in_use(rt: Runtime, image_id: str, locations: list[img.Location]) -> None:
    """Data that others depend on (RBD clones of the image's snapshot) cannot be deleted: 409.

    Store calls: never inside a write transaction (see delete)."""
    for loc in locations:
        store = rt.stores.get(loc.store)
        if store is None:
            continue
        try:
            why = await store.in_use(loc.key)
        except StoreError as exc:
            raise Unavailable(f"Store {loc.store} cannot be reached to delete the image data: {exc}") from exc
        if why:
            raise Conflict(f"Image {image_id} is in use and cannot be deleted: {why}")


async def deactivate(rt: Runtime, ctx: RequestContext, image_id: str) -> None:
    await _toggle(rt, ctx, image_id, "deactivate", img.ACTIVE, img.DEACTIVATED)


async def reactivate(rt: Runtime, ctx: RequestContext, image_id: str) -> None:
    await _toggle(rt, ctx, image_id, "reactivate", img.DEACTIVATED, img.ACTIVE)


async def _toggle(rt: Runtime, ctx: RequestContext, image_id: str, rule: str, src: str, dst: str) -> None:
    async with rt.db.write() as conn:
        image, tgt = await access.load(rt, conn, ctx, image_id, for_update=True)
        rt.policy.authorize(ctx, rule, tgt)
        if image.status == dst:
            return
        if image.status != src:
            raise Forbidden(f"Not allowed to {rule} image in status '{image.status}'")
        if not await image_repo.transition(conn, image_id, [src], dst):
            raise Conflict(f"Image {image_id} changed status concurrently")


async def add_tag(rt: Runtime, ctx: RequestContext, image_id: str, tag: str) -> None:
    if len(tag) > 255:
        raise Invalid("Provided object does not match schema 'image': tag is longer than 255 characters")
    await _edit_tags(rt, ctx, image_id, lambda tags: tags | {tag})


async def delete_tag(rt: Runtime, ctx: RequestContext, image_id: str, tag: str) -> None:
    def remove(tags: set[str]) -> set[str]:
        if tag not in tags:
            raise NotFound(f"Tag {tag} not found")
        return tags - {tag}

    await _edit_tags(rt, ctx, image_id, remove)


async def _edit_tags(rt: Runtime, ctx: RequestContext, image_id: str, change) -> None:  # noqa: ANN001
    for _attempt in range(5):
        async with rt.db.write() as conn:
            old, tgt = await access.load(rt, conn, ctx, image_id, for_update=True)
            rt.policy.authorize(ctx, "modify_image", tgt)
            new = _copy(old)
            new.tags = sorted(change(set(old.tags)))
            _check_quotas(rt, new)
            if new.tags == old.tags or await image_repo.save(conn, new, old=old):
                return
    raise Conflict("The image was changed concurrently; try again")


async def delete_from_store(rt: Runtime, ctx: RequestContext, store_id: str, image_id: str) -> None:
    """DELETE /v2/stores/{store}/{image}: drop one copy; the last copy cannot go this way."""
    if not rt.multi_store:
        raise NotFound("Multi backend is not supported at this site.")
    # The store is asked whether the copy is in use outside the write transaction (see delete).
    for _attempt in range(5):
        async with rt.db.read() as conn:
            image, tgt = await access.load(rt, conn, ctx, image_id)
        here = _copy_to_drop(rt, ctx, image, tgt, store_id)
        await _refuse_if_in_use(rt, image_id, here)
        async with rt.db.write() as conn:
            current, tgt = await access.load(rt, conn, ctx, image_id, for_update=True)
            if _data(_copy_to_drop(rt, ctx, current, tgt, store_id)) != _data(here):
                continue
            await image_repo.remove_locations(conn, image_id, store_id)
            job_ids = [await job_queue.enqueue(conn, "delete-data", {"store": store_id, "key": loc.key},
                                               image_id=image_id) for loc in here]  # fmt: skip
        break
    else:
        raise Conflict(f"Image {image_id} kept changing while its copy was being deleted; try again")
    for job_id in job_ids:
        await run_now(rt, job_id)


def _copy_to_drop(
    rt: Runtime, ctx: RequestContext, image: Image, tgt: dict, store_id: str
) -> list[img.Location]:
    rt.policy.authorize(ctx, "delete_image_location", tgt)
    if store_id not in rt.stores:
        raise Conflict(f"Unknown store {store_id}")
    here = [loc for loc in image.locations if loc.store == store_id]
    if not here:
        raise NotFound(f"Image {image.id} has no data in store {store_id}")
    if image.status != img.ACTIVE:
        raise Conflict(f"Image {image.id} is {image.status}; only active images can lose a store")
    if len(image.locations) == len(here):
        raise Forbidden("Cannot delete the only location of an image")
    return here
