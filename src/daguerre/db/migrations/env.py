"""Alembic environment: the connection is handed in by Database._migrate."""

from alembic import context

import daguerre.db.metadef_schema  # noqa: F401 - registers the metadef tables on the metadata
from daguerre.db.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
