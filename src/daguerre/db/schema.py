"""Tables, in SQLAlchemy Core. Alembic migrations under db/migrations create exactly these."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

UTCDateTime = sa.DateTime(timezone=False)  # always naive UTC; timestamps are written by us

images = sa.Table(
    "images",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255)),
    sa.Column("status", sa.String(30), nullable=False),
    sa.Column("visibility", sa.String(20), nullable=False),
    sa.Column("protected", sa.Boolean, nullable=False, default=False),
    sa.Column("os_hidden", sa.Boolean, nullable=False, default=False),
    sa.Column("checksum", sa.String(32)),
    sa.Column("os_hash_algo", sa.String(64)),
    sa.Column("os_hash_value", sa.String(128)),
    sa.Column("owner", sa.String(255)),
    sa.Column("size", sa.BigInteger),
    sa.Column("virtual_size", sa.BigInteger),
    sa.Column("min_disk", sa.Integer, nullable=False, default=0),
    sa.Column("min_ram", sa.Integer, nullable=False, default=0),
    sa.Column("container_format", sa.String(32)),
    sa.Column("disk_format", sa.String(32)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("deleted_at", UTCDateTime),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
    sa.Column("version", sa.Integer, nullable=False, default=0),
    sa.Index("ix_images_listing", "deleted", "created_at", "id"),
    sa.Index("ix_images_owner", "owner"),
    sa.Index("ix_images_status", "status"),
    sa.Index("ix_images_name", "name"),
    # Name-sorted lists walk this in order (the sort expression is coalesce(name, '')).
    sa.Index("ix_images_name_sort", "deleted", sa.func.coalesce(sa.column("name"), ""), "created_at", "id"),
    sa.Index("ix_images_checksum", "checksum"),
    sa.Index("ix_images_visibility", "visibility"),
)

image_properties = sa.Table(
    "image_properties",
    metadata,
    sa.Column("image_id", sa.String(36), sa.ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Index("ix_image_properties_name_value", "name", "value"),
)

image_tags = sa.Table(
    "image_tags",
    metadata,
    sa.Column("image_id", sa.String(36), sa.ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("value", sa.String(255), primary_key=True),
    sa.Index("ix_image_tags_value", "value"),
)

image_locations = sa.Table(
    "image_locations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("image_id", sa.String(36), sa.ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
    sa.Column("store", sa.String(255), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("status", sa.String(30), nullable=False, default="active"),
    sa.Column("meta", sa.JSON, nullable=False, default=dict),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_image_locations_image_id", "image_id"),
)

image_members = sa.Table(
    "image_members",
    metadata,
    sa.Column("image_id", sa.String(36), sa.ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("member", sa.String(255), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_image_members_member_status", "member", "status"),
)

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("type", sa.String(30), nullable=False),
    sa.Column("status", sa.String(30), nullable=False),
    sa.Column("owner", sa.String(255)),
    sa.Column("input", sa.JSON),
    sa.Column("result", sa.JSON),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Column("image_id", sa.String(36)),
    sa.Column("request_id", sa.String(64)),
    sa.Column("user_id", sa.String(255)),
    sa.Column("expires_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
    sa.Index("ix_tasks_image_id", "image_id"),
    sa.Index("ix_tasks_created_at", "created_at", "id"),
)

# Durable background work: written in the same transaction as the state change that needs it.
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(50), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),  # ready | running | done | failed
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("max_attempts", sa.Integer, nullable=False, default=3),
    sa.Column("lease_owner", sa.String(100)),
    sa.Column("lease_expires_at", UTCDateTime),
    sa.Column("run_after", UTCDateTime, nullable=False),
    sa.Column("image_id", sa.String(36)),
    sa.Column("task_id", sa.String(36)),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_jobs_claim", "state", "run_after"),
)

# URL-import events per project, for the rate limit shared by every process.
import_events = sa.Table(
    "import_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project", sa.String(255), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index("ix_import_events_project_at", "project", "at"),
)
