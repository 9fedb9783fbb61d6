"""The metadata definitions catalog Daguerre ships (the JSON files in ``daguerre/metadefs/``), and
its loader.

Each ``*.json`` file there (other than ``resource_types.json``) is one namespace, written in the same
shape as a ``POST /v2/metadefs/namespaces`` body. ``resource_types.json`` lists the resource types
that exist from the start.

``load_catalog(conn)`` is idempotent and cheap when nothing is new, so start-up and
``daguerre db upgrade`` run it after every migration to head:

- resource types that are missing are created (marked protected);
- a catalog namespace is created, with everything in it, the first time the loader sees it, and
  remembered in ``metadef_catalog_loads``. It is not created again later, so an operator who
  deletes or renames a catalog namespace keeps it that way; edits are never overwritten.
- a namespace an operator created under a catalog name is left alone (and remembered).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from daguerre.db import metadefs as repo
from daguerre.db.database import Database
from daguerre.services.metadefs import fill, nested, property_schema, validate

CATALOG_DIR = Path(__file__).parent.parent / "metadefs"
RESOURCE_TYPES_FILE = "resource_types.json"
_PG_LOCK = 4242002  # serializes loaders of several processes starting together


@dataclass
class LoadReport:
    resource_types_created: list[str] = field(default_factory=list)
    namespaces_created: list[str] = field(default_factory=list)
    namespaces_skipped: list[str] = field(default_factory=list)


def read_catalog(directory: Path = CATALOG_DIR) -> tuple[list[str], list[dict]]:
    """The resource type names and namespace documents of a catalog directory, checked."""
    rt_file = directory / RESOURCE_TYPES_FILE
    resource_types = []
    if rt_file.exists():
        resource_types = [r["name"] for r in json.loads(rt_file.read_text())["resource_types"]]
    namespaces = []
    for path in sorted(directory.glob("*.json")):
        if path.name == RESOURCE_TYPES_FILE:
            continue
        doc = json.loads(path.read_text())
        try:
            validate("namespace", doc)
            nested(doc)
        except Exception as exc:  # noqa: BLE001 - name the file, whatever the problem
            raise ValueError(f"metadefs catalog file {path.name}: {getattr(exc, 'message', exc)}") from None
        namespaces.append(doc)
    return resource_types, namespaces


def digest(doc: dict) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


async def load_catalog(conn: AsyncConnection, directory: Path = CATALOG_DIR) -> LoadReport:
    """Create what is new in the catalog, in the caller's (write) transaction."""
    resource_types, namespaces = read_catalog(directory)
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({_PG_LOCK})"))
    report = LoadReport()
    for name in resource_types:
        if await repo.get_resource_type(conn, name) is None:
            await repo.ensure_resource_type(conn, name, protected=True)
            report.resource_types_created.append(name)
    loaded = await repo.catalog_loaded(conn)
    for doc in namespaces:
        name = doc["namespace"]
        if name in loaded:
            continue
        if await repo.get_namespace(conn, name) is not None:
            report.namespaces_skipped.append(name)
        else:
            ns = await repo.insert_namespace(
                conn,
                {
                    "namespace": name,
                    "display_name": doc.get("display_name"),
                    "description": doc.get("description"),
                    "visibility": doc.get("visibility", "public"),
                    "protected": bool(doc.get("protected", True)),
                    "owner": doc.get("owner"),
                },
            )
            props = {k: property_schema(v) for k, v in (doc.get("properties") or {}).items()}
            await fill(
                conn, ns, doc.get("resource_type_associations") or [], doc.get("objects") or [], props,
                [t["name"] for t in doc.get("tags") or []],
            )  # fmt: skip
            report.namespaces_created.append(name)
        await repo.record_catalog_load(conn, name, digest(doc))
    return report


async def load_into(db: Database) -> LoadReport:
    """Load the catalog in its own write transaction."""
    async with db.write() as conn:
        return await load_catalog(conn)
