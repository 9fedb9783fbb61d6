"""/v2/images/{id}/locations (API 2.17): add a location through a task (202), list them (services)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from daguerre.api.requests import context, read_json, reject_body, runtime
from daguerre.api.responses import JSONResponse
from daguerre.services import locations as svc


async def add(request: Request) -> Response:
    body = await read_json(request, allow_array=False)
    await svc.add_location(runtime(request), context(request), request.path_params["image_id"], body)
    return Response(status_code=202)


async def index(request: Request) -> Response:
    await reject_body(request)
    found = await svc.list_locations(runtime(request), context(request), request.path_params["image_id"])
    return JSONResponse(found)


ROUTES = [
    Route("/v2/images/{image_id}/locations", add, methods=["POST"]),
    Route("/v2/images/{image_id}/locations", index, methods=["GET"]),
]
