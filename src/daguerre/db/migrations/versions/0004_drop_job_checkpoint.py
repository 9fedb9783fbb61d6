"""drop jobs.checkpoint

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 03:00:00

Nothing ever read the column: a retried job starts its handler over from the data it still has
(docs/architecture.md, "Imports are one job with idempotent steps"). Dropping it keeps the schema
from claiming checkpoints that do not exist. The downgrade brings back an empty column.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("checkpoint")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("checkpoint", sa.JSON(), nullable=False, server_default="{}"))
