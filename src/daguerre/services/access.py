"""Loading an image as a given caller: visibility (404) first, then policy (403)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from daguerre.context import RequestContext
from daguerre.db import images as image_repo
from daguerre.db import members as member_repo
from daguerre.domain.errors import NotFound
from daguerre.domain.image import Image
from daguerre.runtime import Runtime


async def member_of(conn: AsyncConnection, ctx: RequestContext, image: Image) -> str | None:
    """The caller's project when it holds a membership on this shared image."""
    if image.visibility != "shared" or not ctx.project_id or image.owner == ctx.project_id:
        return None
    member = await member_repo.get(conn, image.id, ctx.project_id)
    return ctx.project_id if member else None


def visible(ctx: RequestContext, image: Image, member_id: str | None) -> bool:
    if ctx.is_admin or image.visibility in ("public", "community"):
        return True
    if ctx.project_id and image.owner == ctx.project_id:
        return True
    return image.visibility == "shared" and member_id is not None


def target(image: Image, member_id: str | None) -> dict:
    return {
        "project_id": image.owner,
        "owner": image.owner,
        "visibility": image.visibility,
        "member_id": member_id,
        "id": image.id,
    }


async def load(
    rt: Runtime, conn: AsyncConnection, ctx: RequestContext, image_id: str, *, for_update: bool = False
) -> tuple[Image, dict]:
    """The image and its policy target, or NotFound when missing or not visible to the caller."""
    image = await image_repo.get(conn, image_id, for_update=for_update) if len(image_id) <= 36 else None
    if image is None:
        raise NotFound(f"No image found with ID {image_id}")
    member_id = await member_of(conn, ctx, image)
    if not visible(ctx, image, member_id):
        raise NotFound(f"No image found with ID {image_id}")
    tgt = target(image, member_id)
    if not rt.policy.check(ctx, "get_image", tgt):
        raise NotFound(f"No image found with ID {image_id}")
    return image, tgt
