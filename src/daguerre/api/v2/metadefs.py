"""/v2/metadefs/*: the metadata definitions catalog, and its schemas at /v2/schemas/metadefs/*.

Bodies follow Glance's: fields that are unset are left out rather than sent as null.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from daguerre.api.requests import absolute_url, context, read_json, reject_body, runtime
from daguerre.api.responses import JSONResponse
from daguerre.db import metadefs as repo
from daguerre.domain import metadef_schemas as schemas
from daguerre.domain.errors import NotFound
from daguerre.services import metadefs as svc
from daguerre.wire.views import isotime

NS_SCHEMA = "/v2/schemas/metadefs/namespace"
OBJ_SCHEMA = "/v2/schemas/metadefs/object"


def _href(*parts: str) -> str:
    return "/v2/metadefs/namespaces/" + "/".join(quote(p, safe=":") for p in parts)


def _dates(doc: dict, created: object, updated: object) -> dict:
    doc["created_at"] = isotime(created)  # type: ignore[arg-type]
    doc["updated_at"] = isotime(updated)  # type: ignore[arg-type]
    return doc


def namespace_view(ns: repo.Namespace) -> dict:
    doc: dict = {"namespace": ns.namespace}
    for key in ("display_name", "description"):
        if getattr(ns, key) is not None:
            doc[key] = getattr(ns, key)
    doc["visibility"] = ns.visibility
    doc["protected"] = ns.protected
    if ns.owner is not None:
        doc["owner"] = ns.owner
    _dates(doc, ns.created_at, ns.updated_at)
    doc["self"] = _href(ns.namespace)
    doc["schema"] = NS_SCHEMA
    return doc


def association_view(a: repo.Association) -> dict:
    doc: dict = {"name": a.name}
    if a.prefix is not None:
        doc["prefix"] = a.prefix
    if a.properties_target is not None:
        doc["properties_target"] = a.properties_target
    return _dates(doc, a.created_at, a.updated_at)


def property_view(p: repo.Property, *, with_name: bool = True) -> dict:
    doc = {"name": p.name} if with_name else {}
    doc.update({k: v for k, v in p.schema.items() if k != "name"})
    return doc


def object_view(ns_name: str, o: repo.MetaObject, prefix: str | None = None) -> dict:
    pre = prefix or ""
    doc: dict = {"name": o.name}
    if o.description is not None:
        doc["description"] = o.description
    if o.required is not None:
        doc["required"] = [pre + r for r in o.required]
    doc["properties"] = {pre + k: v for k, v in (o.properties or {}).items()}
    _dates(doc, o.created_at, o.updated_at)
    doc["self"] = _href(ns_name, "objects", o.name)
    doc["schema"] = OBJ_SCHEMA
    return doc


def tag_view(t: repo.Tag) -> dict:
    return _dates({"name": t.name}, t.created_at, t.updated_at)


def detail_view(d: svc.NamespaceDetail) -> dict:
    doc = namespace_view(d.namespace)
    pre = d.prefix or ""
    if d.associations:
        doc["resource_type_associations"] = [association_view(a) for a in d.associations]
    if d.properties:
        doc["properties"] = {pre + p.name: property_view(p, with_name=False) for p in d.properties}
    if d.objects:
        doc["objects"] = [object_view(d.namespace.namespace, o, d.prefix) for o in d.objects]
    if d.tags:
        doc["tags"] = [{"name": t.name} for t in d.tags]
    return doc


# --- namespaces ---------------------------------------------------------------------------


async def list_namespaces(request: Request) -> Response:
    await reject_body(request)
    params = list(request.query_params.multi_items())
    page = await svc.list_namespaces(runtime(request), context(request), params)
    namespaces = []
    for ns, assocs in page.items:
        doc = namespace_view(ns)
        if assocs:
            doc["resource_type_associations"] = [association_view(a) for a in assocs]
        namespaces.append(doc)
    without_marker = [(k, v) for k, v in params if k != "marker"]
    body: dict = {
        "namespaces": namespaces,
        "first": "/v2/metadefs/namespaces" + (f"?{urlencode(without_marker)}" if without_marker else ""),
        "schema": "/v2/schemas/metadefs/namespaces",
    }
    if page.next_marker is not None:
        body["next"] = "/v2/metadefs/namespaces?" + urlencode([*without_marker, ("marker", page.next_marker)])
    return JSONResponse(body)


async def create_namespace(request: Request) -> Response:
    body = await read_json(request)
    detail = await svc.create_namespace(runtime(request), context(request), body)
    doc = detail_view(detail)
    return JSONResponse(doc, status_code=201, headers={"Location": absolute_url(request, doc["self"])})


async def show_namespace(request: Request) -> Response:
    await reject_body(request)
    resource_type = request.query_params.get("resource_type")
    detail = await svc.show_namespace(
        runtime(request), context(request), request.path_params["namespace"], resource_type
    )
    return JSONResponse(detail_view(detail))


async def update_namespace(request: Request) -> Response:
    body = await read_json(request)
    ns = await svc.update_namespace(
        runtime(request), context(request), request.path_params["namespace"], body
    )
    return JSONResponse(namespace_view(ns))


async def delete_namespace(request: Request) -> Response:
    await reject_body(request)
    await svc.delete_namespace(runtime(request), context(request), request.path_params["namespace"])
    return Response(status_code=204)


def _delete_all(what: str):  # noqa: ANN202
    async def handler(request: Request) -> Response:
        await reject_body(request)
        await svc.delete_namespace_contents(
            runtime(request), context(request), request.path_params["namespace"], what
        )
        return Response(status_code=204)

    handler.__name__ = f"delete_{what}"
    return handler


# --- objects ------------------------------------------------------------------------------


async def list_objects(request: Request) -> Response:
    await reject_body(request)
    svc.check_list_params(list(request.query_params.multi_items()))
    name = request.path_params["namespace"]
    found = await svc.list_objects(runtime(request), context(request), name)
    return JSONResponse(
        {"objects": [object_view(name, o) for o in found], "schema": "/v2/schemas/metadefs/objects"}
    )


async def create_object(request: Request) -> Response:
    body = await read_json(request)
    name = request.path_params["namespace"]
    obj = await svc.create_object(runtime(request), context(request), name, body)
    return JSONResponse(object_view(name, obj), status_code=201)


async def show_object(request: Request) -> Response:
    await reject_body(request)
    p = request.path_params
    obj = await svc.show_object(runtime(request), context(request), p["namespace"], p["object_name"])
    return JSONResponse(object_view(p["namespace"], obj))


async def update_object(request: Request) -> Response:
    body = await read_json(request)
    p = request.path_params
    obj = await svc.update_object(runtime(request), context(request), p["namespace"], p["object_name"], body)
    return JSONResponse(object_view(p["namespace"], obj))


async def delete_object(request: Request) -> Response:
    await reject_body(request)
    p = request.path_params
    await svc.delete_object(runtime(request), context(request), p["namespace"], p["object_name"])
    return Response(status_code=204)


# --- properties ---------------------------------------------------------------------------


async def list_properties(request: Request) -> Response:
    await reject_body(request)
    found = await svc.list_properties(runtime(request), context(request), request.path_params["namespace"])
    return JSONResponse({"properties": {p.name: property_view(p, with_name=False) for p in found}})


async def create_property(request: Request) -> Response:
    body = await read_json(request)
    prop = await svc.create_property(
        runtime(request), context(request), request.path_params["namespace"], body
    )
    return JSONResponse(property_view(prop), status_code=201)


async def show_property(request: Request) -> Response:
    await reject_body(request)
    p = request.path_params
    prop = await svc.show_property(
        runtime(request), context(request), p["namespace"], p["property_name"],
        request.query_params.get("resource_type"),
    )  # fmt: skip
    return JSONResponse(property_view(prop))


async def update_property(request: Request) -> Response:
    body = await read_json(request)
    p = request.path_params
    prop = await svc.update_property(
        runtime(request), context(request), p["namespace"], p["property_name"], body
    )
    return JSONResponse(property_view(prop))


async def delete_property(request: Request) -> Response:
    await reject_body(request)
    p = request.path_params
    await svc.delete_property(runtime(request), context(request), p["namespace"], p["property_name"])
    return Response(status_code=204)


# --- tags ---------------------------------------------------------------------------------


def _truthy(raw: str | None) -> bool:
    return (raw or "").strip().lower() in ("1", "t", "true", "on", "y", "yes")


async def list_tags(request: Request) -> Response:
    await reject_body(request)
    params = list(request.query_params.multi_items())
    found = await svc.list_tags(runtime(request), context(request), request.path_params["namespace"], params)
    return JSONResponse({"tags": [{"name": t.name} for t in found]})


async def create_tags(request: Request) -> Response:
    body = await read_json(request)
    append = _truthy(request.headers.get("x-openstack-append"))
    names = await svc.create_tags(
        runtime(request), context(request), request.path_params["namespace"], body, append=append
    )
    return JSONResponse({"tags": [{"name": n} for n in names]}, status_code=201)


async def create_tag(request: Request) -> Response:
    await reject_body(request)
    p = request.path_params
    tag = await svc.create_tag(runtime(request), context(request), p["namespace"], p["tag_name"])
    return JSONResponse(tag_view(tag), status_code=201)


async def show_tag(request: Request) -> Response:
    await reject_body(request)
    p = request.path_params
    tag = await svc.show_tag(runtime(request), context(request), p["namespace"], p["tag_name"])
    return JSONResponse(tag_view(tag))


async def update_tag(request: Request) -> Response:
    body = await read_json(request)
    p = request.path_params
    tag = await svc.update_tag(runtime(request), context(request), p["namespace"], p["tag_name"], body)
    return JSONResponse(tag_view(tag))


async def delete_tag(request: Request) -> Response:
    await reject_body(request)
    p = request.path_params
    await svc.delete_tag(runtime(request), context(request), p["namespace"], p["tag_name"])
    return Response(status_code=204)


# --- resource types -----------------------------------------------------------------------


async def list_resource_types(request: Request) -> Response:
    await reject_body(request)
    found = await svc.list_resource_types(runtime(request), context(request))
    return JSONResponse(
        {"resource_types": [_dates({"name": r.name}, r.created_at, r.updated_at) for r in found]}
    )


async def list_associations(request: Request) -> Response:
    await reject_body(request)
    found = await svc.list_associations(runtime(request), context(request), request.path_params["namespace"])
    return JSONResponse({"resource_type_associations": [association_view(a) for a in found]})


async def create_association(request: Request) -> Response:
    body = await read_json(request)
    assoc = await svc.create_association(
        runtime(request), context(request), request.path_params["namespace"], body
    )
    return JSONResponse(association_view(assoc), status_code=201)


async def delete_association(request: Request) -> Response:
    await reject_body(request)
    p = request.path_params
    await svc.delete_association(runtime(request), context(request), p["namespace"], p["resource_type"])
    return Response(status_code=204)


# --- schemas ------------------------------------------------------------------------------


async def schema(request: Request) -> Response:
    """GET /v2/schemas/metadefs/{name}: open to any caller, as the other schemas are.

    Also callable from the generic /v2/schemas/{name:path} handler, whose name keeps "metadefs/".
    """
    await reject_body(request)
    name = request.path_params["name"].removeprefix("metadefs/")
    make = schemas.SCHEMAS.get(name)
    if make is None:
        raise NotFound(f"No schema named metadefs/{name}")
    return JSONResponse(make())


NS = "/v2/metadefs/namespaces/{namespace}"

ROUTES = [
    Route("/v2/schemas/metadefs/{name}", schema, methods=["GET"]),
    Route("/v2/metadefs/resource_types", list_resource_types, methods=["GET"]),
    Route("/v2/metadefs/namespaces", list_namespaces, methods=["GET"]),
    Route("/v2/metadefs/namespaces", create_namespace, methods=["POST"]),
    Route(NS, show_namespace, methods=["GET"]),
    Route(NS, update_namespace, methods=["PUT"]),
    Route(NS, delete_namespace, methods=["DELETE"]),
    Route(NS + "/resource_types", list_associations, methods=["GET"]),
    Route(NS + "/resource_types", create_association, methods=["POST"]),
    Route(NS + "/resource_types/{resource_type}", delete_association, methods=["DELETE"]),
    Route(NS + "/objects", list_objects, methods=["GET"]),
    Route(NS + "/objects", create_object, methods=["POST"]),
    Route(NS + "/objects", _delete_all("objects"), methods=["DELETE"]),
    Route(NS + "/objects/{object_name}", show_object, methods=["GET"]),
    Route(NS + "/objects/{object_name}", update_object, methods=["PUT"]),
    Route(NS + "/objects/{object_name}", delete_object, methods=["DELETE"]),
    Route(NS + "/properties", list_properties, methods=["GET"]),
    Route(NS + "/properties", create_property, methods=["POST"]),
    Route(NS + "/properties", _delete_all("properties"), methods=["DELETE"]),
    Route(NS + "/properties/{property_name}", show_property, methods=["GET"]),
    Route(NS + "/properties/{property_name}", update_property, methods=["PUT"]),
    Route(NS + "/properties/{property_name}", delete_property, methods=["DELETE"]),
    Route(NS + "/tags", list_tags, methods=["GET"]),
    Route(NS + "/tags", create_tags, methods=["POST"]),
    Route(NS + "/tags", _delete_all("tags"), methods=["DELETE"]),
    Route(NS + "/tags/{tag_name}", create_tag, methods=["POST"]),
    Route(NS + "/tags/{tag_name}", show_tag, methods=["GET"]),
    Route(NS + "/tags/{tag_name}", update_tag, methods=["PUT"]),
    Route(NS + "/tags/{tag_name}", delete_tag, methods=["DELETE"]),
]
