"""Image repository: the only SQL about images, their properties, tags and locations."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from daguerre.db.schema import image_locations, image_members, image_properties, image_tags, images
from daguerre.domain.image import DELETED, KILLED, Image, Location

_COLUMNS = (
    "id", "name", "status", "visibility", "protected", "os_hidden", "checksum", "os_hash_algo", "os_hash_value",
    "owner", "size", "virtual_size", "min_disk", "min_ram", "container_format", "disk_format", "created_at",
    "updated_at", "version",
)  # fmt: skip
_SELECT = sa.select(*(images.c[name] for name in _COLUMNS))


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _row_to_image(row: sa.Row) -> Image:
    # Rows come from _SELECT, whose columns are _COLUMNS in order.
    return Image(**dict(zip(_COLUMNS, row, strict=True)))


# Hot statements are built once with bind parameters: building a statement and computing its
# cache key costs more than SQLite takes to run it, and a prebuilt statement memoises its key.
_ONE = sa.bindparam("image_id")
# Many ids travel as one parameter (a JSON array on SQLite, an array on PostgreSQL): an expanding
# IN list would be re-rendered into the SQL text on every execution.
_MANY_SQLITE = sa.select(sa.func.json_each(sa.bindparam("image_ids_json")).table_valued("value").c.value)
_MANY_PG = sa.any_(sa.bindparam("image_ids", type_=postgresql.ARRAY(sa.String)))


def _children(match_props: sa.ColumnElement[bool], match_tags: sa.ColumnElement[bool]) -> sa.CompoundSelect:
    # Properties and tags in one round trip.
    return sa.union_all(
        sa.select(
            image_properties.c.image_id, image_properties.c.name, image_properties.c.value,
            sa.literal("p").label("kind"),
        ).where(match_props),
        sa.select(
            image_tags.c.image_id, image_tags.c.value, sa.literal("").label("value2"), sa.literal("t").label("kind")
        ).where(match_tags),
    )  # fmt: skip


def _locations(match: sa.ColumnElement[bool]) -> sa.Select:
    return (
        sa.select(
            image_locations.c.image_id,
            image_locations.c.store,
            image_locations.c.key,
            image_locations.c.url,
            image_locations.c.status,
            image_locations.c.meta,
        )
        .where(match)
        .order_by(image_locations.c.id)
    )


_CHILDREN_ONE = _children(image_properties.c.image_id == _ONE, image_tags.c.image_id == _ONE)
_LOCATIONS_ONE = _locations(image_locations.c.image_id == _ONE)
_MANY = {
    "sqlite": (
        _children(image_properties.c.image_id.in_(_MANY_SQLITE), image_tags.c.image_id.in_(_MANY_SQLITE)),
        _locations(image_locations.c.image_id.in_(_MANY_SQLITE)),
    ),
    "postgresql": (
        _children(image_properties.c.image_id == _MANY_PG, image_tags.c.image_id == _MANY_PG),
        _locations(image_locations.c.image_id == _MANY_PG),
    ),
}
_GET_ANY = _SELECT.where(images.c.id == _ONE)
_GET = _GET_ANY.where(images.c.deleted.is_(False))
_GET_FOR_UPDATE = _GET.with_for_update()


async def _attach(conn: AsyncConnection, found: Sequence[Image]) -> None:
    """Load properties, tags and locations for many images in two queries."""
    if not found:
        return
    by_id = {img.id: img for img in found}
    if len(found) == 1:
        params: dict = {"image_id": found[0].id}
        children, locations = _CHILDREN_ONE, _LOCATIONS_ONE
    elif conn.dialect.name == "sqlite":
        params = {"image_ids_json": json.dumps(list(by_id))}
        children, locations = _MANY["sqlite"]
    else:
        params = {"image_ids": list(by_id)}
        children, locations = _MANY["postgresql"]
    for image_id, name, value, kind in await conn.execute(children, params):
        if kind == "p":
            by_id[image_id].properties[name] = value
        else:
            by_id[image_id].tags.append(name)
    for img in found:
        img.tags.sort()
    for image_id, store, key, url, status, meta in await conn.execute(locations, params):
        by_id[image_id].locations.append(Location(store, key, url, status, dict(meta or {})))


async def get(
    conn: AsyncConnection, image_id: str, *, include_deleted: bool = False, for_update: bool = False
) -> Image | None:
    if include_deleted:
        query = _GET_ANY
    elif for_update and conn.dialect.name == "postgresql":
        query = _GET_FOR_UPDATE
    else:
        query = _GET
    row = (await conn.execute(query, {"image_id": image_id})).first()
    if row is None:
        return None
    image = _row_to_image(row)
    await _attach(conn, [image])
    return image


_EXISTS = sa.select(images.c.id).where(images.c.id == _ONE)
_INSERT = images.insert()


async def exists(conn: AsyncConnection, image_id: str) -> bool:
    """True when the id was ever used, including deleted images (ids are never reused)."""
    row = (await conn.execute(_EXISTS, {"image_id": image_id})).first()
    return row is not None


async def insert(conn: AsyncConnection, image: Image) -> None:
    values = {name: getattr(image, name) for name in _COLUMNS}
    values["deleted"] = False
    await conn.execute(_INSERT, values)
    if image.properties:
        await conn.execute(
            image_properties.insert(),
            [{"image_id": image.id, "name": k, "value": v} for k, v in image.properties.items()],
        )
    if image.tags:
        await conn.execute(image_tags.insert(), [{"image_id": image.id, "value": t} for t in set(image.tags)])


_SAVED_COLUMNS = tuple(name for name in _COLUMNS if name not in ("id", "created_at", "version"))
_SAVE = (
    images.update()
    .where(images.c.id == sa.bindparam("w_id"), images.c.version == sa.bindparam("w_version"))
    .values({name: sa.bindparam(f"v_{name}") for name in (*_SAVED_COLUMNS, "version")})
)


async def save(conn: AsyncConnection, image: Image, *, old: Image) -> bool:
    """Write ``image`` over ``old`` if nobody changed it meanwhile (optimistic version check).

    Returns False when the stored version moved on: the caller reloads and retries or reports 409.
    """
    image.updated_at = utcnow()
    params = {f"v_{name}": getattr(image, name) for name in _SAVED_COLUMNS}
    params.update(v_version=old.version + 1, w_id=image.id, w_version=old.version)
    result = await conn.execute(_SAVE, params)
    if result.rowcount != 1:
        return False
    image.version = old.version + 1
    removed = [k for k in old.properties if k not in image.properties]
    changed = {k: v for k, v in image.properties.items() if old.properties.get(k) != v}
    if removed:
        await conn.execute(
            image_properties.delete().where(
                image_properties.c.image_id == image.id, image_properties.c.name.in_(removed)
            )
        )
    if changed:
        await conn.execute(
            image_properties.delete().where(
                image_properties.c.image_id == image.id, image_properties.c.name.in_(list(changed))
            )
        )
        await conn.execute(
            image_properties.insert(),
            [{"image_id": image.id, "name": k, "value": v} for k, v in changed.items()],
        )
    old_tags, new_tags = set(old.tags), set(image.tags)
    if old_tags - new_tags:
        await conn.execute(
            image_tags.delete().where(
                image_tags.c.image_id == image.id, image_tags.c.value.in_(old_tags - new_tags)
            )
        )
    if new_tags - old_tags:
        await conn.execute(
            image_tags.insert(), [{"image_id": image.id, "value": t} for t in new_tags - old_tags]
        )
    return True


async def transition(
    conn: AsyncConnection, image_id: str, from_statuses: Sequence[str], to: str, **values: object
) -> bool:
    """Atomically move an image's status if it is still in one of ``from_statuses``."""
    values = dict(values, status=to, updated_at=utcnow(), version=images.c.version + 1)
    result = await conn.execute(
        images.update()
        .where(images.c.id == image_id, images.c.status.in_(list(from_statuses)), images.c.deleted.is_(False))
        .values(**values)
    )
    return result.rowcount == 1


async def set_properties(conn: AsyncConnection, image_id: str, props: dict[str, str | None]) -> None:
    """Set (or, with None, remove) properties without touching the rest of the record."""
    names = list(props)
    await conn.execute(
        image_properties.delete().where(
            image_properties.c.image_id == image_id, image_properties.c.name.in_(names)
        )
    )
    rows = [{"image_id": image_id, "name": k, "value": v} for k, v in props.items() if v is not None]
    if rows:
        await conn.execute(image_properties.insert(), rows)
    await conn.execute(
        images.update()
        .where(images.c.id == image_id)
        .values(updated_at=utcnow(), version=images.c.version + 1)
    )


async def add_location(conn: AsyncConnection, image_id: str, loc: Location) -> None:
    await conn.execute(
        image_locations.insert().values(
            image_id=image_id, store=loc.store, key=loc.key, url=loc.url, status=loc.status, meta=loc.metadata,
            created_at=utcnow(),
        )
    )  # fmt: skip


async def remove_locations(conn: AsyncConnection, image_id: str, store: str | None = None) -> None:
    query = image_locations.delete().where(image_locations.c.image_id == image_id)
    if store is not None:
        query = query.where(image_locations.c.store == store)
    await conn.execute(query)


async def mark_deleted(conn: AsyncConnection, image_id: str) -> None:
    now = utcnow()
    await conn.execute(
        images.update()
        .where(images.c.id == image_id)
        .values(status=DELETED, deleted=True, deleted_at=now, updated_at=now, version=images.c.version + 1)
    )
    for table in (image_properties, image_tags, image_members):
        await conn.execute(table.delete().where(table.c.image_id == image_id))


async def ids_with_status(conn: AsyncConnection, statuses: Sequence[str]) -> list[str]:
    rows = await conn.execute(
        sa.select(images.c.id).where(images.c.status.in_(list(statuses)), images.c.deleted.is_(False))
    )
    return [r[0] for r in rows]


async def storage_used(conn: AsyncConnection, owner: str) -> int:
    row = (
        await conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(images.c.size), 0)).where(
                images.c.owner == owner, images.c.deleted.is_(False)
            )
        )
    ).first()
    return int(row[0]) if row else 0


# --- listing ------------------------------------------------------------------------------

SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id", "created_at", "updated_at")
# NULLs sort differently on SQLite and PostgreSQL; sort on a non-null stand-in so pages agree.
# The fallbacks are SQL literals, not bound parameters: an ORDER BY coalesce(name, ?) does not
# match the index on coalesce(name, '') and the database would sort every match instead.
_SORT_EXPR = {
    "name": sa.func.coalesce(images.c.name, sa.literal_column("''")),
    "container_format": sa.func.coalesce(images.c.container_format, sa.literal_column("''")),
    "disk_format": sa.func.coalesce(images.c.disk_format, sa.literal_column("''")),
    "size": sa.func.coalesce(images.c.size, sa.literal_column("-1")),
}


@dataclass
class ListQuery:
    """Everything a list request asks for, already validated by the service."""

    caller_project: str | None
    is_admin: bool
    visibility: str | None = None  # None = default view, or public/private/shared/community/all
    member_status: str = "accepted"
    os_hidden: bool = False
    exact: dict[str, list[str]] = field(default_factory=dict)  # column -> allowed values (in:)
    properties: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    ranges: list[tuple[str, str, object]] = field(default_factory=list)  # (column, op, value)
    sort: list[tuple[str, str]] = field(default_factory=lambda: [("created_at", "desc")])
    limit: int = 25
    marker: Image | None = None


def _member_clause(project: str | None, member_status: str) -> sa.ColumnElement[bool]:
    sub = sa.select(image_members.c.image_id).where(
        image_members.c.image_id == images.c.id, image_members.c.member == (project or "")
    )
    if member_status != "all":
        sub = sub.where(image_members.c.status == member_status)
    return sa.exists(sub)


def _visibility_clause(q: ListQuery) -> sa.ColumnElement[bool] | None:
    p = q.caller_project or ""
    own = images.c.owner == p
    vis = images.c.visibility
    if q.is_admin:
        if q.visibility in (None,):
            return sa.or_(vis != "community", own)
        if q.visibility == "all":
            return None
        return vis == q.visibility
    member = sa.and_(vis == "shared", _member_clause(q.caller_project, q.member_status))
    if q.visibility is None:
        return sa.or_(vis == "public", own, member)
    if q.visibility == "all":
        return sa.or_(vis == "public", vis == "community", own, member)
    if q.visibility == "public":
        return vis == "public"
    if q.visibility == "community":
        return vis == "community"
    if q.visibility == "private":
        return sa.and_(vis == "private", own)
    if q.visibility == "shared":
        return sa.and_(vis == "shared", sa.or_(own, _member_clause(q.caller_project, q.member_status)))
    raise ValueError(q.visibility)


_OPS = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__", "eq": "__eq__", "neq": "__ne__"}


async def list_images(conn: AsyncConnection, q: ListQuery) -> list[Image]:
    conds: list[sa.ColumnElement[bool]] = [
        images.c.deleted.is_(False),
        images.c.status != KILLED,
        images.c.os_hidden.is_(q.os_hidden),
    ]
    vis = _visibility_clause(q)
    if vis is not None:
        conds.append(vis)
    for column, values in q.exact.items():
        conds.append(images.c[column].in_(values))
    for name, value in q.properties.items():
        conds.append(
            sa.exists(
                sa.select(image_properties.c.image_id).where(
                    image_properties.c.image_id == images.c.id,
                    image_properties.c.name == name,
                    image_properties.c.value == value,
                )
            )
        )
    for tag in q.tags:
        conds.append(
            sa.exists(
                sa.select(image_tags.c.image_id).where(
                    image_tags.c.image_id == images.c.id, image_tags.c.value == tag
                )
            )
        )
    for column, op, value in q.ranges:
        conds.append(getattr(images.c[column], _OPS[op])(value))

    sort = list(q.sort)
    keys = [k for k, _ in sort]
    default_dir = sort[-1][1] if sort else "desc"
    for extra in ("created_at", "id"):
        if extra not in keys:
            sort.append((extra, default_dir))
            keys.append(extra)
    exprs = [(_SORT_EXPR.get(k, images.c[k]), d) for k, d in sort]

    if q.marker is not None:
        conds.append(_after_marker(exprs, [_marker_value(q.marker, k) for k in keys]))

    query = (
        _SELECT.where(*conds)
        .order_by(*(e.asc() if d == "asc" else e.desc() for e, d in exprs))
        .limit(q.limit)
    )
    found = [_row_to_image(r) for r in (await conn.execute(query)).all()]
    await _attach(conn, found)
    return found


def _marker_value(marker: Image, key: str) -> object:
    value = getattr(marker, key)
    if value is None:
        return "" if key in ("name", "container_format", "disk_format") else -1
    return value


def _after_marker(exprs: list[tuple[sa.ColumnElement, str]], values: list[object]) -> sa.ColumnElement[bool]:
    """Keyset condition: rows strictly after the marker in the (multi-key) sort order."""
    ors = []
    for i, (expr, direction) in enumerate(exprs):
        ands = [e == v for (e, _), v in zip(exprs[:i], values[:i], strict=True)]
        ands.append(expr > values[i] if direction == "asc" else expr < values[i])
        ors.append(sa.and_(*ands))
    return sa.or_(*ors)
