"""/v2/cache: the node-local image cache (admin-only)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from daguerre.api.requests import context, reject_body, runtime
from daguerre.api.responses import JSONResponse
from daguerre.services import cache as svc


async def index(request: Request) -> Response:
    await reject_body(request)
    cached, queued = await svc.list_cache(runtime(request), context(request))
    return JSONResponse({
        "cached_images": [{"image_id": e.image_id, "hits": e.hits, "last_accessed": e.last_accessed,
                           "last_modified": e.last_modified, "size": e.size} for e in cached],
        "queued_images": queued,
    })  # fmt: skip


async def queue(request: Request) -> Response:
    await reject_body(request)
    await svc.queue_image(runtime(request), context(request), request.path_params["image_id"])
    return Response(status_code=202)


async def delete(request: Request) -> Response:
    await reject_body(request)
    await svc.delete(runtime(request), context(request), request.path_params["image_id"])
    return Response(status_code=204)


async def clear(request: Request) -> Response:
    await reject_body(request)
    await svc.clear(runtime(request), context(request), request.headers.get("x-image-cache-clear-target"))
    return Response(status_code=204)
