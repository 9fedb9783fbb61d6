"""Lists are served from indexes in sort order: the database never sorts the whole catalog to
return one page. Checked on the query plans of both databases (a property, not a timing)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from daguerre.db import images as image_repo
from daguerre.db.database import Database
from daguerre.db.images import ListQuery


class _Capture:
    """A connection stand-in that records the statement list_images would run."""

    def __init__(self, dialect: str):
        self.dialect = type("D", (), {"name": dialect})
        self.statement = None

    async def execute(self, statement, params=None):
        self.statement = statement.params(params or {})
        raise _Captured


class _Captured(Exception):
    pass


async def _sql(q: ListQuery, dialect: str) -> tuple[str, tuple]:
    """The statement as the driver receives it: SQL text with placeholders, and the values (a
    plan with literals inlined can use an index that the real, parameterised query cannot)."""
    cap = _Capture(dialect)
    with pytest.raises(_Captured):
        await image_repo.list_images(cap, q)
    d = sqlite.dialect() if dialect == "sqlite" else postgresql.dialect()
    state = cap.statement.compile(dialect=d).construct_expanded_state()
    return state.statement, tuple(state.parameters[name] for name in state.positiontup)


QUERIES = {
    "default": ListQuery(caller_project="p1", is_admin=False),
    "admin default": ListQuery(caller_project="p1", is_admin=True),
    "filtered, sorted by name": ListQuery(
        caller_project=None,
        is_admin=True,
        exact={"status": ["queued"], "disk_format": ["qcow2"], "container_format": ["bare"]},
        sort=[("name", "asc")],
    ),
    "sorted by name desc": ListQuery(caller_project=None, is_admin=True, sort=[("name", "desc")]),
}


@pytest.mark.parametrize("label", list(QUERIES))
async def test_sqlite_lists_walk_an_index_in_order(sqlite_db: Database, label: str) -> None:
    sql, params = await _sql(QUERIES[label], "sqlite")
    async with sqlite_db.read() as conn:
        rows = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)).all()
    plan = " | ".join(r[-1] for r in rows)
    assert "TEMP B-TREE" not in plan, plan
    assert "USING INDEX ix_images_" in plan, plan


async def test_postgres_name_sort_index_exists(pg_db: Database) -> None:
    async with pg_db.read() as conn:
        rows = (
            await conn.execute(
                sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_images_name_sort'")
            )
        ).all()
    assert len(rows) == 1 and "COALESCE(name" in rows[0][0], rows
