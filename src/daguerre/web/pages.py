"""Dashboard pages: thin handlers over daguerre.services, rendered with Jinja2.

Every handler receives the caller's RequestContext from ``render.page`` and calls the same
service functions as the API, so policy, quotas and state rules are the API's. A DomainError
raised while acting on an image re-renders that image's page with the message and the error's
status code; anything else the wrapper turns into an error page.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import MultiDict
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from daguerre.context import RequestContext
from daguerre.domain import image as img
from daguerre.domain.errors import DomainError, Forbidden, Invalid, NotFound, Unauthenticated
from daguerre.domain.image import Image
from daguerre.runtime import Runtime
from daguerre.services import data as data_svc
from daguerre.services import images as images_svc
from daguerre.services import members as members_svc
from daguerre.services.images import PatchOp
from daguerre.web import identity as web_identity
from daguerre.web import metadefs
from daguerre.web.render import (
    CsrfRefused,
    check_csrf,
    error_page,
    json_error,
    page,
    redirect,
    render,
    safe_next,
    wants_json,
)
from daguerre.web.session import save
from daguerre.wire.errors import status_for
from daguerre.wire.views import image_view

PAGE_SIZES = (10, 20, 50, 100)
DEFAULT_PAGE_SIZE = 20
FILTERS = ("name", "status", "visibility", "tag", "member_status")
# Shown in the "all fields" table, in this order; custom properties get their own table.
FIELDS = ("id", "name", "status", "visibility", "protected", "os_hidden", "owner", "disk_format",
          "container_format", "size", "virtual_size", "min_disk", "min_ram", "checksum", "os_hash_algo",
          "os_hash_value", "created_at", "updated_at")  # fmt: skip
_BASE_NAMES = frozenset(img.BASE_ATTRIBUTES) | img.READ_ONLY | img.RESERVED


def rt_of(request: Request) -> Runtime:
    return request.app.state.runtime


def _url(image_id: str, suffix: str = "") -> str:
    return f"/ui/images/{image_id}{suffix}"


# --- list ------------------------------------------------------------------------------------


@page()
async def home(request: Request, ctx: RequestContext) -> Response:
    return redirect("/ui/images")


def _page_size(raw: str | None) -> int:
    try:
        size = int(raw or DEFAULT_PAGE_SIZE)
    except ValueError:
        return DEFAULT_PAGE_SIZE
    return size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE


@page()
async def image_list(request: Request, ctx: RequestContext) -> Response:
    rt = rt_of(request)
    q = request.query_params
    filters = {k: q.get(k, "").strip() for k in FILTERS}
    limit = _page_size(q.get("limit"))
    params: list[tuple[str, str]] = [(k, v) for k, v in filters.items() if v and k != "member_status"]
    if filters["member_status"] and filters["visibility"] == "shared":
        params.append(("member_status", filters["member_status"]))
    keep = [(k, v) for k, v in filters.items() if v] + (
        [("limit", str(limit))] if limit != DEFAULT_PAGE_SIZE else []
    )
    marker, before = q.get("marker"), q.get("before")
    # One row more than shown tells whether another page lies in that direction.
    probe = ("limit", str(limit + 1))
    try:
        if before:
            # The previous page: walk backwards from the first row shown, then put it right way round.
            found = await images_svc.list_images(
                rt, ctx, [*params, ("sort_key", "created_at"), ("sort_dir", "asc"), ("marker", before), probe]
            )
            images = list(reversed(found.images[:limit]))
            has_prev, has_next = len(found.images) > limit, True
        else:
            found = await images_svc.list_images(
                rt, ctx, [*params, *([("marker", marker)] if marker else []), probe]
            )
            images = found.images[:limit]
            has_prev, has_next = bool(marker), len(found.images) > limit
    except DomainError as exc:
        return render(request, "images.html", status=status_for(exc), error=exc.message, images=[], filters=filters,
                      limit=limit, page_sizes=PAGE_SIZES, statuses=img.STATUSES, visibilities=img.VISIBILITIES,
                      next_url=None, prev_url=None, first_url=None)  # fmt: skip
    base = "/ui/images?"
    next_url = base + urlencode([*keep, ("marker", images[-1].id)]) if has_next and images else None
    prev_url = base + urlencode([*keep, ("before", images[0].id)]) if has_prev and images else None
    first_url = (base + urlencode(keep)) if (marker or before) else None
    return render(request, "images.html", images=images, filters=filters, limit=limit, page_sizes=PAGE_SIZES,
                  statuses=img.STATUSES, visibilities=img.VISIBILITIES, next_url=next_url, prev_url=prev_url,
                  first_url=first_url)  # fmt: skip


# --- detail ----------------------------------------------------------------------------------


async def _members(rt: Runtime, ctx: RequestContext, image: Image) -> tuple[list, str | None]:
    if image.visibility != "shared":
        return [], None
    try:
        return await members_svc.list_members(rt, ctx, image.id), None
    except DomainError as exc:
        return [], exc.message


async def _detail(request: Request, ctx: RequestContext, image_id: str, *, status: int = 200,
                  error: str | None = None, form: MultiDict | None = None) -> Response:  # fmt: skip
    rt = rt_of(request)
    image = await images_svc.show(rt, ctx, image_id)
    members, members_error = await _members(rt, ctx, image)
    view = image_view(rt, image)
    fields = [(k, view.get(k)) for k in FIELDS]
    properties = sorted((k, v) for k, v in view.items() if k not in FIELDS and k not in
                        ("tags", "self", "file", "schema", "direct_url", "locations", "stores"))  # fmt: skip
    is_owner = ctx.is_admin or image.owner == ctx.project_id
    mine = next((m for m in members if m.member_id == ctx.project_id), None)
    return render(
        request, "image_detail.html", status=status, error=error, image=image, fields=fields, properties=properties,
        members=members, members_error=members_error, is_owner=is_owner, my_membership=mine,
        form=form or MultiDict(), metadata_hook=metadefs.catalog() is not None,
        can_upload=image.status == img.QUEUED and bool(image.disk_format and image.container_format),
        can_download=image.status in (img.ACTIVE, img.DEACTIVATED) and image.size is not None,
    )  # fmt: skip


async def _act(request: Request, ctx: RequestContext, image_id: str, form: MultiDict | None, action: Any,
               notice: str) -> Response:  # fmt: skip
    """Run one action; on a domain error show the image again with the message and its status."""
    try:
        await action()
    except DomainError as exc:
        if isinstance(exc, NotFound) and not await _visible(request, ctx, image_id):
            raise
        return await _detail(request, ctx, image_id, status=status_for(exc), error=exc.message, form=form)
    return redirect(_url(image_id), notice)


async def _visible(request: Request, ctx: RequestContext, image_id: str) -> bool:
    try:
        await images_svc.show(rt_of(request), ctx, image_id)
        return True
    except DomainError:
        return False


@page()
async def image_detail(request: Request, ctx: RequestContext) -> Response:
    return await _detail(request, ctx, request.path_params["image_id"])


# --- create ----------------------------------------------------------------------------------


def _int_field(form: MultiDict, name: str, label: str) -> int:
    raw = (form.get(name) or "").strip()
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"{label} must be a whole number, not {raw!r}") from None
    if value < 0:
        raise Invalid(f"{label} must be 0 or greater")
    if value > img.MAX_MIN_REQUIREMENT:
        raise Invalid(f"{label} must not exceed {img.MAX_MIN_REQUIREMENT}")
    return value


def _checked(form: MultiDict, name: str) -> bool:
    return form.get(name) in ("on", "true", "1", "yes")


def _formats(rt: Runtime) -> dict[str, Any]:
    fmt = rt.settings.image_format
    return {"disk_formats": fmt.disk_formats, "container_formats": fmt.container_formats,
            "visibilities": img.VISIBILITIES}  # fmt: skip


@page()
async def create_form(request: Request, ctx: RequestContext) -> Response:
    form = MultiDict({"visibility": "private", "container_format": "bare", "disk_format": "raw"})
    return render(request, "image_create.html", form=form, **_formats(rt_of(request)))


@page(form=True)
async def create(request: Request, ctx: RequestContext, form: MultiDict) -> Response:
    rt = rt_of(request)
    try:
        body: dict[str, Any] = {
            "name": (form.get("name") or "").strip() or None,
            "disk_format": form.get("disk_format") or None,
            "container_format": form.get("container_format") or None,
            "visibility": form.get("visibility") or "private",
            "min_disk": _int_field(form, "min_disk", "Minimum disk (GB)"),
            "min_ram": _int_field(form, "min_ram", "Minimum RAM (MB)"),
            "protected": _checked(form, "protected"),
        }
        image = await images_svc.create(rt, ctx, body)
    except DomainError as exc:
        if wants_json(request):
            return json_error(status_for(exc), exc.message)
        return render(request, "image_create.html", status=status_for(exc), error=exc.message, form=form,
                      **_formats(rt))  # fmt: skip
    if wants_json(request):
        return JSONResponse({"id": image.id, "detail_url": _url(image.id), "upload_url": _url(image.id, "/upload")},
                            status_code=201)  # fmt: skip
    return redirect(_url(image.id), "created")


# --- data ------------------------------------------------------------------------------------


async def upload(request: Request) -> Response:
    """The browser's upload: the raw file as the request body, streamed into services.data.upload.

    Answers JSON for the page's script: 200 with the image's status and checksum, or the error.
    CSRF comes in the X-CSRF-Token header (checked before a byte of the body is read).
    """
    try:
        await check_csrf(request, None)
        ctx = await web_identity.identify(request)
        raw_size = request.headers.get("x-image-size") or request.headers.get("content-length")
        try:
            size = int(raw_size) if raw_size is not None else None
        except ValueError:
            raise Invalid(f"Invalid size {raw_size!r}") from None
        try:
            image = await data_svc.upload(
                rt_of(request), ctx, request.path_params["image_id"], request.stream(), size
            )
        except ClientDisconnect:
            raise Invalid("The browser disconnected before the upload completed") from None
        response: Response = JSONResponse(
            {
                "id": image.id,
                "status": image.status,
                "size": image.size,
                "checksum": image.checksum,
                "detail_url": _url(image.id) + "?notice=uploaded",
            }  # fmt: skip
        )
    except CsrfRefused as exc:
        response = json_error(403, str(exc))
    except web_identity.LoginRequired:
        response = json_error(401, "Your session has expired; log in again and retry the upload.")
    except DomainError as exc:
        response = json_error(status_for(exc), exc.message)
    return save(request, response)


_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


@page()
async def download(request: Request, ctx: RequestContext) -> Response:
    rt = rt_of(request)
    image_id = request.path_params["image_id"]
    result = await data_svc.download(rt, ctx, image_id, None, None)
    if result.reader is None:
        return await _detail(request, ctx, image_id, status=404, error="This image has no data to download.")
    reader = result.reader
    name = _UNSAFE_FILENAME.sub("_", result.image.name or "")[:100].strip("._") or result.image.id
    ext = (
        result.image.disk_format
        if result.image.disk_format and not name.endswith(f".{result.image.disk_format}")
        else ""
    )
    headers = {
        "Content-Length": str(reader.end - reader.start),
        "Content-Disposition": f'attachment; filename="{name}{"." + ext if ext else ""}"',
        "X-Content-Type-Options": "nosniff",
    }
    if result.image.checksum:
        headers["Content-MD5"] = result.image.checksum

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in reader:
                yield chunk
        finally:
            await reader.aclose()

    return StreamingResponse(body(), media_type="application/octet-stream", headers=headers)


# --- edit ------------------------------------------------------------------------------------


def _edit_values(image: Image) -> MultiDict:
    values = {"name": image.name or "", "visibility": image.visibility, "min_disk": str(image.min_disk),
              "min_ram": str(image.min_ram), "disk_format": image.disk_format or "",
              "container_format": image.container_format or ""}  # fmt: skip
    items = list(values.items())
    if image.protected:
        items.append(("protected", "on"))
    if image.os_hidden:
        items.append(("os_hidden", "on"))
    return MultiDict(items)


@page()
async def edit_form(request: Request, ctx: RequestContext) -> Response:
    image = await images_svc.show(rt_of(request), ctx, request.path_params["image_id"])
    return render(
        request, "image_edit.html", image=image, form=_edit_values(image), **_formats(rt_of(request))
    )


@page(form=True)
async def edit(request: Request, ctx: RequestContext, form: MultiDict) -> Response:
    rt = rt_of(request)
    image_id = request.path_params["image_id"]
    image = await images_svc.show(rt, ctx, image_id)
    try:
        wanted: dict[str, Any] = {
            "name": (form.get("name") or "").strip() or None,
            "visibility": form.get("visibility") or image.visibility,
            "min_disk": _int_field(form, "min_disk", "Minimum disk (GB)"),
            "min_ram": _int_field(form, "min_ram", "Minimum RAM (MB)"),
            "protected": _checked(form, "protected"),
            "os_hidden": _checked(form, "os_hidden"),
        }
        if image.status in (img.QUEUED, img.IMPORTING):
            for fmt in ("disk_format", "container_format"):
                if form.get(fmt):
                    wanted[fmt] = form.get(fmt)
        ops = [PatchOp("replace", (k,), v) for k, v in wanted.items() if getattr(image, k) != v]
        if ops:
            await images_svc.update(rt, ctx, image_id, ops)
    except DomainError as exc:
        return render(request, "image_edit.html", status=status_for(exc), error=exc.message, image=image, form=form,
                      **_formats(rt))  # fmt: skip
    return redirect(_url(image_id), "updated")


@page(form=True)
async def set_property(request: Request, ctx: RequestContext, form: MultiDict) -> Response:
    rt = rt_of(request)
    image_id = request.path_params["image_id"]
    key = (form.get("key") or "").strip()
    value = form.get("value") or ""

    async def action() -> None:
        if not key:
            raise Invalid("A property needs a name.")
        if key in _BASE_NAMES:
            raise Forbidden(f"'{key}' is an image attribute, not a custom property; change it with Edit.")
        await images_svc.update(rt, ctx, image_id, [PatchOp("add", (key,), value)])

    return await _act(request, ctx, image_id, form, action, "property-set")


@page(form=True)
async def remove_property(request: Request, ctx: RequestContext, form: MultiDict) -> Response:
    rt = rt_of(request)
    image_id = request.path_params["image_id"]
    key = form.get("key") or ""

    async def action() -> None:
        await images_svc.update(rt, ctx, image_id, [PatchOp("remove", (key,))])

    return await _act(request, ctx, image_id, None, action, "property-removed")


@page(form=True)
async def add_tag(request: Request, ctx: RequestContext, form: MultiDict) -> Response:
    rt = rt_of(request)
    image_id = request.path_params["image_id"]
    tag = (form.get("tag") or "").strip()

    async def action() -> None:
        if not tag:
            raise Invalid("A tag can't be empty.")
        await images_svc.add_tag(rt, ctx, image_id, tag)

    return await _act(request, ctx, image_id, form, action, "tag-added")


@page(form=True)
async def remove_tag(request: Request, ctx: RequestContext, form: MultiDict) -> Response:
    rt = rt_of(request)
    image_id = request.path_params["image_id"]
    tag = form.get("tag") or ""
    return await _act(
        request, ctx, image_id, None, lambda: images_svc.delete_tag(rt, ctx, image_id, tag), "tag-removed"
    )


@page(form=True)
async def deactivate(request: Request, ctx: RequestContext, form: MultiDict) -> Response:
    image_id = request.path_params["image_id"]
    return await _act(request, ctx, image_id, None, lambda: images_svc.deactivate(rt_of(request), ctx, image_id),
                      "deactivated")  # fmt: skip


@page(form=True)
async def reactivate(request: Request, ctx: RequestContext, form: MultiDict) -> Response:
    image_id = request.path_params["image_id"]
    return await _act(request, ctx, image_id, None, lambda: images_svc.reactivate(rt_of(request), ctx, image_id),
                      "reactivated")  # fmt: skip


@page()
async def delete_confirm(request: Request, ctx: RequestContext) -> Response:
    image = await images_svc.show(rt_of(request), ctx, request.path_params["image_id"])
    return render(request, "image_delete.html", image=image)


@page(form=True)
async def delete(request: Request, ctx: RequestContext, form: MultiDict) -> Response:
    image_id = request.path_params["image_id"]
    try:
        await images_svc.delete(rt_of(request), ctx, image_id)
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        return await _detail(request, ctx, image_id, status=status_for(exc), error=exc.message)
    return redirect("/ui/images", "deleted")


# --- members ---------------------------------------------------------------------------------


@page(form=True)
async def add_member(request: Request, ctx: RequestContext, form: MultiDict) -> Response:
    rt = rt_of(request)
    image_id = request.path_params["image_id"]
    member = (form.get("member") or "").strip()
    return await _act(request, ctx, image_id, form, lambda: members_svc.create(rt, ctx, image_id, {"member": member}),
                      "member-added")  # fmt: skip


@page(form=True)
async def remove_member(request: Request, ctx: RequestContext, form: MultiDict) -> Response:
    rt = rt_of(request)
    p = request.path_params
    return await _act(request, ctx, p["image_id"], None,
                      lambda: members_svc.delete(rt, ctx, p["image_id"], p["member_id"]), "member-removed")  # fmt: skip


@page(form=True)
async def member_status(request: Request, ctx: RequestContext, form: MultiDict) -> Response:
    rt = rt_of(request)
    p = request.path_params
    status = form.get("status") or ""
    return await _act(request, ctx, p["image_id"], None,
                      lambda: members_svc.update(rt, ctx, p["image_id"], p["member_id"], {"status": status}),
                      "member-status")  # fmt: skip


# --- metadata (hook for the metadefs catalog) ------------------------------------------------


async def _namespaces(request: Request, ctx: RequestContext) -> list[metadefs.Namespace]:
    cat = metadefs.catalog()
    return await cat.namespaces_for(rt_of(request), ctx) if cat is not None else []


@page()
async def metadata_form(request: Request, ctx: RequestContext) -> Response:
    image = await images_svc.show(rt_of(request), ctx, request.path_params["image_id"])
    return render(request, "image_metadata.html", image=image, namespaces=await _namespaces(request, ctx),
                  configured=metadefs.catalog() is not None)  # fmt: skip


@page(form=True)
async def metadata_save(request: Request, ctx: RequestContext, form: MultiDict) -> Response:
    """Set the catalog properties filled in on the form; clear the ones emptied (that exist)."""
    rt = rt_of(request)
    image_id = request.path_params["image_id"]
    image = await images_svc.show(rt, ctx, image_id)
    offered = {p.name for ns in await _namespaces(request, ctx) for p in ns.properties}
    ops: list[PatchOp] = []
    for name in sorted(offered):
        value = form.get(f"prop:{name}")
        if value is None:
            continue
        if value == "" and name in image.properties:
            ops.append(PatchOp("remove", (name,)))
        elif value != "" and image.properties.get(name) != value:
            ops.append(PatchOp("add", (name,), value))
    try:
        if ops:
            await images_svc.update(rt, ctx, image_id, ops)
    except DomainError as exc:
        return render(request, "image_metadata.html", status=status_for(exc), error=exc.message, image=image,
                      namespaces=await _namespaces(request, ctx), configured=True)  # fmt: skip
    return redirect(_url(image_id), "metadata")


# --- login / logout --------------------------------------------------------------------------


@page(login=False)
async def login_form(request: Request, ctx: None) -> Response:
    if web_identity.strategy(request) != "keystone":
        return redirect("/ui/images")
    expired = (
        "Your session has expired; please log in again." if request.query_params.get("expired") else None
    )
    form = MultiDict({"domain": "Default", "next": safe_next(request.query_params.get("next"))})
    return render(request, "login.html", form=form, error=expired, status=200)


@page(form=True, login=False)
async def login(request: Request, ctx: None, form: MultiDict) -> Response:
    if web_identity.strategy(request) != "keystone":
        return redirect("/ui/images")
    creds = web_identity.LoginForm(user=(form.get("user") or "").strip(), password=form.get("password") or "",
                                   project=(form.get("project") or "").strip(),
                                   domain=(form.get("domain") or "").strip() or "Default")  # fmt: skip
    try:
        await web_identity.login(request, creds)
    except DomainError as exc:
        status = status_for(exc)
        shown = MultiDict([(k, v) for k, v in form.multi_items() if k != "password"])
        return render(request, "login.html", status=status, error=exc.message, form=shown)
    return redirect(safe_next(form.get("next")))


@page(form=True, login=False)
async def logout(request: Request, ctx: None, form: MultiDict) -> Response:
    web_identity.logout(request)
    if web_identity.strategy(request) == "keystone":
        return redirect("/ui/login", "logged-out")
    return redirect("/ui/images")


async def not_found(request: Request) -> Response:
    try:
        await web_identity.identify(request)
    except (web_identity.LoginRequired, Unauthenticated, DomainError):
        pass
    return save(request, error_page(request, 404, f"There is no dashboard page at {request.url.path}."))
