"""Metadata definitions repository: the only SQL about metadef namespaces and their contents.

Names are what the API speaks; integer ids stay inside (they are never shown to callers).
Uniqueness is checked before writing and also enforced by the schema; a lost race surfaces as
``Conflict`` through ``duplicate_guard``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from daguerre.db.images import utcnow
from daguerre.db.metadef_schema import (
    metadef_catalog_loads,
    metadef_namespace_resource_types,
    metadef_namespaces,
    metadef_objects,
    metadef_properties,
    metadef_resource_types,
    metadef_tags,
)
from daguerre.domain.errors import Conflict

ns_t = metadef_namespaces
obj_t = metadef_objects
prop_t = metadef_properties
tag_t = metadef_tags
rt_t = metadef_resource_types
assoc_t = metadef_namespace_resource_types


@dataclass
class Namespace:
    id: int
    namespace: str
    display_name: str | None
    description: str | None
    visibility: str
    protected: bool
    owner: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class MetaObject:
    id: int
    name: str
    description: str | None
    required: list[str] | None
    properties: dict[str, dict]
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class Property:
    id: int
    name: str
    schema: dict
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class Tag:
    id: int
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class ResourceType:
    id: int
    name: str
    protected: bool
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class Association:
    name: str  # the resource type's name
    prefix: str | None
    properties_target: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    namespace_id: int = 0


@dataclass
class NamespaceQuery:
    caller_project: str | None
    is_admin: bool
    visibility: str | None = None
    resource_types: list[str] = field(default_factory=list)
    sort_key: str = "created_at"
    sort_dir: str = "desc"
    limit: int = 25
    marker: Namespace | None = None


@contextmanager
def duplicate_guard(message: str) -> Iterator[None]:
    """A unique-constraint violation (a concurrent writer won the race) becomes Conflict."""
    try:
        yield
    except sa.exc.IntegrityError:
        raise Conflict(message) from None


def _namespace(row: sa.Row) -> Namespace:
    m = row._mapping
    return Namespace(
        m["id"], m["namespace"], m["display_name"], m["description"], m["visibility"], bool(m["protected"]),
        m["owner"], m["created_at"], m["updated_at"],
    )  # fmt: skip


# --- namespaces ---------------------------------------------------------------------------

NAMESPACE_SORT_KEYS = ("namespace", "display_name", "description", "visibility", "protected", "owner",
                       "created_at", "updated_at", "id")  # fmt: skip
_NULLABLE_TEXT = ("display_name", "description", "owner")


def _sort_expr(key: str) -> sa.ColumnElement:
    # NULLs sort differently on SQLite and PostgreSQL; sort on a non-null stand-in so pages agree.
    return sa.func.coalesce(ns_t.c[key], "") if key in _NULLABLE_TEXT else ns_t.c[key]


async def get_namespace(conn: AsyncConnection, name: str) -> Namespace | None:
    row = (await conn.execute(sa.select(ns_t).where(ns_t.c.namespace == name))).first()
    return _namespace(row) if row else None


async def list_namespaces(conn: AsyncConnection, q: NamespaceQuery) -> list[Namespace]:
    conds: list[sa.ColumnElement[bool]] = []
    if not q.is_admin:
        visible = ns_t.c.visibility == "public"
        if q.caller_project:
            visible = sa.or_(visible, ns_t.c.owner == q.caller_project)
        conds.append(visible)
    if q.visibility:
        conds.append(ns_t.c.visibility == q.visibility)
    if q.resource_types:
        conds.append(
            sa.exists(
                sa.select(assoc_t.c.namespace_id)
                .join(rt_t, rt_t.c.id == assoc_t.c.resource_type_id)
                .where(assoc_t.c.namespace_id == ns_t.c.id, rt_t.c.name.in_(q.resource_types))
            )
        )
    keys = [q.sort_key] + [k for k in ("created_at", "id") if k != q.sort_key]
    exprs = [_sort_expr(k) for k in keys]
    if q.marker is not None:
        values = [getattr(q.marker, k) for k in keys]
        values = ["" if v is None and k in _NULLABLE_TEXT else v for k, v in zip(keys, values, strict=True)]
        ors = []
        for i, expr in enumerate(exprs):
            ands = [e == v for e, v in zip(exprs[:i], values[:i], strict=True)]
            ands.append(expr > values[i] if q.sort_dir == "asc" else expr < values[i])
            ors.append(sa.and_(*ands))
        conds.append(sa.or_(*ors))
    order = [e.asc() if q.sort_dir == "asc" else e.desc() for e in exprs]
    rows = await conn.execute(sa.select(ns_t).where(*conds).order_by(*order).limit(q.limit))
    return [_namespace(r) for r in rows]


async def insert_namespace(conn: AsyncConnection, values: dict) -> Namespace:
    now = utcnow()
    values = {**values, "created_at": now, "updated_at": now}
    with duplicate_guard(f"A metadata definition namespace named {values['namespace']} already exists"):
        result = await conn.execute(ns_t.insert().values(**values).returning(ns_t.c.id))
    return Namespace(
        id=result.scalar_one(),
        namespace=values["namespace"],
        display_name=values.get("display_name"),
        description=values.get("description"),
        visibility=values["visibility"],
        protected=values["protected"],
        owner=values.get("owner"),
        created_at=now,
        updated_at=now,
    )


async def update_namespace(conn: AsyncConnection, ns_id: int, values: dict) -> Namespace:
    with duplicate_guard(f"A metadata definition namespace named {values.get('namespace')} already exists"):
        await conn.execute(ns_t.update().where(ns_t.c.id == ns_id).values(**values, updated_at=utcnow()))
    row = (await conn.execute(sa.select(ns_t).where(ns_t.c.id == ns_id))).one()
    return _namespace(row)


async def delete_namespace(conn: AsyncConnection, ns_id: int) -> None:
    for table in (obj_t, prop_t, tag_t, assoc_t):
        await conn.execute(table.delete().where(table.c.namespace_id == ns_id))
    await conn.execute(ns_t.delete().where(ns_t.c.id == ns_id))


async def delete_contents(conn: AsyncConnection, ns_id: int, table: sa.Table) -> None:
    await conn.execute(table.delete().where(table.c.namespace_id == ns_id))


async def touch_namespace(conn: AsyncConnection, ns_id: int) -> None:
    await conn.execute(ns_t.update().where(ns_t.c.id == ns_id).values(updated_at=utcnow()))


# --- objects ------------------------------------------------------------------------------


def _object(row: sa.Row) -> MetaObject:
    m = row._mapping
    return MetaObject(m["id"], m["name"], m["description"], m["required"], dict(m["properties"] or {}),
                      m["created_at"], m["updated_at"])  # fmt: skip


async def list_objects(conn: AsyncConnection, ns_id: int) -> list[MetaObject]:
    rows = await conn.execute(sa.select(obj_t).where(obj_t.c.namespace_id == ns_id).order_by(obj_t.c.id))
    return [_object(r) for r in rows]


async def get_object(conn: AsyncConnection, ns_id: int, name: str) -> MetaObject | None:
    row = (
        await conn.execute(sa.select(obj_t).where(obj_t.c.namespace_id == ns_id, obj_t.c.name == name))
    ).first()
    return _object(row) if row else None


async def insert_object(conn: AsyncConnection, ns_id: int, ns_name: str, values: dict) -> MetaObject:
    if await get_object(conn, ns_id, values["name"]):
        raise Conflict(
            f"A metadata definition object named {values['name']} already exists in namespace {ns_name}"
        )
    now = utcnow()
    row = {"namespace_id": ns_id, "name": values["name"], "description": values.get("description"),
           "required": values.get("required"), "properties": values.get("properties") or {},
           "created_at": now, "updated_at": now}  # fmt: skip
    with duplicate_guard(f"A metadata definition object named {values['name']} already exists"):
        result = await conn.execute(obj_t.insert().values(**row).returning(obj_t.c.id))
    return MetaObject(
        result.scalar_one(), row["name"], row["description"], row["required"], row["properties"], now, now
    )


async def update_object(
    conn: AsyncConnection, ns_id: int, ns_name: str, old: MetaObject, values: dict
) -> MetaObject:
    if values["name"] != old.name and await get_object(conn, ns_id, values["name"]):
        raise Conflict(
            f"A metadata definition object named {values['name']} already exists in namespace {ns_name}"
        )
    now = utcnow()
    row = {"name": values["name"], "description": values.get("description"), "required": values.get("required"),
           "properties": values.get("properties") or {}, "updated_at": now}  # fmt: skip
    with duplicate_guard(f"A metadata definition object named {values['name']} already exists"):
        await conn.execute(obj_t.update().where(obj_t.c.id == old.id).values(**row))
    return MetaObject(
        old.id, row["name"], row["description"], row["required"], row["properties"], old.created_at, now
    )


async def delete_object(conn: AsyncConnection, obj_id: int) -> None:
    await conn.execute(obj_t.delete().where(obj_t.c.id == obj_id))


# --- properties ---------------------------------------------------------------------------


def _property(row: sa.Row) -> Property:
    m = row._mapping
    return Property(m["id"], m["name"], dict(m["schema"] or {}), m["created_at"], m["updated_at"])


async def list_properties(conn: AsyncConnection, ns_id: int) -> list[Property]:
    rows = await conn.execute(sa.select(prop_t).where(prop_t.c.namespace_id == ns_id).order_by(prop_t.c.id))
    return [_property(r) for r in rows]


async def get_property(conn: AsyncConnection, ns_id: int, name: str) -> Property | None:
    row = (
        await conn.execute(sa.select(prop_t).where(prop_t.c.namespace_id == ns_id, prop_t.c.name == name))
    ).first()
    return _property(row) if row else None


async def insert_property(
    conn: AsyncConnection, ns_id: int, ns_name: str, name: str, schema: dict
) -> Property:
    if await get_property(conn, ns_id, name):
        raise Conflict(f"A metadata definition property named {name} already exists in namespace {ns_name}")
    now = utcnow()
    with duplicate_guard(f"A metadata definition property named {name} already exists"):
        result = await conn.execute(
            prop_t.insert()
            .values(namespace_id=ns_id, name=name, schema=schema, created_at=now, updated_at=now)
            .returning(prop_t.c.id)
        )
    return Property(result.scalar_one(), name, schema, now, now)


async def update_property(
    conn: AsyncConnection, ns_id: int, ns_name: str, old: Property, name: str, schema: dict
) -> Property:
    if name != old.name and await get_property(conn, ns_id, name):
        raise Conflict(f"A metadata definition property named {name} already exists in namespace {ns_name}")
    now = utcnow()
    with duplicate_guard(f"A metadata definition property named {name} already exists"):
        await conn.execute(
            prop_t.update().where(prop_t.c.id == old.id).values(name=name, schema=schema, updated_at=now)
        )
    return Property(old.id, name, schema, old.created_at, now)


async def delete_property(conn: AsyncConnection, prop_id: int) -> None:
    await conn.execute(prop_t.delete().where(prop_t.c.id == prop_id))


# --- tags ---------------------------------------------------------------------------------

TAG_SORT_KEYS = ("name", "created_at", "updated_at", "id")


def _tag(row: sa.Row) -> Tag:
    m = row._mapping
    return Tag(m["id"], m["name"], m["created_at"], m["updated_at"])


async def get_tag(conn: AsyncConnection, ns_id: int, name: str) -> Tag | None:
    row = (
        await conn.execute(sa.select(tag_t).where(tag_t.c.namespace_id == ns_id, tag_t.c.name == name))
    ).first()
    return _tag(row) if row else None


async def list_tags(
    conn: AsyncConnection,
    ns_id: int,
    *,
    sort_key: str = "created_at",
    sort_dir: str = "desc",
    limit: int | None = None,
    marker: Tag | None = None,
) -> list[Tag]:
    keys = [sort_key] + [k for k in ("created_at", "id") if k != sort_key]
    exprs = [tag_t.c[k] for k in keys]
    conds: list[sa.ColumnElement[bool]] = [tag_t.c.namespace_id == ns_id]
    if marker is not None:
        values = [getattr(marker, k) for k in keys]
        ors = []
        for i, expr in enumerate(exprs):
            ands = [e == v for e, v in zip(exprs[:i], values[:i], strict=True)]
            ands.append(expr > values[i] if sort_dir == "asc" else expr < values[i])
            ors.append(sa.and_(*ands))
        conds.append(sa.or_(*ors))
    query = (
        sa.select(tag_t).where(*conds).order_by(*(e.asc() if sort_dir == "asc" else e.desc() for e in exprs))
    )
    if limit is not None:
        query = query.limit(limit)
    return [_tag(r) for r in await conn.execute(query)]


async def insert_tags(conn: AsyncConnection, ns_id: int, ns_name: str, names: Sequence[str]) -> list[Tag]:
    """Insert tags; any name already present (or repeated in ``names``) is a Conflict."""
    seen: set[str] = set()
    for name in names:
        if name in seen or await get_tag(conn, ns_id, name):
            raise Conflict(f"A metadata tag named {name} already exists in namespace {ns_name}")
        seen.add(name)
    if not names:
        return []
    now = utcnow()
    with duplicate_guard(f"A metadata tag already exists in namespace {ns_name}"):
        await conn.execute(
            tag_t.insert(),
            [{"namespace_id": ns_id, "name": n, "created_at": now, "updated_at": now} for n in names],
        )
    rows = await conn.execute(
        sa.select(tag_t)
        .where(tag_t.c.namespace_id == ns_id, tag_t.c.name.in_(list(names)))
        .order_by(tag_t.c.id)
    )
    return [_tag(r) for r in rows]


async def rename_tag(conn: AsyncConnection, ns_id: int, ns_name: str, old: Tag, name: str) -> Tag:
    if name != old.name and await get_tag(conn, ns_id, name):
        raise Conflict(f"A metadata tag named {name} already exists in namespace {ns_name}")
    now = utcnow()
    with duplicate_guard(f"A metadata tag named {name} already exists in namespace {ns_name}"):
        await conn.execute(tag_t.update().where(tag_t.c.id == old.id).values(name=name, updated_at=now))
    return Tag(old.id, name, old.created_at, now)


async def delete_tag(conn: AsyncConnection, tag_id: int) -> None:
    await conn.execute(tag_t.delete().where(tag_t.c.id == tag_id))


# --- resource types and associations ------------------------------------------------------


def _resource_type(row: sa.Row) -> ResourceType:
    m = row._mapping
    return ResourceType(m["id"], m["name"], bool(m["protected"]), m["created_at"], m["updated_at"])


async def list_resource_types(conn: AsyncConnection) -> list[ResourceType]:
    return [_resource_type(r) for r in await conn.execute(sa.select(rt_t).order_by(rt_t.c.id))]


async def get_resource_type(conn: AsyncConnection, name: str) -> ResourceType | None:
    row = (await conn.execute(sa.select(rt_t).where(rt_t.c.name == name))).first()
    return _resource_type(row) if row else None


async def ensure_resource_type(conn: AsyncConnection, name: str, *, protected: bool = False) -> ResourceType:
    """The resource type of that name, created when missing (as associating an unknown one does)."""
    found = await get_resource_type(conn, name)
    if found is not None:
        return found
    now = utcnow()
    with duplicate_guard(f"A resource type named {name} already exists"):
        result = await conn.execute(
            rt_t.insert()
            .values(name=name, protected=protected, created_at=now, updated_at=now)
            .returning(rt_t.c.id)
        )
    return ResourceType(result.scalar_one(), name, protected, now, now)


_ASSOC_SELECT = sa.select(
    rt_t.c.name,
    assoc_t.c.prefix,
    assoc_t.c.properties_target,
    assoc_t.c.created_at,
    assoc_t.c.updated_at,
    assoc_t.c.namespace_id,
).join(rt_t, rt_t.c.id == assoc_t.c.resource_type_id)


def _association(row: sa.Row) -> Association:
    m = row._mapping
    return Association(m["name"], m["prefix"], m["properties_target"], m["created_at"], m["updated_at"],
                       m["namespace_id"])  # fmt: skip


async def list_associations(conn: AsyncConnection, ns_ids: Sequence[int]) -> list[Association]:
    if not ns_ids:
        return []
    rows = await conn.execute(
        _ASSOC_SELECT.where(assoc_t.c.namespace_id.in_(list(ns_ids))).order_by(
            assoc_t.c.created_at, rt_t.c.id
        )
    )
    return [_association(r) for r in rows]


async def get_association(conn: AsyncConnection, ns_id: int, rt_name: str) -> Association | None:
    row = (
        await conn.execute(_ASSOC_SELECT.where(assoc_t.c.namespace_id == ns_id, rt_t.c.name == rt_name))
    ).first()
    return _association(row) if row else None


async def insert_association(
    conn: AsyncConnection,
    ns_id: int,
    ns_name: str,
    rt_name: str,
    prefix: str | None,
    properties_target: str | None,
) -> Association:
    resource_type = await ensure_resource_type(conn, rt_name)
    if await get_association(conn, ns_id, rt_name):
        raise Conflict(f"The resource type {rt_name} is already associated with namespace {ns_name}")
    now = utcnow()
    with duplicate_guard(f"The resource type {rt_name} is already associated with namespace {ns_name}"):
        await conn.execute(
            assoc_t.insert().values(
                resource_type_id=resource_type.id, namespace_id=ns_id, prefix=prefix,
                properties_target=properties_target, created_at=now, updated_at=now,
            )
        )  # fmt: skip
    return Association(rt_name, prefix, properties_target, now, now, ns_id)


async def delete_association(conn: AsyncConnection, ns_id: int, rt_name: str) -> bool:
    resource_type = await get_resource_type(conn, rt_name)
    if resource_type is None:
        return False
    result = await conn.execute(
        assoc_t.delete().where(
            assoc_t.c.namespace_id == ns_id, assoc_t.c.resource_type_id == resource_type.id
        )
    )
    return result.rowcount > 0


# --- catalog bookkeeping ------------------------------------------------------------------


async def catalog_loaded(conn: AsyncConnection) -> dict[str, str]:
    rows = await conn.execute(sa.select(metadef_catalog_loads.c.namespace, metadef_catalog_loads.c.digest))
    # Not dict(rows): a CursorResult has keys(), so dict() would read it as a mapping of columns.
    return {name: digest for name, digest in rows}  # noqa: C416


async def record_catalog_load(conn: AsyncConnection, name: str, digest: str) -> None:
    await conn.execute(
        metadef_catalog_loads.insert().values(namespace=name, digest=digest, loaded_at=utcnow())
    )
