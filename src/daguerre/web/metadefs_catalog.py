"""The dashboard's "Update Metadata" catalog (daguerre.web.metadefs.MetadataCatalog), served from
the metadefs tables through the same service functions and policy as /v2/metadefs.

Register it at start-up::

    from daguerre.web.metadefs_catalog import ServiceCatalog
    from daguerre.web import metadefs as web_metadefs

    web_metadefs.set_catalog(ServiceCatalog())
"""

from __future__ import annotations

import json

from daguerre.context import RequestContext
from daguerre.domain.errors import DomainError
from daguerre.runtime import Runtime
from daguerre.services import metadefs as svc
from daguerre.web import metadefs as web

_TYPES = {"string", "integer", "number", "boolean", "array"}


def _text(value: object) -> str:
    """Image properties are strings: show booleans as true/false and other values as JSON would."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _property(name: str, schema: dict) -> web.PropertyDef:
    kind = str(schema["type"]) if schema.get("type") in _TYPES else "string"
    enum = schema.get("enum") or (schema.get("items") or {}).get("enum") or []
    if kind == "boolean" and not enum:
        enum = [True, False]
    default = schema.get("default")
    return web.PropertyDef(
        name=name,
        title=schema.get("title") or name,
        description=schema.get("description") or "",
        type=kind,
        enum=[_text(v) for v in enum],
        default=None if default is None else _text(default),
    )


class ServiceCatalog:
    """Namespaces associated with a resource type that the caller may read, prefixes applied."""

    async def namespaces_for(
        self, rt: Runtime, ctx: RequestContext, resource_type: str = web.RESOURCE_TYPE
    ) -> list[web.Namespace]:
        params = [("resource_types", resource_type), ("sort_key", "namespace"), ("sort_dir", "asc")]
        params.append(("limit", str(rt.settings.DEFAULT.api_limit_max)))
        try:
            page = await svc.list_namespaces(rt, ctx, params)
        except DomainError:
            return []  # callers who may not read the catalog simply get no suggestions
        out = []
        for ns, associations in page.items:
            prefix = next((a.prefix or "" for a in associations if a.name == resource_type), "")
            try:
                detail = await svc.show_namespace(rt, ctx, ns.namespace, resource_type)
            except DomainError:
                continue
            props = [_property(prefix + p.name, p.schema) for p in detail.properties]
            if props:
                out.append(web.Namespace(ns.namespace, ns.display_name or "", ns.description or "", props))
        return out
