"""Tables of the metadata definitions catalog (/v2/metadefs), on the shared ``metadata``.

Migration 0002 creates exactly these. Children reference their namespace with ON DELETE CASCADE,
but the repository also deletes them explicitly, so nothing depends on SQLite's foreign_keys pragma.
"""

from __future__ import annotations

import sqlalchemy as sa

from daguerre.db.schema import UTCDateTime, metadata


def _namespace_fk() -> sa.Column:
    return sa.Column(
        "namespace_id", sa.Integer, sa.ForeignKey("metadef_namespaces.id", ondelete="CASCADE"), nullable=False
    )


metadef_namespaces = sa.Table(
    "metadef_namespaces",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("namespace", sa.String(80), nullable=False),
    sa.Column("display_name", sa.String(80)),
    sa.Column("description", sa.Text),
    sa.Column("visibility", sa.String(32), nullable=False),
    sa.Column("protected", sa.Boolean, nullable=False, default=False),
    sa.Column("owner", sa.String(255)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("namespace"),
    sa.Index("ix_metadef_namespaces_owner", "owner"),
)

metadef_objects = sa.Table(
    "metadef_objects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _namespace_fk(),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("required", sa.JSON),  # list of property names, or NULL
    sa.Column("properties", sa.JSON, nullable=False),  # name -> property schema
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("namespace_id", "name"),
)

metadef_properties = sa.Table(
    "metadef_properties",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _namespace_fk(),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("schema", sa.JSON, nullable=False),  # the property definition without its name
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("namespace_id", "name"),
)

metadef_tags = sa.Table(
    "metadef_tags",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _namespace_fk(),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("namespace_id", "name"),
)

metadef_resource_types = sa.Table(
    "metadef_resource_types",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("protected", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("name"),
)

metadef_namespace_resource_types = sa.Table(
    "metadef_namespace_resource_types",
    metadata,
    sa.Column(
        "resource_type_id",
        sa.Integer,
        sa.ForeignKey("metadef_resource_types.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "namespace_id",
        sa.Integer,
        sa.ForeignKey("metadef_namespaces.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("prefix", sa.String(80)),
    sa.Column("properties_target", sa.String(80)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_metadef_namespace_resource_types_namespace_id", "namespace_id"),
)

# Which catalog namespaces the loader has already created once: a catalog namespace an operator
# deleted stays deleted across restarts.
metadef_catalog_loads = sa.Table(
    "metadef_catalog_loads",
    metadata,
    sa.Column("namespace", sa.String(80), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("loaded_at", UTCDateTime, nullable=False),
)
