"""Metadata definitions catalog: namespaces and their properties, objects, tags and resource type
associations. One function per API operation: validate the body → load the namespace as the caller
(404 when missing or not readable) → authorize (403) → change → commit.

Reading follows Glance's metadef rules: admin, a reader of the owner project, or any reader for a
public namespace. Every write is ``metadef_admin`` by default. Anything inside a protected namespace
cannot be deleted (403).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jsonschema
from sqlalchemy.ext.asyncio import AsyncConnection

from daguerre.context import RequestContext
from daguerre.db import metadefs as repo
from daguerre.db.metadef_schema import metadef_objects, metadef_properties, metadef_tags
from daguerre.domain import metadef_schemas as schemas
from daguerre.domain.errors import Conflict, Forbidden, Invalid, NotFound
from daguerre.runtime import Runtime

MAX_NAME = 80
_NS_READ_ONLY = ("self", "schema", "created_at", "updated_at")
_READ_ONLY = ("created_at", "updated_at")

_VALIDATORS = {
    "namespace": jsonschema.Draft4Validator(schemas.namespace_schema()),
    "object": jsonschema.Draft4Validator(schemas.object_schema()),
    "property": jsonschema.Draft4Validator(schemas.property_schema()),
    "property-in-object": jsonschema.Draft4Validator(schemas.property_schema(require_name=False)),
    "tag": jsonschema.Draft4Validator(schemas.tag_schema()),
    "tags": jsonschema.Draft4Validator(schemas.tags_body_schema()),
    "resource_type_association": jsonschema.Draft4Validator(schemas.resource_type_schema()),
}


@dataclass
class NamespaceDetail:
    namespace: repo.Namespace
    associations: list[repo.Association] = field(default_factory=list)
    properties: list[repo.Property] = field(default_factory=list)
    objects: list[repo.MetaObject] = field(default_factory=list)
    tags: list[repo.Tag] = field(default_factory=list)
    prefix: str | None = None  # set when shown for a resource type whose association has a prefix


@dataclass
class NamespacePage:
    items: list[tuple[repo.Namespace, list[repo.Association]]]
    next_marker: str | None


# --- helpers ------------------------------------------------------------------------------


def _object_body(body: object) -> dict:
    if not isinstance(body, dict):
        raise Invalid("Body expected in request: a JSON object.")
    return body


def _read_only(body: dict, keys: tuple[str, ...]) -> None:
    for key in keys:
        if key in body:
            raise Forbidden(f"Attribute '{key}' is read-only.")


def validate(kind: str, doc: object, schema_name: str | None = None) -> None:
    error = jsonschema.exceptions.best_match(_VALIDATORS[kind].iter_errors(doc))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path)
        where = f" (at {where})" if where else ""
        raise Invalid(
            f"Provided object does not match schema '{schema_name or kind}': {error.message}{where}"
        )


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name:
        raise Invalid(f"A {kind} needs a non-empty name.")
    if len(name) > MAX_NAME:
        raise Invalid(f"The {kind} name {name[:40]}... is longer than {MAX_NAME} characters.")
    return name


def _visible(ctx: RequestContext, ns: repo.Namespace) -> bool:
    if ctx.is_admin or ns.owner is None or ns.visibility == "public":
        return True
    return ctx.project_id is not None and ns.owner == ctx.project_id


def _target(ns: repo.Namespace) -> dict:
    return {"project_id": ns.owner, "owner": ns.owner, "visibility": ns.visibility, "namespace": ns.namespace}


def _own_target(ctx: RequestContext) -> dict:
    return {"project_id": ctx.project_id}


def _not_found(name: str) -> NotFound:
    return NotFound(f"Metadata definition namespace={name} was not found.")


async def _load(
    rt: Runtime, conn: AsyncConnection, ctx: RequestContext, name: str
) -> tuple[repo.Namespace, dict]:
    """The namespace and its policy target, or NotFound when missing or not readable by the caller."""
    ns = await repo.get_namespace(conn, name) if len(name) <= MAX_NAME else None
    if ns is None or not _visible(ctx, ns):
        raise _not_found(name)
    tgt = _target(ns)
    if not rt.policy.check(ctx, "get_metadef_namespace", tgt):
        raise _not_found(name)
    return ns, tgt


def _protected(ns: repo.Namespace, what: str) -> None:
    if ns.protected:
        raise Forbidden(
            f"Metadata definition namespace {ns.namespace} is protected: its {what} cannot be deleted."
        )


def _limit(rt: Runtime, raw: str | None, default: int | None) -> int | None:
    d = rt.settings.DEFAULT
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise Invalid("limit param must be an integer") from None
    if limit < 0:
        raise Invalid("limit param must be positive")
    return min(limit, d.api_limit_max)


def _sort_dir(raw: str) -> str:
    if raw not in ("asc", "desc"):
        raise Invalid(f"Invalid sort direction: {raw}")
    return raw


def property_schema(body: dict) -> dict:
    """What we store for a property: its definition without the name (the name is the key)."""
    return {k: v for k, v in body.items() if k != "name"}


def _validate_properties(props: object, where: str) -> None:
    if not isinstance(props, dict):
        return
    for name, definition in props.items():
        _check_name("property", name)
        validate("property-in-object", definition, where)


# --- namespaces ---------------------------------------------------------------------------


async def list_namespaces(rt: Runtime, ctx: RequestContext, params: list[tuple[str, str]]) -> NamespacePage:
    p = dict(params)
    limit = _limit(rt, p.get("limit"), rt.settings.DEFAULT.limit_param_default)
    sort_key = p.get("sort_key", "created_at")
    if sort_key not in repo.NAMESPACE_SORT_KEYS:
        raise Invalid(f"Invalid sort key: {sort_key}. Use one of {', '.join(repo.NAMESPACE_SORT_KEYS)}")
    sort_dir = _sort_dir(p.get("sort_dir", "desc"))
    visibility = p.get("visibility") or None
    if visibility is not None and visibility not in ("public", "private"):
        raise Invalid(f"Invalid visibility value: {visibility}")
    resource_types = [r for r in (p.get("resource_types") or "").split(",") if r]
    rt.policy.authorize(ctx, "get_metadef_namespaces", _own_target(ctx))
    rt.policy.authorize(ctx, "list_metadef_resource_types", _own_target(ctx))
    async with rt.db.read() as conn:
        marker = None
        if p.get("marker"):
            marker, _ = await _load(rt, conn, ctx, p["marker"])
        q = repo.NamespaceQuery(
            caller_project=ctx.project_id, is_admin=ctx.is_admin, visibility=visibility,
            resource_types=resource_types, sort_key=sort_key, sort_dir=sort_dir, limit=limit or 0, marker=marker,
        )  # fmt: skip
        found = await repo.list_namespaces(conn, q) if limit else []
        found = [ns for ns in found if rt.policy.check(ctx, "get_metadef_namespace", _target(ns))]
        assocs = await repo.list_associations(conn, [ns.id for ns in found])
    by_ns: dict[int, list[repo.Association]] = {}
    for a in assocs:
        by_ns.setdefault(a.namespace_id, []).append(a)
    items = [(ns, by_ns.get(ns.id, [])) for ns in found]
    next_marker = found[-1].namespace if found and limit and len(found) == limit else None
    return NamespacePage(items, next_marker)


def nested(body: dict) -> tuple[list[dict], list[dict], dict, list[str]]:
    """Validate what a namespace create carries inside it: associations, objects, properties, tags."""
    assocs = body.get("resource_type_associations") or []
    for a in assocs:
        _check_name("resource type", a.get("name"))
        for key in ("prefix", "properties_target"):
            if a.get(key) is not None and len(a[key]) > MAX_NAME:
                raise Invalid(f"The resource type association {key} is longer than {MAX_NAME} characters.")
    objects = body.get("objects") or []
    for o in objects:
        _check_name("metadata object", o.get("name"))
    props = body.get("properties") or {}
    for name in props:
        _check_name("property", name)
    tags = [_check_name("tag", t.get("name")) for t in body.get("tags") or []]
    return assocs, objects, props, tags


async def create_namespace(rt: Runtime, ctx: RequestContext, body: object) -> NamespaceDetail:
    body = _object_body(body)
    _read_only(body, _NS_READ_ONLY)
    validate("namespace", body)
    assocs, objects, props, tags = nested(body)
    rt.policy.authorize(ctx, "add_metadef_namespace", _own_target(ctx))
    for needed, rule in ((assocs, "add_metadef_resource_type_association"), (objects, "add_metadef_object"),
                         (props, "add_metadef_property"), (tags, "add_metadef_tag")):  # fmt: skip
        if needed:
            rt.policy.authorize(ctx, rule, _own_target(ctx))
    name = body["namespace"]
    async with rt.db.write() as conn:
        if await repo.get_namespace(conn, name):
            raise Conflict(f"A metadata definition namespace named {name} already exists")
        ns = await repo.insert_namespace(
            conn,
            {
                "namespace": name,
                "display_name": body.get("display_name"),
                "description": body.get("description"),
                "visibility": body.get("visibility") or "private",
                "protected": bool(body.get("protected", False)),
                "owner": body.get("owner", ctx.project_id),
            },
        )
        await fill(conn, ns, assocs, objects, props, tags)
        return await _detail(conn, ns)


async def fill(
    conn: AsyncConnection,
    ns: repo.Namespace,
    assocs: list[dict],
    objects: list[dict],
    props: dict,
    tags: list[str],
) -> None:
    for a in assocs:
        await repo.insert_association(
            conn, ns.id, ns.namespace, a["name"], a.get("prefix"), a.get("properties_target")
        )
    for o in objects:
        await repo.insert_object(conn, ns.id, ns.namespace, o)
    for prop_name, definition in props.items():
        await repo.insert_property(conn, ns.id, ns.namespace, prop_name, property_schema(definition))
    await repo.insert_tags(conn, ns.id, ns.namespace, tags)


async def _detail(conn: AsyncConnection, ns: repo.Namespace) -> NamespaceDetail:
    return NamespaceDetail(
        namespace=ns,
        associations=await repo.list_associations(conn, [ns.id]),
        properties=await repo.list_properties(conn, ns.id),
        objects=await repo.list_objects(conn, ns.id),
        tags=await repo.list_tags(conn, ns.id, sort_key="created_at", sort_dir="asc"),
    )


async def show_namespace(
    rt: Runtime, ctx: RequestContext, name: str, resource_type: str | None = None
) -> NamespaceDetail:
    async with rt.db.read() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        for rule in ("list_metadef_resource_types", "get_metadef_objects", "get_metadef_properties",
                     "get_metadef_tags"):  # fmt: skip
            rt.policy.authorize(ctx, rule, tgt)
        detail = await _detail(conn, ns)
    if resource_type:
        for a in detail.associations:
            if a.name == resource_type:
                detail.prefix = a.prefix or None
                break
    return detail


async def update_namespace(rt: Runtime, ctx: RequestContext, name: str, body: object) -> repo.Namespace:
    body = _object_body(body)
    _read_only(body, _NS_READ_ONLY)
    validate("namespace", body)
    async with rt.db.write() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        rt.policy.authorize(ctx, "modify_metadef_namespace", tgt)
        new_name = body["namespace"]
        if new_name != ns.namespace and await repo.get_namespace(conn, new_name):
            raise Conflict(f"Invalid update: a metadata definition namespace named {new_name} already exists")
        return await repo.update_namespace(
            conn,
            ns.id,
            {
                "namespace": new_name,
                "display_name": body.get("display_name"),
                "description": body.get("description"),
                "visibility": body.get("visibility") or "private",
                "protected": bool(body.get("protected") or False),
                "owner": body.get("owner") or ctx.project_id,
            },
        )


async def delete_namespace(rt: Runtime, ctx: RequestContext, name: str) -> None:
    async with rt.db.write() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        rt.policy.authorize(ctx, "delete_metadef_namespace", tgt)
        if ns.protected:
            raise Forbidden(f"Metadata definition namespace {name} is protected and cannot be deleted.")
        await repo.delete_namespace(conn, ns.id)


async def delete_namespace_contents(rt: Runtime, ctx: RequestContext, name: str, what: str) -> None:
    """DELETE .../objects, .../properties or .../tags: everything of that kind at once."""
    table = {"objects": metadef_objects, "properties": metadef_properties, "tags": metadef_tags}[what]
    async with rt.db.write() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        rt.policy.authorize(ctx, "delete_metadef_namespace", tgt)
        if what == "tags":
            rt.policy.authorize(ctx, "delete_metadef_tags", tgt)
        _protected(ns, what)
        await repo.delete_contents(conn, ns.id, table)


# --- objects ------------------------------------------------------------------------------


def _object_values(body: object) -> dict:
    body = _object_body(body)
    _read_only(body, _NS_READ_ONLY)
    validate("object", body)
    _validate_properties(body.get("properties"), "property")
    _check_name("metadata object", body["name"])
    return body


def check_list_params(params: list[tuple[str, str]]) -> None:
    """Objects lists accept Glance's paging parameters; they are checked but every object is returned."""
    p = dict(params)
    _sort_dir(p.get("sort_dir", "desc"))
    if "limit" in p:
        try:
            if int(p["limit"]) <= 0:
                raise Invalid("limit param must be positive")
        except ValueError:
            raise Invalid("limit param must be an integer") from None
    if p.get("visibility") and p["visibility"] not in ("public", "private", "shared"):
        raise Invalid(f"Invalid visibility value: {p['visibility']}")


async def list_objects(rt: Runtime, ctx: RequestContext, name: str) -> list[repo.MetaObject]:
    async with rt.db.read() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        rt.policy.authorize(ctx, "get_metadef_objects", tgt)
        return await repo.list_objects(conn, ns.id)


async def create_object(rt: Runtime, ctx: RequestContext, name: str, body: object) -> repo.MetaObject:
    values = _object_values(body)
    async with rt.db.write() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        rt.policy.authorize(ctx, "add_metadef_object", tgt)
        return await repo.insert_object(conn, ns.id, ns.namespace, values)


async def _get_object(conn: AsyncConnection, ns: repo.Namespace, object_name: str) -> repo.MetaObject:
    found = await repo.get_object(conn, ns.id, object_name)
    if found is None:
        raise NotFound(f"Metadata definition object={object_name} was not found in namespace={ns.namespace}.")
    return found


async def show_object(rt: Runtime, ctx: RequestContext, name: str, object_name: str) -> repo.MetaObject:
    async with rt.db.read() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        rt.policy.authorize(ctx, "get_metadef_object", tgt)
        return await _get_object(conn, ns, object_name)


async def update_object(
    rt: Runtime, ctx: RequestContext, name: str, object_name: str, body: object
) -> repo.MetaObject:
    values = _object_values(body)
    async with rt.db.write() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        rt.policy.authorize(ctx, "modify_metadef_object", tgt)
        old = await _get_object(conn, ns, object_name)
        return await repo.update_object(conn, ns.id, ns.namespace, old, values)


async def delete_object(rt: Runtime, ctx: RequestContext, name: str, object_name: str) -> None:
    async with rt.db.write() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        rt.policy.authorize(ctx, "delete_metadef_object", tgt)
        obj = await _get_object(conn, ns, object_name)
        _protected(ns, "objects")
        await repo.delete_object(conn, obj.id)


# --- properties ---------------------------------------------------------------------------


def _property_body(body: object) -> dict:
    body = _object_body(body)
    _read_only(body, _READ_ONLY)
    validate("property", body)
    _check_name("property", body["name"])
    return body


async def list_properties(rt: Runtime, ctx: RequestContext, name: str) -> list[repo.Property]:
    async with rt.db.read() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        rt.policy.authorize(ctx, "get_metadef_properties", tgt)
        return await repo.list_properties(conn, ns.id)


async def _get_property(conn: AsyncConnection, ns: repo.Namespace, prop_name: str) -> repo.Property:
    found = await repo.get_property(conn, ns.id, prop_name)
    if found is None:
        raise NotFound(f"Metadata definition property={prop_name} was not found in namespace={ns.namespace}.")
    return found


async def show_property(
    rt: Runtime, ctx: RequestContext, name: str, prop_name: str, resource_type: str | None = None
) -> repo.Property:
    """With ``resource_type``, ``prop_name`` carries that association's prefix, which is removed."""
    async with rt.db.read() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        rt.policy.authorize(ctx, "get_metadef_property", tgt)
        if resource_type:
            rt.policy.authorize(ctx, "get_metadef_resource_type", tgt)
            assoc = await repo.get_association(conn, ns.id, resource_type)
            if assoc is None:
                raise NotFound(f"Resource type {resource_type} is not associated with namespace={name}.")
            if not assoc.prefix or not prop_name.startswith(assoc.prefix):
                raise NotFound(
                    f"Property {prop_name} does not start with the expected resource type association "
                    f"prefix of '{assoc.prefix}'."
                )
            prop_name = prop_name[len(assoc.prefix) :]
        return await _get_property(conn, ns, prop_name)


async def create_property(rt: Runtime, ctx: RequestContext, name: str, body: object) -> repo.Property:
    body = _property_body(body)
    async with rt.db.write() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        rt.policy.authorize(ctx, "add_metadef_property", tgt)
        return await repo.insert_property(conn, ns.id, ns.namespace, body["name"], property_schema(body))


async def update_property(
    rt: Runtime, ctx: RequestContext, name: str, prop_name: str, body: object
) -> repo.Property:
    body = _property_body(body)
    async with rt.db.write() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        rt.policy.authorize(ctx, "modify_metadef_property", tgt)
        old = await _get_property(conn, ns, prop_name)
        return await repo.update_property(conn, ns.id, ns.namespace, old, body["name"], property_schema(body))


async def delete_property(rt: Runtime, ctx: RequestContext, name: str, prop_name: str) -> None:
    async with rt.db.write() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        rt.policy.authorize(ctx, "remove_metadef_property", tgt)
        prop = await _get_property(conn, ns, prop_name)
        _protected(ns, "properties")
        await repo.delete_property(conn, prop.id)


# --- tags ---------------------------------------------------------------------------------


async def list_tags(
    rt: Runtime, ctx: RequestContext, name: str, params: list[tuple[str, str]]
) -> list[repo.Tag]:
    p = dict(params)
    sort_dir = _sort_dir(p.get("sort_dir", "desc"))
    sort_key = p.get("sort_key", "created_at")
    if sort_key not in repo.TAG_SORT_KEYS:
        raise Invalid(f"Invalid sort key: {sort_key}. Use one of {', '.join(repo.TAG_SORT_KEYS)}")
    limit = _limit(rt, p.get("limit") or None, None)
    async with rt.db.read() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        rt.policy.authorize(ctx, "get_metadef_tags", tgt)
        marker = None
        if p.get("marker"):
            marker = await _get_tag(conn, ns, p["marker"])
        return await repo.list_tags(
            conn, ns.id, sort_key=sort_key, sort_dir=sort_dir, limit=limit, marker=marker
        )


async def _get_tag(conn: AsyncConnection, ns: repo.Namespace, tag_name: str) -> repo.Tag:
    found = await repo.get_tag(conn, ns.id, tag_name)
    if found is None:
        raise NotFound(f"Metadata tag {tag_name} was not found in namespace={ns.namespace}.")
    return found


async def create_tags(
    rt: Runtime, ctx: RequestContext, name: str, body: object, *, append: bool
) -> list[str]:
    """Bulk create: replaces every tag of the namespace, or adds to them with ``append``."""
    body = _object_body(body)
    _read_only(body, _READ_ONLY)
    validate("tags", body)
    names = [_check_name("tag", t["name"]) for t in body.get("tags") or []]
    async with rt.db.write() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        rt.policy.authorize(ctx, "add_metadef_tags", tgt)
        if names:
            if not append:
                await repo.delete_contents(conn, ns.id, metadef_tags)
            await repo.insert_tags(conn, ns.id, ns.namespace, names)
    return names


async def create_tag(rt: Runtime, ctx: RequestContext, name: str, tag_name: str) -> repo.Tag:
    validate("tag", {"name": tag_name})
    async with rt.db.write() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        rt.policy.authorize(ctx, "add_metadef_tag", tgt)
        (tag,) = await repo.insert_tags(conn, ns.id, ns.namespace, [tag_name])
        return tag


async def show_tag(rt: Runtime, ctx: RequestContext, name: str, tag_name: str) -> repo.Tag:
    async with rt.db.read() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        rt.policy.authorize(ctx, "get_metadef_tag", tgt)
        return await _get_tag(conn, ns, tag_name)


async def update_tag(rt: Runtime, ctx: RequestContext, name: str, tag_name: str, body: object) -> repo.Tag:
    body = _object_body(body)
    _read_only(body, _READ_ONLY)
    validate("tag", body)
    _check_name("tag", body["name"])
    async with rt.db.write() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        rt.policy.authorize(ctx, "modify_metadef_tag", tgt)
        old = await _get_tag(conn, ns, tag_name)
        return await repo.rename_tag(conn, ns.id, ns.namespace, old, body["name"])


async def delete_tag(rt: Runtime, ctx: RequestContext, name: str, tag_name: str) -> None:
    async with rt.db.write() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        rt.policy.authorize(ctx, "delete_metadef_tag", tgt)
        tag = await _get_tag(conn, ns, tag_name)
        _protected(ns, "tags")
        await repo.delete_tag(conn, tag.id)


# --- resource types -----------------------------------------------------------------------


async def list_resource_types(rt: Runtime, ctx: RequestContext) -> list[repo.ResourceType]:
    rt.policy.authorize(ctx, "list_metadef_resource_types", _own_target(ctx))
    async with rt.db.read() as conn:
        return await repo.list_resource_types(conn)


async def list_associations(rt: Runtime, ctx: RequestContext, name: str) -> list[repo.Association]:
    async with rt.db.read() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        rt.policy.authorize(ctx, "list_metadef_resource_types", tgt)
        found = await repo.list_associations(conn, [ns.id])
    return [a for a in found if rt.policy.check(ctx, "get_metadef_resource_type", tgt)]


async def create_association(rt: Runtime, ctx: RequestContext, name: str, body: object) -> repo.Association:
    body = _object_body(body)
    _read_only(body, _READ_ONLY)
    validate("resource_type_association", body)
    _check_name("resource type", body["name"])
    async with rt.db.write() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        rt.policy.authorize(ctx, "add_metadef_resource_type_association", tgt)
        return await repo.insert_association(
            conn, ns.id, ns.namespace, body["name"], body.get("prefix"), body.get("properties_target")
        )


async def delete_association(rt: Runtime, ctx: RequestContext, name: str, rt_name: str) -> None:
    async with rt.db.write() as conn:
        ns, tgt = await _load(rt, conn, ctx, name)
        rt.policy.authorize(ctx, "remove_metadef_resource_type_association", tgt)
        if await repo.get_association(conn, ns.id, rt_name) is None:
            raise NotFound(f"Failed to find resource type {rt_name} to delete")
        _protected(ns, "resource type associations")
        await repo.delete_association(conn, ns.id, rt_name)
