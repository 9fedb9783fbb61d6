"""Sharing: members of shared images. Only the member project (or admin) sets its own status."""

from __future__ import annotations

from daguerre.context import RequestContext
from daguerre.db import members as member_repo
from daguerre.domain.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge
from daguerre.domain.member import MEMBER_STATUSES, Member
from daguerre.runtime import Runtime
from daguerre.services import access


def _require_shared(visibility: str) -> None:
    if visibility != "shared":
        raise Forbidden("Only shared images have members.")


async def create(rt: Runtime, ctx: RequestContext, image_id: str, body: object) -> Member:
    member_id = body.get("member") if isinstance(body, dict) else None
    if not isinstance(member_id, str) or not member_id.strip():
        raise Invalid("Member to be added not specified")
    async with rt.db.write() as conn:
        image, tgt = await access.load(rt, conn, ctx, image_id, for_update=True)
        rt.policy.authorize(ctx, "add_member", tgt)
        _require_shared(image.visibility)
        if await member_repo.get(conn, image_id, member_id):
            raise Conflict(f"Member {member_id} already exists for image {image_id}")
        quota = rt.settings.DEFAULT.image_member_quota
        if quota >= 0 and await member_repo.count(conn, image_id) >= quota:
            raise TooLarge(f"Maximum number of image members ({quota}) exceeded")
        return await member_repo.insert(conn, image_id, member_id)


async def list_members(rt: Runtime, ctx: RequestContext, image_id: str) -> list[Member]:
    async with rt.db.read() as conn:
        image, tgt = await access.load(rt, conn, ctx, image_id)
        _require_shared(image.visibility)
        rt.policy.authorize(ctx, "get_members", tgt)
        members = await member_repo.list_for_image(conn, image_id)
    if ctx.is_admin or image.owner == ctx.project_id:
        return members
    return [m for m in members if m.member_id == ctx.project_id]


async def show(rt: Runtime, ctx: RequestContext, image_id: str, member_id: str) -> Member:
    async with rt.db.read() as conn:
        image, tgt = await access.load(rt, conn, ctx, image_id)
        if image.visibility != "shared" or not rt.policy.check(ctx, "get_member", tgt):
            raise NotFound(f"Member {member_id} not found")
        if not (ctx.is_admin or image.owner == ctx.project_id or member_id == ctx.project_id):
            raise NotFound(f"Member {member_id} not found")
        member = await member_repo.get(conn, image_id, member_id)
    if member is None:
        raise NotFound(f"Member {member_id} not found")
    return member


async def update(rt: Runtime, ctx: RequestContext, image_id: str, member_id: str, body: object) -> Member:
    status = body.get("status") if isinstance(body, dict) else None
    if status is None:
        raise Invalid("Status not specified")
    if status not in MEMBER_STATUSES:
        raise Invalid(
            f"Status {status} is not a valid member status; use one of {', '.join(MEMBER_STATUSES)}"
        )
    async with rt.db.write() as conn:
        image, tgt = await access.load(rt, conn, ctx, image_id, for_update=True)
        _require_shared(image.visibility)
        member = await member_repo.get(conn, image_id, member_id)
        if member is None:
            raise NotFound(f"Member {member_id} not found")
        rt.policy.authorize(ctx, "modify_member", {**tgt, "member_id": member_id})
        if not ctx.is_admin and ctx.project_id != member_id:
            raise Forbidden("Only the member project may change its membership status")
        await member_repo.set_status(conn, image_id, member_id, status)
        return await member_repo.get(conn, image_id, member_id)  # type: ignore[return-value]


async def delete(rt: Runtime, ctx: RequestContext, image_id: str, member_id: str) -> None:
    async with rt.db.write() as conn:
        image, tgt = await access.load(rt, conn, ctx, image_id, for_update=True)
        _require_shared(image.visibility)
        rt.policy.authorize(ctx, "delete_member", tgt)
        if not ctx.is_admin and image.owner != ctx.project_id:
            raise Forbidden("Only the image owner may remove members")
        if await member_repo.get(conn, image_id, member_id) is None:
            raise NotFound(f"Member {member_id} not found")
        await member_repo.delete(conn, image_id, member_id)
