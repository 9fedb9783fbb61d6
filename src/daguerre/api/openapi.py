"""An OpenAPI 3.1 description of the HTTP surface, built from the route table and our JSON schemas.

Not served (Glance has no such document, and a path under /v2 would be ours, not Glance's): it is
printed by ``daguerre openapi`` and is what the API fuzz test (tests/fuzz/) generates requests
from. Every operation in ``routes.ROUTES`` appears, with the request bodies, query parameters and
headers its handler reads. Bodies use the same schemas the handlers validate with, plus the bounds
the service enforces beyond them (min_ram and min_disk are 32-bit, as in Glance).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from daguerre.api.routes import ROUTES
from daguerre.domain import metadef_schemas as md_schemas
from daguerre.domain import schemas
from daguerre.domain.image import MAX_MIN_REQUIREMENT
from daguerre.domain.member import MEMBER_STATUSES
from daguerre.settings import Settings

JSON = "application/json"
PATCH_V21 = "application/openstack-images-v2.1-json-patch"
OCTETS = "application/octet-stream"
BIGINT = 2**63 - 1

# Keys of our served schemas that are not JSON Schema keywords (glanceclient reads them).
_NOT_KEYWORDS = ("name", "links", "is_base")

IMPORT_METHODS = ["glance-direct", "web-download", "copy-image", "glance-download"]


def _clean(schema: Any, definitions: dict | None = None) -> Any:
    """A served schema as plain JSON Schema: local $refs inlined, non-keywords dropped."""
    if isinstance(schema, list):
        return [_clean(s, definitions) for s in schema]
    if not isinstance(schema, dict):
        return schema
    definitions = schema.get("definitions", definitions)
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/") and definitions:
        return _clean(definitions[ref.removeprefix("#/definitions/")], definitions)
    out = {}
    for key, value in schema.items():
        if key in ("definitions", "links") or key in _NOT_KEYWORDS and not isinstance(value, dict):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {k: _clean(v, definitions) for k, v in value.items()}
        else:
            out[key] = _clean(value, definitions)
    return out


def _writable(schema: dict) -> dict:
    """The request-body form of a served schema: readOnly properties left out."""
    doc = copy.deepcopy(schema)
    doc["properties"] = {k: v for k, v in doc.get("properties", {}).items() if not v.get("readOnly")}
    doc["type"] = "object"
    return doc


def image_create_schema(settings: Settings) -> dict:
    fmt = settings.image_format
    doc = _writable(_clean(schemas.image_schema(fmt.disk_formats, fmt.container_formats)))
    for name in ("min_ram", "min_disk"):
        doc["properties"][name].update({"minimum": 0, "maximum": MAX_MIN_REQUIREMENT})
    doc["properties"].pop("locations", None)  # reserved on create (403)
    return doc


def image_patch_schema(settings: Settings) -> dict:
    """A JSON patch (media type v2.1): one operation shape per writable attribute, plus custom ones."""
    props = image_create_schema(settings)["properties"]
    variants: list[dict] = [
        {"type": "object", "required": ["op", "path", "value"], "properties": {
            "op": {"enum": ["add", "replace"]}, "path": {"const": f"/{name}"}, "value": schema}}
        for name, schema in props.items()
    ]  # fmt: skip
    variants.append({"type": "object", "required": ["op", "path"], "properties": {
        "op": {"enum": ["add", "replace", "remove"]}, "path": {"type": "string", "pattern": "^/[a-z_]{1,20}$"},
        "value": {"type": "string", "maxLength": 255}}})  # fmt: skip
    return {"type": "array", "items": {"anyOf": variants}, "maxItems": 8}


IMPORT_BODY = {
    "type": "object",
    "required": ["method"],
    "properties": {
        "method": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"enum": IMPORT_METHODS},
                "uri": {"type": "string"},
                "glance_image_id": {"type": "string"},
                "glance_region": {"type": "string"},
                "glance_service_interface": {"type": "string"},
            },
        },
        "stores": {"type": "array", "items": {"type": "string"}},
        "all_stores": {"type": "boolean"},
        "all_stores_must_succeed": {"type": "boolean"},
    },
}

TASK_BODY = {
    "type": "object",
    "required": ["type", "input"],
    "properties": {
        "type": {"enum": ["import"]},
        "input": {
            "type": "object",
            "properties": {
                "import_from": {"type": "string"},
                "import_from_format": {"type": "string"},
                "image_properties": {"type": "object"},
            },
        },
    },
}

MEMBER_CREATE = {"type": "object", "required": ["member"],
                 "properties": {"member": {"type": "string", "maxLength": 255}}}  # fmt: skip
MEMBER_UPDATE = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"enum": list(MEMBER_STATUSES)}},
}
LOCATION_BODY = {"type": "object", "required": ["url"],
                 "properties": {"url": {"type": "string"}, "validation_data": {"type": "object"}}}  # fmt: skip

_STR = {"type": "string"}
_INT = {"type": "integer"}
_SORT_DIR = {"enum": ["asc", "desc"]}


def _query(**params: dict) -> list[dict]:
    return [
        {"name": name, "in": "query", "required": False, "schema": schema} for name, schema in params.items()
    ]


def _header(name: str, schema: dict) -> dict:
    return {"name": name, "in": "header", "required": False, "schema": schema}


def _image_list_query() -> list[dict]:
    ints = {f"{c}{suffix}": {"type": "integer", "minimum": -BIGINT - 1, "maximum": BIGINT}
            for c in ("size", "virtual_size") for suffix in ("", "_min", "_max")}  # fmt: skip
    ints.update({f"{c}{suffix}": {"type": "integer", "minimum": -MAX_MIN_REQUIREMENT - 1,
                                  "maximum": MAX_MIN_REQUIREMENT}
                 for c in ("min_ram", "min_disk") for suffix in ("", "_min", "_max")})  # fmt: skip
    return _query(
        limit={"type": "integer", "minimum": 0}, marker=_STR, sort_key=_STR, sort_dir=_SORT_DIR, sort=_STR,
        name=_STR, id=_STR, owner=_STR, status=_STR, disk_format=_STR, container_format=_STR, checksum=_STR,
        os_hash_value=_STR, visibility={"enum": ["public", "private", "shared", "community", "all"]},
        member_status={"enum": ["pending", "accepted", "rejected", "all"]}, tag=_STR,
        os_hidden={"type": "boolean"}, protected={"type": "boolean"}, created_at=_STR, updated_at=_STR,
        **ints,
    )  # fmt: skip


def _operations(settings: Settings) -> dict[tuple[str, str], dict]:
    """What each (path, method) takes beyond its path parameters: body, query and headers."""
    img = "/v2/images/{image_id}"
    ns = "/v2/metadefs/namespaces/{namespace}"
    md = {k: _clean(make()) for k, make in md_schemas.SCHEMAS.items()}
    limit_marker = _query(
        limit={"type": "integer", "minimum": 0}, marker=_STR, sort_key=_STR, sort_dir=_SORT_DIR
    )
    return {
        ("/v2/images", "get"): {"query": _image_list_query()},
        ("/v2/images", "post"): {"body": (JSON, image_create_schema(settings))},
        (img, "patch"): {"body": (PATCH_V21, image_patch_schema(settings))},
        (img + "/file", "put"): {"body": (OCTETS, {"type": "string", "format": "binary"}),
                                 "headers": [_header("x-openstack-image-size", {"type": "integer", "minimum": 0})]},
        (img + "/file", "get"): {"headers": [_header("Range", _STR), _header("Content-Range", _STR)]},
        (img + "/stage", "put"): {"body": (OCTETS, {"type": "string", "format": "binary"}),
                                  "headers": [_header("x-openstack-image-size", {"type": "integer", "minimum": 0})]},
        (img + "/members", "post"): {"body": (JSON, MEMBER_CREATE)},
        (img + "/members/{member_id}", "put"): {"body": (JSON, MEMBER_UPDATE)},
        (img + "/import", "post"): {"body": (JSON, IMPORT_BODY), "headers": [_header("x-image-meta-store", _STR)]},
        (img + "/locations", "post"): {"body": (JSON, LOCATION_BODY)},
        ("/v2/tasks", "get"): {"query": [*limit_marker, *_query(status=_STR, type=_STR)]},
        ("/v2/tasks", "post"): {"body": (JSON, TASK_BODY)},
        ("/v2/cache", "delete"): {"headers": [_header("x-image-cache-clear-target", {"enum": ["cache", "queue", ""]})]},
        ("/v2/metadefs/namespaces", "get"): {"query": [*limit_marker, *_query(
            visibility={"enum": ["public", "private"]}, resource_types=_STR)]},
        ("/v2/metadefs/namespaces", "post"): {"body": (JSON, _writable(md["namespace"]))},
        (ns, "get"): {"query": _query(resource_type=_STR)},
        (ns, "put"): {"body": (JSON, _writable(md["namespace"]))},
        (ns + "/resource_types", "post"): {"body": (JSON, _writable(md["resource_type"]))},
        (ns + "/objects", "get"): {"query": limit_marker},
        (ns + "/objects", "post"): {"body": (JSON, _writable(md["object"]))},
        (ns + "/objects/{object_name}", "put"): {"body": (JSON, _writable(md["object"]))},
        (ns + "/properties", "post"): {"body": (JSON, _writable(md["property"]))},
        (ns + "/properties/{property_name}", "get"): {"query": _query(resource_type=_STR)},
        (ns + "/properties/{property_name}", "put"): {"body": (JSON, _writable(md["property"]))},
        (ns + "/tags", "get"): {"query": limit_marker},
        (ns + "/tags", "post"): {"body": (JSON, _clean(md_schemas.tags_body_schema())),
                                 "headers": [_header("X-Openstack-Append", {"type": "boolean"})]},
        (ns + "/tags/{tag_name}", "put"): {"body": (JSON, _writable(md["tag"]))},
    }  # fmt: skip


_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")

# What a handler may answer besides success: every client error our error mapping produces.
_ERRORS = ("400", "401", "403", "404", "405", "409", "410", "413", "415", "416", "429", "503")
_SUCCESS = {"post": "201", "delete": "204", "put": "204"}


def openapi_document(settings: Settings) -> dict:
    paths: dict[str, dict] = {}
    extra = _operations(settings)
    for route in ROUTES:
        path = _PARAM.sub(r"{\1}", route.path)
        names = _PARAM.findall(route.path)
        for method in sorted(m.lower() for m in route.methods or () if m != "HEAD"):
            spec = extra.get((path, method), {})
            params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
                      for n in names]  # fmt: skip
            params += spec.get("query", []) + spec.get("headers", [])
            op: dict = {
                "operationId": f"{method.upper()} {path}",
                "parameters": params,
                "responses": {
                    "default": {"description": "success or a Glance-shaped error"},
                    _SUCCESS.get(method, "200"): {"description": "success"},
                    **{code: {"description": "error in Glance's shape"} for code in _ERRORS},
                },
            }
            if "body" in spec:
                media, schema = spec["body"]
                op["requestBody"] = {"required": True, "content": {media: {"schema": schema}}}
            paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Daguerre Images API v2", "version": "2.17"},
        "servers": [{"url": "/"}],
        "paths": paths,
    }
