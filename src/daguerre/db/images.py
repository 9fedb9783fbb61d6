"""Image repository: the only SQL about images, their properties, tags and locations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from daguerre.db.schema import image_locations, image_members, image_properties, image_tags, images
from daguerre.domain.image import (
    DELETED,
    INITIAL,
    KILLED,
    Image,
    InvalidTransition,
    Location,
    check_transition,
)

_COLUMNS = (
    "id", "name", "status", "visibility", "protected", "os_hidden", "checksum", "os_hash_algo", "os_hash_value",
    "owner", "size", "virtual_size", "min_disk", "min_ram", "container_format", "disk_format", "created_at",
    "updated_at", "version",
)  # fmt: skip


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# An image is read with one statement: its row plus its properties, tags and locations as JSON
# arrays from correlated subqueries. Each statement costs a round trip (PostgreSQL) or a pass
# through SQLAlchemy's execution machinery (SQLite, where that costs more than the query), so
# one statement instead of three is the largest single saving in image-show and list.
def _children(dialect: str) -> list[sa.ColumnElement]:
    p, t, loc = image_properties, image_tags, image_locations
    if dialect == "postgresql":
        agg, row = sa.func.json_agg, sa.func.json_build_array
        meta: sa.ColumnElement = loc.c.meta
    else:
        agg, row = sa.func.json_group_array, sa.func.json_array
        meta = sa.func.json(loc.c.meta)  # stored as JSON text: embed it as JSON, not as a string
    # Locations carry their id so that their order (insertion) can be restored afterwards:
    # SQLite 3.40 has no ORDER BY inside an aggregate.
    subqueries = {
        "props": sa.select(agg(row(p.c.name, p.c.value))).where(p.c.image_id == images.c.id),
        "tags": sa.select(agg(t.c.value)).where(t.c.image_id == images.c.id),
        "locs": sa.select(agg(row(loc.c.id, loc.c.store, loc.c.key, loc.c.url, loc.c.status, meta))).where(
            loc.c.image_id == images.c.id
        ),
    }
    return [sa.type_coerce(q.scalar_subquery(), sa.JSON).label(name) for name, q in subqueries.items()]


_SELECT = {
    dialect: sa.select(*(images.c[name] for name in _COLUMNS), *_children(dialect))
    for dialect in ("sqlite", "postgresql")
}
_N = len(_COLUMNS)


def _dialect(conn: AsyncConnection) -> str:
    return "postgresql" if conn.dialect.name == "postgresql" else "sqlite"


def _row_to_image(row: sa.Row) -> Image:
    # Rows come from _SELECT: _COLUMNS in order, then the three JSON arrays (NULL rather than
    # empty on PostgreSQL, whose json_agg over no rows is NULL).
    image = Image(**dict(zip(_COLUMNS, row[:_N], strict=True)))
    props, tags, locs = row[_N:]
    if props:
        image.properties = dict(props)
    if tags:
        image.tags = sorted(tags)
    if locs:
        locs.sort(key=lambda loc: loc[0])
        image.locations = [
            Location(store, key, url, status, dict(meta or {})) for _, store, key, url, status, meta in locs
        ]
    return image


# Hot statements are built once with bind parameters: building a statement and computing its
# cache key costs more than SQLite takes to run it, and a prebuilt statement memoises its key.
_ONE: sa.BindParameter[str] = sa.bindparam("image_id")
_GET_ANY = {d: q.where(images.c.id == _ONE) for d, q in _SELECT.items()}
_GET = {d: q.where(images.c.deleted.is_(False)) for d, q in _GET_ANY.items()}
_GET_FOR_UPDATE = _GET["postgresql"].with_for_update(of=images)


async def get(
    conn: AsyncConnection, image_id: str, *, include_deleted: bool = False, for_update: bool = False
) -> Image | None:
    dialect = _dialect(conn)
    if include_deleted:
        query = _GET_ANY[dialect]
    elif for_update and dialect == "postgresql":
        query = _GET_FOR_UPDATE
    else:
        query = _GET[dialect]
    row = (await conn.execute(query, {"image_id": image_id})).first()
    return None if row is None else _row_to_image(row)


_EXISTS = sa.select(images.c.id).where(images.c.id == _ONE)
_INSERT = images.insert()


async def exists(conn: AsyncConnection, image_id: str) -> bool:
    """True when the id was ever used, including deleted images (ids are never reused)."""
    row = (await conn.execute(_EXISTS, {"image_id": image_id})).first()
    return row is not None


async def insert(conn: AsyncConnection, image: Image) -> None:
    """A new image starts in the initial status (queued); anything else is a transition after it."""
    if image.status != INITIAL:
        raise InvalidTransition(f"A new image starts {INITIAL}, not {image.status}")
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
    A status change (``image.status`` differs from ``old.status``) must be in the transition
    table, else InvalidTransition is raised before anything is written; the version check makes
    ``old.status`` the stored status.
    """
    if image.status != old.status:
        check_transition(old.status, image.status)
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


# Columns that only the functions below write: the status along the table, the version as a
# counter, deletion through mark_deleted.
_GUARDED = frozenset({"id", "status", "version", "deleted", "deleted_at"})


async def transition(
    conn: AsyncConnection, image_id: str, from_statuses: Sequence[str], to: str, **values: object
) -> bool:
    """Move an image's status to ``to`` if it is still in one of ``from_statuses``, setting
    ``values`` in the same statement.

    Every (from, to) pair must be in the transition table: a forbidden one raises
    InvalidTransition before the row is touched (a same-status write is update_fields). Returns
    False when the image is gone or in another status (someone else moved it first).
    """
    if not from_statuses:
        raise ValueError("transition needs the statuses it may start from")
    if to == DELETED:
        raise ValueError("an image is deleted with mark_deleted, which also removes its children")
    for current in from_statuses:
        check_transition(current, to)
    return await _guarded_update(conn, image_id, from_statuses, values, to)


async def update_fields(conn: AsyncConnection, image_id: str, expected_status: str, **values: object) -> bool:
    """Set columns of an image that is still in ``expected_status``, leaving its status alone.

    Returns False when the image is gone or no longer in that status."""
    return await _guarded_update(conn, image_id, [expected_status], values, None)


async def _guarded_update(
    conn: AsyncConnection,
    image_id: str,
    from_statuses: Sequence[str],
    values: dict[str, object],
    to: str | None,
) -> bool:
    bad = set(values) & _GUARDED
    if bad:
        raise ValueError(f"{', '.join(sorted(bad))} cannot be set this way")
    values = dict(values, updated_at=utcnow(), version=images.c.version + 1)
    if to is not None:
        values["status"] = to
    result = await conn.execute(
        images.update()
        .where(images.c.id == image_id, images.c.status.in_(list(from_statuses)), images.c.deleted.is_(False))
        .values(**values)
    )
    return result.rowcount == 1


async def set_properties(conn: AsyncConnection, image_id: str, props: Mapping[str, str | None]) -> None:
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


async def mark_deleted(conn: AsyncConnection, image_id: str, from_status: str) -> bool:
    """Delete an image that is still in ``from_status`` (a transition to deleted: InvalidTransition
    when the table forbids it). Returns False when the image is gone or in another status."""
    check_transition(from_status, DELETED)
    now = utcnow()
    result = await conn.execute(
        images.update()
        .where(images.c.id == image_id, images.c.status == from_status, images.c.deleted.is_(False))
        .values(status=DELETED, deleted=True, deleted_at=now, updated_at=now, version=images.c.version + 1)
    )
    if result.rowcount != 1:
        return False
    for table in (image_properties, image_tags, image_members):
        await conn.execute(table.delete().where(table.c.image_id == image_id))
    return True


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


# A list statement is built once per shape (which filters, which sort, marker or not) with
# bind parameters for every value, and reused: building it and computing its cache key took a
# sixth of a list request's CPU time.
_LIST_STATEMENTS: dict[tuple, sa.Select] = {}
_LIST_STATEMENTS_MAX = 512


def _member_clause(member_status: str) -> sa.ColumnElement[bool]:
    sub = sa.select(image_members.c.image_id).where(
        image_members.c.image_id == images.c.id, image_members.c.member == sa.bindparam("project")
    )
    if member_status != "all":
        sub = sub.where(image_members.c.status == sa.bindparam("member_status"))
    return sa.exists(sub)


def _visibility_clause(
    is_admin: bool, visibility: str | None, member_status: str
) -> sa.ColumnElement[bool] | None:
    own = images.c.owner == sa.bindparam("project")
    vis = images.c.visibility
    if is_admin:
        if visibility is None:
            return sa.or_(vis != "community", own)
        if visibility == "all":
            return None
        return vis == visibility
    member = sa.and_(vis == "shared", _member_clause(member_status))
    if visibility is None:
        return sa.or_(vis == "public", own, member)
    if visibility == "all":
        return sa.or_(vis == "public", vis == "community", own, member)
    if visibility == "public":
        return vis == "public"
    if visibility == "community":
        return vis == "community"
    if visibility == "private":
        return sa.and_(vis == "private", own)
    if visibility == "shared":
        return sa.and_(vis == "shared", sa.or_(own, _member_clause(member_status)))
    raise ValueError(visibility)


_OPS = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__", "eq": "__eq__", "neq": "__ne__"}


def _full_sort(q: ListQuery) -> list[tuple[str, str]]:
    sort = list(q.sort)
    keys = [k for k, _ in sort]
    default_dir = sort[-1][1] if sort else "desc"
    for extra in ("created_at", "id"):
        if extra not in keys:
            sort.append((extra, default_dir))
    return sort


def _list_shape(q: ListQuery, sort: list[tuple[str, str]]) -> tuple:
    member_status = "all" if q.member_status == "all" else "one"
    return (
        q.is_admin, q.visibility, member_status, q.os_hidden, tuple(q.exact), len(q.properties), len(q.tags),
        tuple((column, op) for column, op, _ in q.ranges), tuple(sort), q.marker is not None,
    )  # fmt: skip


def _build_list(dialect: str, q: ListQuery, sort: list[tuple[str, str]]) -> sa.Select:
    conds: list[sa.ColumnElement[bool]] = [
        images.c.deleted.is_(False),
        images.c.status != KILLED,
        images.c.os_hidden.is_(q.os_hidden),
    ]
    vis = _visibility_clause(q.is_admin, q.visibility, "all" if q.member_status == "all" else "one")
    if vis is not None:
        conds.append(vis)
    for column in q.exact:
        conds.append(images.c[column].in_(sa.bindparam(f"in_{column}", expanding=True)))
    for i in range(len(q.properties)):
        conds.append(
            sa.exists(
                sa.select(image_properties.c.image_id).where(
                    image_properties.c.image_id == images.c.id,
                    image_properties.c.name == sa.bindparam(f"prop_name_{i}"),
                    image_properties.c.value == sa.bindparam(f"prop_value_{i}"),
                )
            )
        )
    for i in range(len(q.tags)):
        conds.append(
            sa.exists(
                sa.select(image_tags.c.image_id).where(
                    image_tags.c.image_id == images.c.id, image_tags.c.value == sa.bindparam(f"tag_{i}")
                )
            )
        )
    for i, (column, op, _) in enumerate(q.ranges):
        conds.append(getattr(images.c[column], _OPS[op])(sa.bindparam(f"range_{i}")))
    exprs = [(_SORT_EXPR.get(k, images.c[k]), d) for k, d in sort]
    if q.marker is not None:
        conds.append(_after_marker(exprs, [sa.bindparam(f"marker_{i}") for i in range(len(exprs))]))
    return (
        _SELECT[dialect]
        .where(*conds)
        .order_by(*(e.asc() if d == "asc" else e.desc() for e, d in exprs))
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )


async def list_images(conn: AsyncConnection, q: ListQuery) -> list[Image]:
    dialect = _dialect(conn)
    sort = _full_sort(q)
    key = (dialect, *_list_shape(q, sort))
    statement = _LIST_STATEMENTS.get(key)
    if statement is None:
        if len(_LIST_STATEMENTS) >= _LIST_STATEMENTS_MAX:
            _LIST_STATEMENTS.clear()
        statement = _LIST_STATEMENTS[key] = _build_list(dialect, q, sort)
    params: dict[str, object] = {"project": q.caller_project or "", "limit": q.limit}
    if q.member_status != "all":
        params["member_status"] = q.member_status
    for column, values in q.exact.items():
        params[f"in_{column}"] = list(values)
    for i, (name, value) in enumerate(q.properties.items()):
        params[f"prop_name_{i}"], params[f"prop_value_{i}"] = name, value
    for i, tag in enumerate(q.tags):
        params[f"tag_{i}"] = tag
    for i, (_, _, bound) in enumerate(q.ranges):
        params[f"range_{i}"] = bound
    if q.marker is not None:
        for i, (k, _) in enumerate(sort):
            params[f"marker_{i}"] = _marker_value(q.marker, k)
    return [_row_to_image(r) for r in (await conn.execute(statement, params)).all()]


def _marker_value(marker: Image, key: str) -> object:
    value = getattr(marker, key)
    if value is None:
        return "" if key in ("name", "container_format", "disk_format") else -1
    return value


def _after_marker(
    exprs: Sequence[tuple[sa.ColumnElement, str]], values: list[object]
) -> sa.ColumnElement[bool]:
    """Keyset condition: rows strictly after the marker in the (multi-key) sort order."""
    ors = []
    for i, (expr, direction) in enumerate(exprs):
        ands = [e == v for (e, _), v in zip(exprs[:i], values[:i], strict=True)]
        ands.append(expr > values[i] if direction == "asc" else expr < values[i])
        ors.append(sa.and_(*ands))
    return sa.or_(*ors)
