"""The hook for Horizon's "Update Metadata": properties offered by the metadata definitions catalog.

The catalog itself (``/v2/metadefs``) is built elsewhere. To light up the dashboard's
"Update Metadata" page, register an object with this shape at start-up::

    from daguerre.web import metadefs
    metadefs.set_catalog(MyCatalog())

``namespaces_for(rt, ctx)`` returns the namespaces (with their property definitions) that apply to
``OS::Glance::Image`` and are visible to the caller. Until one is registered, the page explains that
no catalog is configured and the detail page shows no "Update Metadata" button. Saving goes through
``services.images.update`` like every other property edit (same policy, same quotas).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from daguerre.context import RequestContext
from daguerre.runtime import Runtime

RESOURCE_TYPE = "OS::Glance::Image"


@dataclass
class PropertyDef:
    name: str
    title: str = ""
    description: str = ""
    type: str = "string"  # string | integer | number | boolean | array
    enum: list[str] = field(default_factory=list)
    default: str | None = None


@dataclass
class Namespace:
    namespace: str
    display_name: str = ""
    description: str = ""
    # The prefix the namespace asks for on OS::Glance::Image (e.g. "hw_"), already applied to names.
    properties: list[PropertyDef] = field(default_factory=list)


class MetadataCatalog(Protocol):
    async def namespaces_for(
        self, rt: Runtime, ctx: RequestContext, resource_type: str = RESOURCE_TYPE
    ) -> list[Namespace]: ...


_catalog: MetadataCatalog | None = None


def set_catalog(catalog: MetadataCatalog | None) -> None:
    global _catalog
    _catalog = catalog


def catalog() -> MetadataCatalog | None:
    return _catalog
