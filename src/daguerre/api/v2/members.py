"""/v2/images/{id}/members."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from daguerre.api.requests import context, read_json, reject_body, runtime
from daguerre.api.responses import JSONResponse
from daguerre.services import members as svc
from daguerre.wire.views import member_view


async def create(request: Request) -> Response:
    body = await read_json(request)
    member = await svc.create(runtime(request), context(request), request.path_params["image_id"], body)
    return JSONResponse(member_view(member))


async def index(request: Request) -> Response:
    await reject_body(request)
    members = await svc.list_members(runtime(request), context(request), request.path_params["image_id"])
    return JSONResponse({"members": [member_view(m) for m in members], "schema": "/v2/schemas/members"})


async def show(request: Request) -> Response:
    await reject_body(request)
    p = request.path_params
    member = await svc.show(runtime(request), context(request), p["image_id"], p["member_id"])
    return JSONResponse(member_view(member))


async def update(request: Request) -> Response:
    body = await read_json(request)
    p = request.path_params
    member = await svc.update(runtime(request), context(request), p["image_id"], p["member_id"], body)
    return JSONResponse(member_view(member))


async def delete(request: Request) -> Response:
    await reject_body(request)
    p = request.path_params
    await svc.delete(runtime(request), context(request), p["image_id"], p["member_id"])
    return Response(status_code=204)
