"""Metadef schemas, the flows Tempest runs, and python-glanceclient's metadefs API."""

from __future__ import annotations

import httpx
import jsonschema
import pytest
from glanceclient import Client
from md_helpers import MD, NS, Namespaces, unique
from starlette.applications import Starlette
from starlette.routing import Route

from actors import Actor
from daguerre.api import routes
from daguerre.api.v2 import metadefs as api
from daguerre.domain import metadef_schemas as schemas

# Tempest's expectations: path -> the schema's "name".
SCHEMA_NAMES = {
    "namespace": "namespace", "namespaces": "namespaces", "resource_type": "resource_type_association",
    "resource_types": "resource_type_associations", "object": "object", "objects": "objects",
    "property": "property", "properties": "properties", "tag": "tag", "tags": "tags",
}  # fmt: skip


def _schema_routes_first() -> bool:
    """Whether /v2/schemas/metadefs/{name} is matched before the generic /v2/schemas/{name:path}."""
    paths = [getattr(r, "path", "") for r in routes.ROUTES]
    return "/v2/schemas/metadefs/{name}" in paths and paths.index(
        "/v2/schemas/metadefs/{name}"
    ) < paths.index("/v2/schemas/{name:path}")


needs_schema_routes = pytest.mark.skipif(
    not _schema_routes_first(),
    reason="api/routes.py still matches /v2/schemas/{name:path} before the metadef schemas",
)


async def test_schema_documents() -> None:
    transport = httpx.ASGITransport(app=Starlette(routes=api.ROUTES))
    async with httpx.AsyncClient(transport=transport, base_url="http://md") as client:
        await _check_schema_documents(client)
    # The handler also serves a generic /v2/schemas/{name:path} route (name "metadefs/...").
    generic = Starlette(routes=[Route("/v2/schemas/{name:path}", api.schema, methods=["GET"])])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=generic), base_url="http://md") as client:
        assert (await client.get("/v2/schemas/metadefs/tag")).json()["name"] == "tag"


async def _check_schema_documents(client: httpx.AsyncClient) -> None:
    for path, name in SCHEMA_NAMES.items():
        r = await client.get(f"/v2/schemas/metadefs/{path}")
        assert r.status_code == 200, path
        doc = r.json()
        assert doc["name"] == name
        jsonschema.Draft4Validator.check_schema(doc)
    ns = (await client.get("/v2/schemas/metadefs/namespace")).json()
    assert ns["additionalProperties"] is False and ns["required"] == ["namespace"]
    assert ns["properties"]["namespace"]["maxLength"] == 80 and "property" in ns["definitions"]
    prop = (await client.get("/v2/schemas/metadefs/property")).json()
    assert set(prop["required"]) == {"name", "title", "type"}
    props = (await client.get("/v2/schemas/metadefs/properties")).json()
    assert props["properties"]["properties"]["type"] == "object"
    assert "name" not in props["properties"]["properties"]["additionalProperties"]["required"]
    coll = (await client.get("/v2/schemas/metadefs/namespaces")).json()
    assert coll["properties"]["namespaces"]["type"] == "array" and "definitions" in coll
    assert [link["rel"] for link in coll["links"]] == ["first", "next", "describedby"]


def test_our_responses_match_our_schemas(admin: Actor, namespaces: Namespaces) -> None:
    """What we send validates against what we publish (glanceclient checks this with warlock)."""
    name = namespaces.create(
        display_name="d", description="x",
        properties={"p": {"title": "P", "type": "string", "enum": ["a"]}},
        objects=[{"name": "o", "required": ["p"], "properties": {"p": {"title": "P", "type": "string"}}}],
        tags=[{"name": "t"}], resource_type_associations=[{"name": "OS::Glance::Image", "prefix": "x_"}],
    )["namespace"]  # fmt: skip
    check = {k: jsonschema.Draft4Validator(make()) for k, make in schemas.SCHEMAS.items()}
    shown = admin.get(f"{NS}/{name}").json()
    check["namespace"].validate(shown)
    check["namespaces"].validate(admin.get(NS).json())
    check["object"].validate(admin.get(f"{NS}/{name}/objects/o").json())
    check["objects"].validate(admin.get(f"{NS}/{name}/objects").json())
    check["property"].validate(admin.get(f"{NS}/{name}/properties/p").json())
    check["properties"].validate(admin.get(f"{NS}/{name}/properties").json())
    check["tag"].validate(admin.get(f"{NS}/{name}/tags/t").json())
    check["tags"].validate(admin.get(f"{NS}/{name}/tags").json())
    check["resource_types"].validate(admin.get(f"{NS}/{name}/resource_types").json())


@needs_schema_routes
def test_schemas_on_the_live_server(reader: Actor) -> None:
    for path, name in SCHEMA_NAMES.items():
        r = reader.get(f"/v2/schemas/metadefs/{path}")
        assert r.status_code == 200, path
        assert r.json()["name"] == name
    assert reader.get("/v2/schemas/metadefs/nothing").status_code == 404
    assert reader.get("/v2/schemas/image").status_code == 200  # the generic route still answers the rest


# --- what Tempest's image admin metadefs tests do, step by step ---------------------------


def test_tempest_namespaces_flow(catalog, admin: Actor) -> None:
    resource_name = admin.get(f"{MD}/resource_types").json()["resource_types"][0]["name"]
    name = unique("tempest")
    r = admin.post(NS, json={"namespace": name, "visibility": "public", "description": "Tempest",
                             "display_name": name, "resource_type_associations": [{"name": resource_name}],
                             "protected": True})  # fmt: skip
    assert r.status_code == 201, r.text
    assert name in [n["namespace"] for n in admin.get(NS).json()["namespaces"]]
    body = admin.get(f"{NS}/{name}").json()
    assert body["namespace"] == name and body["visibility"] == "public"
    assert admin.delete(f"{NS}/{name}").status_code == 403
    r = admin.put(f"{NS}/{name}", json={"namespace": name, "description": "Tempest", "visibility": "private",
                                        "display_name": name, "protected": False})  # fmt: skip
    assert r.status_code == 200 and r.json()["visibility"] == "private" and r.json()["protected"] is False
    assert admin.delete(f"{NS}/{name}").status_code == 204
    assert admin.get(f"{NS}/{name}").status_code == 404


def test_tempest_property_and_association_flow(catalog, admin: Actor, namespaces: Namespaces) -> None:
    resource_name = admin.get(f"{MD}/resource_types").json()["resource_types"][0]["name"]
    ns = namespaces.create(visibility="public", description="Tempest", protected=False)["namespace"]
    assert admin.post(f"{NS}/{ns}/resource_types", json={"name": resource_name}).status_code == 201
    enum = ["xen", "qemu", "kvm", "lxc", "uml", "vmware", "hyperv"]
    r = admin.post(f"{NS}/{ns}/properties", json={"title": "prop", "name": resource_name, "type": "string",
                                                  "enum": enum})  # fmt: skip
    assert r.status_code == 201 and r.json()["title"] == "prop"
    assert admin.get(f"{NS}/{ns}/properties/{resource_name}").json()["name"] == resource_name
    r = admin.put(f"{NS}/{ns}/properties/{resource_name}", json={"title": "upd", "type": "string", "enum": enum,
                                                                 "name": resource_name})  # fmt: skip
    assert r.status_code == 200 and r.json()["title"] == "upd"
    assert admin.delete(f"{NS}/{ns}/properties/{resource_name}").status_code == 204
    assert admin.get(f"{NS}/{ns}/properties").json()["properties"] == {}
    listed = admin.get(f"{NS}/{ns}/resource_types").json()["resource_type_associations"]
    assert resource_name in [a["name"] for a in listed]
    assert admin.delete(f"{NS}/{ns}/resource_types/{resource_name}").status_code == 204
    assert admin.get(f"{NS}/{ns}/resource_types").json()["resource_type_associations"] == []


def test_tempest_objects_and_tags_flow(admin: Actor, namespaces: Namespaces) -> None:
    ns = namespaces.create()["namespace"]
    assert admin.post(f"{NS}/{ns}/objects", json={"name": "obj"}).status_code == 201
    r = admin.put(f"{NS}/{ns}/objects/obj", json={"name": "upd-obj"})
    assert r.status_code == 200 and r.json()["name"] == "upd-obj"
    assert admin.delete(f"{NS}/{ns}/objects/upd-obj").status_code == 204
    assert "upd-obj" not in [o["name"] for o in admin.get(f"{NS}/{ns}/objects").json()["objects"]]
    tags = [{"name": "sample-tag1"}, {"name": "sample-tag2"}, {"name": "sample-tag3"}]
    assert admin.post(f"{NS}/{ns}/tags", json={"tags": tags}).status_code == 201
    assert len(admin.get(f"{NS}/{ns}/tags").json()["tags"]) == 3
    assert admin.post(f"{NS}/{ns}/tags/tag_name").status_code == 201  # Tempest posts with no body
    assert admin.put(f"{NS}/{ns}/tags/tag_name", json={"name": "update-tag"}).json()["name"] == "update-tag"
    assert admin.delete(f"{NS}/{ns}/tags/update-tag").status_code == 204
    assert admin.delete(f"{NS}/{ns}/tags").status_code == 204
    assert admin.get(f"{NS}/{ns}/tags").json()["tags"] == []


# --- python-glanceclient ------------------------------------------------------------------


@needs_schema_routes
def test_glanceclient_metadefs(noauth_server) -> None:
    glance = Client(endpoint=f"{noauth_server.url}/v2", token="unused-in-noauth")
    name = unique("gc")
    ns = glance.metadefs_namespace.create(namespace=name, display_name="GC", visibility="public",
                                          resource_type_associations=[{"name": "OS::Glance::Image",
                                                                       "prefix": "gc_"}])  # fmt: skip
    assert ns.namespace == name
    try:
        glance.metadefs_property.create(name, name="speed", title="Speed", type="integer")
        glance.metadefs_object.create(name, name="Thing", properties={"p": {"title": "P", "type": "string"}})
        assert [t.name for t in glance.metadefs_tag.create_multiple(name, tags=["a", "b"])] == ["a", "b"]
        glance.metadefs_tag.create(
            name, "c"
        )  # (glanceclient cannot send append=True: it puts a bool in a header)
        assert sorted(t.name for t in glance.metadefs_tag.list(name)) == ["a", "b", "c"]
        shown = glance.metadefs_namespace.get(name, resource_type="OS::Glance::Image")
        assert "gc_speed" in shown.properties
        assert name in [n.namespace for n in glance.metadefs_namespace.list()]
        updated = glance.metadefs_namespace.update(name, display_name="Renamed")
        assert updated.display_name == "Renamed"
        assert glance.metadefs_property.get(name, "speed").title == "Speed"
        assert [o.name for o in glance.metadefs_object.list(name)] == ["Thing"]
        assert "OS::Glance::Image" in [r.name for r in glance.metadefs_resource_type.list()]
        assert [a.name for a in glance.metadefs_resource_type.get(name)] == ["OS::Glance::Image"]
    finally:
        glance.metadefs_namespace.delete(name)
