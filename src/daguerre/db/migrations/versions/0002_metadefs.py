"""metadata definitions catalog

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 22:00:00

The tables only. The catalog itself (daguerre/metadefs/*.json) is loaded after migrations by
daguerre.services.metadef_catalog.load_catalog, which is idempotent.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    ]


def _namespace_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["namespace_id"],
        ["metadef_namespaces.id"],
        name=op.f(f"fk_{table}_namespace_id_metadef_namespaces"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "metadef_namespaces",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("namespace", sa.String(length=80), nullable=False),
        sa.Column("display_name", sa.String(length=80), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("visibility", sa.String(length=32), nullable=False),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metadef_namespaces")),
        sa.UniqueConstraint("namespace", name=op.f("uq_metadef_namespaces_namespace")),
    )
    with op.batch_alter_table("metadef_namespaces") as batch_op:
        batch_op.create_index("ix_metadef_namespaces_owner", ["owner"], unique=False)

    op.create_table(
        "metadef_resource_types",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("protected", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metadef_resource_types")),
        sa.UniqueConstraint("name", name=op.f("uq_metadef_resource_types_name")),
    )

    op.create_table(
        "metadef_objects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("namespace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("required", sa.JSON(), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=False),
        *_timestamps(),
        _namespace_fk("metadef_objects"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metadef_objects")),
        sa.UniqueConstraint("namespace_id", "name", name=op.f("uq_metadef_objects_namespace_id_name")),
    )

    op.create_table(
        "metadef_properties",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("namespace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("schema", sa.JSON(), nullable=False),
        *_timestamps(),
        _namespace_fk("metadef_properties"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metadef_properties")),
        sa.UniqueConstraint("namespace_id", "name", name=op.f("uq_metadef_properties_namespace_id_name")),
    )

    op.create_table(
        "metadef_tags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("namespace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        *_timestamps(),
        _namespace_fk("metadef_tags"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metadef_tags")),
        sa.UniqueConstraint("namespace_id", "name", name=op.f("uq_metadef_tags_namespace_id_name")),
    )

    op.create_table(
        "metadef_namespace_resource_types",
        sa.Column("resource_type_id", sa.Integer(), nullable=False),
        sa.Column("namespace_id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=80), nullable=True),
        sa.Column("properties_target", sa.String(length=80), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["resource_type_id"],
            ["metadef_resource_types.id"],
            name=op.f("fk_metadef_namespace_resource_types_resource_type_id_metadef_resource_types"),
            ondelete="CASCADE",
        ),
        _namespace_fk("metadef_namespace_resource_types"),
        sa.PrimaryKeyConstraint(
            "resource_type_id", "namespace_id", name=op.f("pk_metadef_namespace_resource_types")
        ),
    )
    with op.batch_alter_table("metadef_namespace_resource_types") as batch_op:
        batch_op.create_index(
            "ix_metadef_namespace_resource_types_namespace_id", ["namespace_id"], unique=False
        )

    op.create_table(
        "metadef_catalog_loads",
        sa.Column("namespace", sa.String(length=80), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("namespace", name=op.f("pk_metadef_catalog_loads")),
    )


def downgrade() -> None:
    op.drop_table("metadef_catalog_loads")
    with op.batch_alter_table("metadef_namespace_resource_types") as batch_op:
        batch_op.drop_index("ix_metadef_namespace_resource_types_namespace_id")
    op.drop_table("metadef_namespace_resource_types")
    op.drop_table("metadef_tags")
    op.drop_table("metadef_properties")
    op.drop_table("metadef_objects")
    op.drop_table("metadef_resource_types")
    with op.batch_alter_table("metadef_namespaces") as batch_op:
        batch_op.drop_index("ix_metadef_namespaces_owner")
    op.drop_table("metadef_namespaces")
