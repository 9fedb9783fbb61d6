"""The database handle: engines, transactions, migrations.

SQLite note: a deferred BEGIN that reads and then writes fails at once with "database is locked"
when another writer holds the lock (the busy timeout does not apply to lock upgrades). So every
write transaction starts with BEGIN IMMEDIATE, on a dedicated single-connection writer engine
(writes in one process queue up in Python instead of fighting for the lock); reads use a pool of
WAL readers that never block on writers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_engine(url: str, *, writer: bool, pool_size: int) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=1 if writer else pool_size,
        max_overflow=0,
        pool_timeout=60,
        connect_args={"timeout": 30},
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        # Take transaction control away from the driver so we can say BEGIN IMMEDIATE ourselves.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


class Database:
    def __init__(self, url: str, *, pool_size: int = 10):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = sa.engine.make_url(url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.reader = _sqlite_engine(url, writer=False, pool_size=4)
            self.writer = _sqlite_engine(url, writer=True, pool_size=1)
        else:
            self.reader = self.writer = create_async_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )

    @property
    def dialect(self) -> str:
        return self.writer.dialect.name

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.reader.begin() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        async with self.writer.begin() as conn:
            yield conn

    async def dispose(self) -> None:
        await self.reader.dispose()
        if self.writer is not self.reader:
            await self.writer.dispose()

    # --- migrations -----------------------------------------------------------------------
    def alembic_config(self):  # noqa: ANN201
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    async def upgrade(self, revision: str = "head") -> None:
        # Start-up calls this every time: skip Alembic (about 0.15 s) when already at head.
        if revision != "head" or await self.current_revision() != head_revision():
            await self._migrate("upgrade", revision)
        if revision == "head":
            # The metadata definitions catalog we ship is loaded once (idempotent, lock-guarded).
            from daguerre.metadefs import load_catalog

            async with self.write() as conn:
                await load_catalog(conn)

    async def downgrade(self, revision: str = "base") -> None:
        await self._migrate("downgrade", revision)

    async def _migrate(self, direction: str, revision: str) -> None:
        from alembic import command

        cfg = self.alembic_config()

        def run(sync_conn: sa.Connection) -> None:
            if sync_conn.dialect.name == "postgresql":
                # Several processes may start at once: one migrates, the others wait.
                sync_conn.exec_driver_sql("SELECT pg_advisory_xact_lock(4242001)")
            cfg.attributes["connection"] = sync_conn
            getattr(command, direction)(cfg, revision)

        engine = self.writer
        if self.is_sqlite:
            # Alembic manages its own transactions; use a plain engine without BEGIN IMMEDIATE.
            engine = create_async_engine(self.url, connect_args={"timeout": 30})
        try:
            async with engine.begin() as conn:
                await conn.run_sync(run)
        finally:
            if engine is not self.writer:
                await engine.dispose()

    async def current_revision(self) -> str | None:
        async with self.read() as conn:
            try:
                row = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).first()
            except sa.exc.DBAPIError:
                return None
        return row[0] if row else None


def head_revision() -> str:
    """The newest migration, read from the migration files (no Alembic import needed)."""
    import re

    revisions, parents = set(), set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        text = path.read_text()
        rev = re.search(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", text, re.M)
        down = re.search(r"^down_revision\s*=\s*['\"]([^'\"]+)['\"]", text, re.M)
        if rev:
            revisions.add(rev.group(1))
        if down:
            parents.add(down.group(1))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"migrations must have exactly one head, found {sorted(heads)}")
    return heads.pop()


def run_sync(coro):  # noqa: ANN001, ANN201
    return asyncio.run(coro)
