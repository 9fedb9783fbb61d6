"""/v2/tasks (admin-only, as Glance), /v2/images/{id}/import and /v2/images/{id}/tasks."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from daguerre.api.requests import absolute_url, context, read_json, reject_body, runtime
from daguerre.api.responses import JSONResponse
from daguerre.domain.task import Task
from daguerre.services import imports, tasks
from daguerre.wire.errors import error_response
from daguerre.wire.views import isotime


def task_view(task: Task, *, stub: bool = False) -> dict:
    doc: dict[str, Any] = {
        "id": task.id,
        "type": task.type,
        "status": task.status,
        "owner": task.owner,
        "created_at": isotime(task.created_at),
        "updated_at": isotime(task.updated_at),
        "self": f"/v2/tasks/{task.id}",
        "schema": "/v2/schemas/task",
    }
    if task.expires_at is not None:
        doc["expires_at"] = isotime(task.expires_at)
    if task.image_id:
        doc["image_id"] = task.image_id
    if task.request_id:
        doc["request_id"] = task.request_id
    if task.user_id:
        doc["user_id"] = task.user_id
    if not stub:
        doc["input"] = task.input
        doc["result"] = task.result
        doc["message"] = task.message or ""
    return doc


def raw_task_view(task: Task) -> dict:
    """GET /v2/images/{id}/tasks returns the stored rows, timestamps without the Z (as Glance)."""

    def raw(when) -> str | None:  # noqa: ANN001
        return when.strftime("%Y-%m-%dT%H:%M:%S.%f") if when else None

    return {
        "id": task.id, "type": task.type, "status": task.status, "owner": task.owner,
        "expires_at": raw(task.expires_at), "created_at": raw(task.created_at), "updated_at": raw(task.updated_at),
        "deleted_at": None, "deleted": False, "image_id": task.image_id, "request_id": task.request_id,
        "user_id": task.user_id, "input": task.input, "result": task.result, "message": task.message or "",
    }  # fmt: skip


async def import_image(request: Request) -> Response:
    body = await read_json(request)
    await imports.import_image(runtime(request), context(request), request.path_params["image_id"], body,
                               request.headers.get("x-image-meta-store"))  # fmt: skip
    return Response(status_code=202)


async def image_tasks(request: Request) -> Response:
    await reject_body(request)
    found = await tasks.for_image(runtime(request), context(request), request.path_params["image_id"])
    return JSONResponse({"tasks": [raw_task_view(t) for t in found]})


async def create(request: Request) -> Response:
    body = await read_json(request)
    task = await imports.create_legacy_task(runtime(request), context(request), body)
    doc = task_view(task)
    return JSONResponse(doc, status_code=201, headers={"Location": absolute_url(request, doc["self"])})


async def index(request: Request) -> Response:
    params = dict(request.query_params)
    page = await tasks.list_tasks(runtime(request), context(request), params)
    doc = {"tasks": [task_view(t, stub=True) for t in page.tasks], "schema": "/v2/schemas/tasks"}
    without_marker = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    doc["first"] = "/v2/tasks" + (f"?{urlencode(without_marker)}" if without_marker else "")
    if page.full and page.tasks:
        doc["next"] = "/v2/tasks?" + urlencode([*without_marker, ("marker", page.tasks[-1].id)])
    return JSONResponse(doc)


async def show(request: Request) -> Response:
    task = await tasks.show(runtime(request), context(request), request.path_params["task_id"])
    return JSONResponse(task_view(task))


async def delete(request: Request) -> Response:
    return error_response(405, "Tasks cannot be deleted", request.headers.get("accept"), {"Allow": "GET"})
