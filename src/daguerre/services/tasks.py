"""GET /v2/tasks, /v2/tasks/{id} (admin-only, as Glance) and GET /v2/images/{id}/tasks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from daguerre.context import RequestContext
from daguerre.db import tasks as task_repo
from daguerre.domain.errors import Invalid, NotFound
from daguerre.domain.task import Task
from daguerre.runtime import Runtime
from daguerre.services import access


def _gate(rt: Runtime, ctx: RequestContext, rule: str) -> None:
    rt.policy.authorize(ctx, "tasks_api_access", {"project_id": ctx.project_id})
    rt.policy.authorize(ctx, rule, {"project_id": ctx.project_id})


async def show(rt: Runtime, ctx: RequestContext, task_id: str) -> Task:
    _gate(rt, ctx, "get_task")
    async with rt.db.read() as conn:
        task = await task_repo.get(conn, task_id)
    if task is None or (not ctx.is_admin and task.owner != ctx.project_id):
        raise NotFound(f"Task with the given id {task_id} not found")
    return task


@dataclass
class TaskPage:
    tasks: list[Task]
    full: bool


async def list_tasks(rt: Runtime, ctx: RequestContext, params: dict[str, str]) -> TaskPage:
    _gate(rt, ctx, "get_tasks")
    status = params.get("status")
    if status is not None and status not in ("pending", "processing", "success", "failure"):
        raise Invalid(f"Invalid status value: {status}")
    type_ = params.get("type")
    if type_ is not None and type_ != "import":
        raise Invalid(f"Invalid type value: {type_}")
    sort_key = params.get("sort_key", "created_at")
    if sort_key not in ("created_at", "updated_at", "id", "status", "type", "expires_at", "owner"):
        raise Invalid(f"Invalid sort key: {sort_key}")
    sort_dir = params.get("sort_dir", "desc")
    if sort_dir not in ("asc", "desc"):
        raise Invalid(f"Invalid sort direction: {sort_dir}")
    limit = rt.settings.DEFAULT.limit_param_default
    if "limit" in params:
        try:
            limit = int(params["limit"])
        except ValueError:
            raise Invalid("limit param must be an integer") from None
        if limit < 0:
            raise Invalid("limit param must be positive")
    limit = min(limit, rt.settings.DEFAULT.api_limit_max)
    marker = None
    async with rt.db.read() as conn:
        if "marker" in params:
            try:
                uuid.UUID(params["marker"])
            except ValueError:
                raise Invalid("Invalid marker format") from None
            marker = await task_repo.get(conn, params["marker"])
            if marker is None:
                raise Invalid(f"Invalid marker: task {params['marker']} could not be found")
        found = await task_repo.list_tasks(
            conn, owner=None if ctx.is_admin else ctx.project_id, status=status, type_=type_,
            sort_key=sort_key, sort_dir=sort_dir, limit=limit, marker=marker,
        )  # fmt: skip
    return TaskPage(found, full=len(found) == limit and limit > 0)


async def for_image(rt: Runtime, ctx: RequestContext, image_id: str) -> list[Task]:
    async with rt.db.read() as conn:
        await access.load(rt, conn, ctx, image_id)
        return await task_repo.for_image(conn, image_id)
