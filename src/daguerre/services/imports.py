"""POST /v2/images/{id}/import: validate, take the import lock, and enqueue the durable job.

The job row, the task row, the lock property and the status change are written in one
transaction, so an accepted import is never lost and never half-started.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa

from daguerre.context import RequestContext
from daguerre.db import images as image_repo
from daguerre.db import tasks as task_repo
from daguerre.db.schema import import_events
from daguerre.domain import image as img
from daguerre.domain.errors import Conflict, Forbidden, Invalid, TooLarge, TooManyRequests
from daguerre.domain.schemas import image_schema_error
from daguerre.domain.task import PENDING, Task
from daguerre.fetch.filter import URLRefused, check_url
from daguerre.fetch.resolver import ResolutionError, SystemResolver
from daguerre.jobs import queue as job_queue
from daguerre.runtime import Runtime
from daguerre.services import access, import_lock
from daguerre.services.locations import writable_stores

IMPORT_JOB = "import"
IMPORTING_TO = "os_glance_importing_to_stores"
FAILED_IMPORT = "os_glance_failed_import"


async def vet_url(rt: Runtime, uri: object) -> str:
    if not isinstance(uri, str) or not uri:
        raise Invalid("URI for web-download does not pass filtering: no URI given")
    try:
        await check_url(uri, rt.settings.import_filtering_opts, SystemResolver())
    except URLRefused as exc:
        raise Invalid(f"URI for web-download does not pass filtering: {exc}") from None
    except ResolutionError as exc:
        raise Invalid(f"URI for web-download does not pass filtering: {exc}") from None
    return uri


async def check_rate(rt: Runtime, conn, project: str | None) -> None:  # noqa: ANN001
    """Per-project limit on URL imports, shared by every process through the database."""
    per_minute = rt.settings.import_filtering_opts.rate_limit_per_minute
    if per_minute <= 0:
        return
    now = image_repo.utcnow()
    window_start = now - dt.timedelta(seconds=60)
    key = project or "-"
    await conn.execute(import_events.delete().where(import_events.c.at < window_start))
    rows = (
        await conn.execute(
            sa.select(import_events.c.at).where(import_events.c.project == key, import_events.c.at >= window_start)
            .order_by(import_events.c.at)
        )
    ).all()  # fmt: skip
    if len(rows) >= per_minute:
        retry = max(1, int((rows[0][0] + dt.timedelta(seconds=60) - now).total_seconds()) + 1)
        raise TooManyRequests(
            f"Too many URL imports for project {key}: {per_minute} per minute allowed", retry
        )
    await conn.execute(import_events.insert().values(project=key, at=now))


def _bool_field(body: dict, name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise Invalid(f"'{name}' must be a JSON boolean")
    return value


async def import_image(
    rt: Runtime, ctx: RequestContext, image_id: str, body: Any, store_header: str | None
) -> str | None:
    if not isinstance(body, dict):
        raise Invalid("Import body must be a JSON object")
    method = body.get("method")
    if not isinstance(method, dict) or "name" not in method:
        raise Invalid("Import request requires a 'method' with a 'name'")
    name = method["name"]
    if name not in rt.settings.DEFAULT.enabled_import_methods:
        raise Invalid(f"Import method {name} is not enabled or unknown")
    _bool_field(body, "all_stores", False)
    must_succeed = _bool_field(body, "all_stores_must_succeed", True)
    if not must_succeed and not rt.multi_store:
        raise Invalid("all_stores_must_succeed can only be false with multiple stores")

    async with rt.db.read() as conn:
        image, tgt = await access.load(rt, conn, ctx, image_id)
    _check_status(image, name)
    if name == "copy-image":
        rt.policy.authorize(ctx, "copy_image", tgt)
    else:
        rt.policy.authorize(ctx, "modify_image", tgt)
    if name == "web-download":
        rt.policy.authorize(ctx, "web_download", tgt)

    stores = [rt.default_store]
    if rt.multi_store:
        wanted = body.get("stores")
        if wanted is not None and (
            not isinstance(wanted, list) or not all(isinstance(x, str) for x in wanted)
        ):
            raise Invalid("'stores' must be a list of store identifiers")
        if body.get("all_stores") and (wanted or store_header):
            raise Invalid("'all_stores' cannot be combined with 'stores' or the store header")
        if wanted and store_header:
            raise Invalid("'stores' cannot be combined with the store header")
        if body.get("all_stores"):
            stores = sorted(writable_stores(rt))  # read-only (http) stores are never import targets
        elif wanted:
            stores = list(dict.fromkeys(wanted))
        elif store_header:
            stores = [store_header]
        unknown = [s for s in stores if s not in rt.stores]
        if unknown:
            raise Conflict(f"Unknown store(s): {', '.join(unknown)}")
        read_only = [s for s in stores if not rt.stores[s].capabilities.writable]
        if read_only:
            raise Conflict(f"Read-only store(s) cannot receive data: {', '.join(read_only)}")
        if name == "copy-image":
            holding = {loc.store for loc in image.locations}
            if body.get("all_stores"):
                stores = [s for s in stores if s not in holding]
                if not stores:
                    return None  # already everywhere: accepted, nothing to do
            elif any(s in holding for s in stores):
                raise Invalid(
                    f"Image is already present in store(s) {', '.join(s for s in stores if s in holding)}"
                )

    uri = None
    remote = None
    if name == "web-download":
        uri = await vet_url(rt, method.get("uri"))
    if name == "glance-download":
        remote = _glance_download_params(method)
        if rt.settings.auth.strategy != "keystone" or not ctx.auth_token:
            raise Invalid("glance-download needs Keystone authentication to find the remote image service")

    task = Task(
        id=str(uuid.uuid4()), type="api_image_import", status=PENDING, owner=ctx.project_id,
        input={"image_id": image_id, "import_req": body, "backend": stores}, image_id=image_id,
        request_id=ctx.request_id, user_id=ctx.user_id,
    )  # fmt: skip
    async with rt.db.write() as conn:
        image, tgt = await access.load(rt, conn, ctx, image_id, for_update=True)
        _check_status(image, name)
        await import_lock.ensure_free(conn, image)
        if name == "web-download":
            await check_rate(rt, conn, ctx.project_id)
        if name != "copy-image":
            from_status = [img.QUEUED] if name in ("web-download", "glance-download") else [img.UPLOADING]
            if not await image_repo.transition(conn, image_id, from_status, img.IMPORTING):
                raise Conflict(f"Image {image_id} changed status concurrently")
        failed = [s for s in image.properties.get(FAILED_IMPORT, "").split(",") if s and s not in stores]
        await image_repo.set_properties(conn, image_id, {
            import_lock.LOCK: task.id,
            IMPORTING_TO: ",".join(sorted(stores)) if rt.multi_store else "",
            FAILED_IMPORT: ",".join(failed),
            "os_glance_stage_host": None,
        })  # fmt: skip
        await task_repo.insert(conn, task)
        await job_queue.enqueue(
            conn, IMPORT_JOB,
            {"image_id": image_id, "method": name, "uri": uri, "stores": stores, "task_id": task.id,
             "all_stores_must_succeed": must_succeed, "remote": remote,
             # glance-download acts on the remote service with the caller's token; the job row
             # holding it is deleted when the job ends.
             "auth_token": ctx.auth_token if name == "glance-download" else None,
             "user_id": ctx.user_id, "project_id": ctx.project_id, "roles": sorted(ctx.roles),
             "request_id": ctx.request_id},
            image_id=image_id, task_id=task.id,
        )  # fmt: skip
    return task.id


def _glance_download_params(method: dict) -> dict:
    image_id = method.get("glance_image_id")
    region = method.get("glance_region")
    if not image_id or not region:
        raise Invalid("glance-download requires glance_image_id and glance_region")
    try:
        uuid.UUID(str(image_id))
    except ValueError:
        raise Invalid(f"Remote image id does not look like a UUID: {image_id}") from None
    return {"image_id": str(image_id), "region": str(region),
            "interface": str(method.get("glance_service_interface") or "public")}  # fmt: skip


def _check_status(image: img.Image, method: str) -> None:
    if not image.disk_format or not image.container_format:
        raise Conflict("The 'disk_format' and 'container_format' properties must be set before importing")
    if image.status == img.ACTIVE and method != "copy-image":
        raise Conflict(f"Image {image.id} is active: only copy-image applies to active images")
    if method == "glance-direct" and image.status != img.UPLOADING:
        raise Conflict(
            f"Image {image.id} needs to be staged before the glance-direct import (status {image.status})"
        )
    if method in ("web-download", "glance-download") and image.status != img.QUEUED:
        raise Conflict(f"Image {image.id} must be queued for {method} (status {image.status})")


def _check_image_properties(rt: Runtime, props: Any) -> None:
    """The legacy task makes its image from ``image_properties`` as Glance does: the image's own
    attributes (``tags``, ``min_ram``, ``protected``...) set those, the rest become custom
    properties. They are checked here as a POST /v2/images body is, so bad values are a 4xx now
    rather than a failed task later (Glance stores whatever its database accepts: a list is
    refused, a number is kept as text on MySQL and refused on PostgreSQL)."""
    if props is None:
        return
    if not isinstance(props, dict):
        raise Invalid("Task input 'image_properties' must be an object")
    for key in props:
        if key in img.READ_ONLY or key in img.RESERVED or key.startswith(img.RESERVED_PREFIX):
            raise Forbidden(f"Attribute '{key}' in image_properties is read-only or reserved.")
    fmt = rt.settings.image_format
    error = image_schema_error(props, fmt.disk_formats, fmt.container_formats)
    if error is not None:
        message, where = error
        raise Invalid(
            f"image_properties do not match schema 'image': {message} (at {where or 'image_properties'})"
        )
    d = rt.settings.DEFAULT
    custom = [k for k in props if k not in img.BASE_ATTRIBUTES]
    if d.image_property_quota >= 0 and len(custom) > d.image_property_quota:
        raise TooLarge(f"Maximum number of properties ({d.image_property_quota}) exceeded")
    if d.image_tag_quota >= 0 and len(set(props.get("tags") or [])) > d.image_tag_quota:
        raise TooLarge(f"Maximum number of tags ({d.image_tag_quota}) exceeded")


async def create_legacy_task(rt: Runtime, ctx: RequestContext, body: Any) -> Task:
    """POST /v2/tasks with type import: make the image from image_properties, then web-download it."""
    rt.policy.authorize(ctx, "tasks_api_access", {"project_id": ctx.project_id})
    rt.policy.authorize(ctx, "add_task", {"project_id": ctx.project_id})
    if not isinstance(body, dict):
        raise Invalid("Task body must be a JSON object")
    if "type" not in body or "input" not in body:
        raise Invalid("Task requires 'type' and 'input'")
    if body["type"] not in ("import", "api_image_import", "location_import"):
        raise Invalid(f"Invalid task type {body['type']!r}")
    if not isinstance(body["input"], dict):
        raise Invalid("Task 'input' must be an object")
    unexpected = set(body) - {"type", "input"}
    if unexpected:
        raise Forbidden(f"Attribute(s) {', '.join(sorted(unexpected))} are read-only")
    if body["type"] != "import":
        raise Invalid(f"Task type {body['type']} cannot be created through /v2/tasks")
    task_input = body["input"]
    _check_image_properties(rt, task_input.get("image_properties"))
    uri = task_input.get("import_from")
    if not isinstance(uri, str) or not uri.lower().startswith(("http://", "https://")):
        raise Invalid("import_from must be an http:// or https:// URL")
    await vet_url(rt, uri)
    task = Task(id=str(uuid.uuid4()), type="import", status=PENDING, owner=ctx.project_id, input=task_input,
                request_id=ctx.request_id, user_id=ctx.user_id)  # fmt: skip
    async with rt.db.write() as conn:
        await check_rate(rt, conn, ctx.project_id)
        await task_repo.insert(conn, task)
        await job_queue.enqueue(
            conn, IMPORT_JOB,
            {"legacy": True, "method": "web-download", "uri": uri, "task_id": task.id, "stores": [rt.default_store],
             "user_id": ctx.user_id, "project_id": ctx.project_id, "roles": sorted(ctx.roles),
             "request_id": ctx.request_id},
            task_id=task.id,
        )  # fmt: skip
    return task
