"""/v2/images: records, JSON patch, actions and tags."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from daguerre.api.requests import absolute_url, context, read_json, reject_body, runtime
from daguerre.api.responses import JSONResponse
from daguerre.domain.errors import Invalid, UnsupportedMedia
from daguerre.services import images as svc
from daguerre.services.images import PatchOp
from daguerre.wire.views import image_view, images_page

PATCH_V21 = "application/openstack-images-v2.1-json-patch"
PATCH_V20 = "application/openstack-images-v2.0-json-patch"


async def create(request: Request) -> Response:
    rt = runtime(request)
    body = await read_json(request)
    image = await svc.create(rt, context(request), body)
    doc = image_view(rt, image)
    headers = {"Location": absolute_url(request, doc["self"])}
    methods = rt.settings.DEFAULT.enabled_import_methods
    if methods:
        headers["OpenStack-image-import-methods"] = ",".join(methods)
    if rt.multi_store:
        headers["OpenStack-image-store-ids"] = ",".join(rt.stores)
    return JSONResponse(doc, status_code=201, headers=headers)


async def index(request: Request) -> Response:
    await reject_body(request)
    rt = runtime(request)
    params = list(request.query_params.multi_items())
    page = await svc.list_images(rt, context(request), params)
    return JSONResponse(images_page(rt, page.images, params, page.full))


async def show(request: Request) -> Response:
    await reject_body(request)
    rt = runtime(request)
    image = await svc.show(rt, context(request), request.path_params["image_id"])
    return JSONResponse(image_view(rt, image))


def _pointer(raw: object) -> tuple[str, ...]:
    if not isinstance(raw, str) or not raw.startswith("/"):
        raise Invalid(f"Pointer `{raw}` does not start with '/'.")
    if raw.endswith("/") or "//" in raw:
        raise Invalid(f"Pointer `{raw}` contains an empty segment or ends with '/'.")
    parts = raw[1:].split("/")
    out = []
    for part in parts:
        stripped = part.replace("~0", "").replace("~1", "")
        if "~" in stripped:
            raise Invalid(f"Pointer `{raw}` contains '~' not part of a recognized escape sequence.")
        out.append(part.replace("~1", "/").replace("~0", "~"))
    return tuple(out)


def parse_patch(doc: object, media: str) -> list[PatchOp]:
    if not isinstance(doc, list):
        raise Invalid("Request body must be a JSON array of operation objects.")
    ops = []
    op: str | None
    path: Any
    for item in doc:
        if not isinstance(item, dict):
            raise Invalid("Operations must be JSON objects.")
        if media == PATCH_V20:
            names = [k for k in ("add", "remove", "replace") if k in item]
            if len(names) != 1:
                raise Invalid(
                    'Operation objects must contain exactly one member named "add", "remove", or "replace".'
                )
            op, path = names[0], item[names[0]]
        else:
            op, path = item.get("op"), item.get("path")
            if op is None:
                raise Invalid("Unable to find 'op' in JSON Schema change")
            if op not in ("add", "remove", "replace"):
                raise Invalid(f"Invalid operation: `{op}`: must be one of add, remove, replace")
            if path is None:
                raise Invalid("Unable to find 'path' in JSON Schema change")
        if op != "remove" and "value" not in item:
            raise Invalid(f'Operation "{op}" requires a member named "value".')
        ops.append(PatchOp(op, _pointer(path), item.get("value"), strict_add=media == PATCH_V20))
    return ops


async def update(request: Request) -> Response:
    rt = runtime(request)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in (PATCH_V21, PATCH_V20):
        raise UnsupportedMedia(
            f"Unsupported Content-Type {media or '(none)'}; use {PATCH_V21} or {PATCH_V20}",
        )
    ops = parse_patch(await read_json(request), media)
    image = await svc.update(rt, context(request), request.path_params["image_id"], ops)
    return JSONResponse(image_view(rt, image))


async def delete(request: Request) -> Response:
    await reject_body(request)
    await svc.delete(runtime(request), context(request), request.path_params["image_id"])
    return Response(status_code=204)


async def deactivate(request: Request) -> Response:
    await reject_body(request)
    await svc.deactivate(runtime(request), context(request), request.path_params["image_id"])
    return Response(status_code=204)


async def reactivate(request: Request) -> Response:
    await reject_body(request)
    await svc.reactivate(runtime(request), context(request), request.path_params["image_id"])
    return Response(status_code=204)


async def add_tag(request: Request) -> Response:
    await reject_body(request)
    p = request.path_params
    await svc.add_tag(runtime(request), context(request), p["image_id"], p["tag"])
    return Response(status_code=204)


async def delete_tag(request: Request) -> Response:
    await reject_body(request)
    p = request.path_params
    await svc.delete_tag(runtime(request), context(request), p["image_id"], p["tag"])
    return Response(status_code=204)


async def delete_from_store(request: Request) -> Response:
    await reject_body(request)
    p = request.path_params
    await svc.delete_from_store(runtime(request), context(request), p["store_id"], p["image_id"])
    return Response(status_code=204)
