"""Image member repository."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from daguerre.db.images import utcnow
from daguerre.db.schema import image_members
from daguerre.domain.member import Member


def _member(row: sa.Row) -> Member:
    m = row._mapping
    return Member(m["image_id"], m["member"], m["status"], m["created_at"], m["updated_at"])


async def get(conn: AsyncConnection, image_id: str, member_id: str) -> Member | None:
    row = (
        await conn.execute(
            sa.select(image_members).where(
                image_members.c.image_id == image_id, image_members.c.member == member_id
            )
        )
    ).first()
    return _member(row) if row else None


async def list_for_image(conn: AsyncConnection, image_id: str) -> list[Member]:
    rows = await conn.execute(
        sa.select(image_members)
        .where(image_members.c.image_id == image_id)
        .order_by(image_members.c.created_at)
    )
    return [_member(r) for r in rows]


async def count(conn: AsyncConnection, image_id: str) -> int:
    row = (await conn.execute(sa.select(sa.func.count()).where(image_members.c.image_id == image_id))).first()
    return int(row[0]) if row else 0


async def insert(conn: AsyncConnection, image_id: str, member_id: str) -> Member:
    now = utcnow()
    await conn.execute(
        image_members.insert().values(
            image_id=image_id, member=member_id, status="pending", created_at=now, updated_at=now
        )
    )
    return Member(image_id, member_id, "pending", now, now)


async def set_status(conn: AsyncConnection, image_id: str, member_id: str, status: str) -> None:
    await conn.execute(
        image_members.update()
        .where(image_members.c.image_id == image_id, image_members.c.member == member_id)
        .values(status=status, updated_at=utcnow())
    )


async def delete(conn: AsyncConnection, image_id: str, member_id: str) -> None:
    await conn.execute(
        image_members.delete().where(
            image_members.c.image_id == image_id, image_members.c.member == member_id
        )
    )
