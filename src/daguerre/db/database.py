"""The database handle: engines, transactions, migrations.

SQLite note: a deferred BEGIN that reads and then writes fails at once with "database is locked"
when another writer holds the lock (the busy timeout does not apply to lock upgrades). So every
write transaction starts with BEGIN IMMEDIATE, on a dedicated single-connection writer engine
(writes in one process queue up in Python instead of fighting for the lock); reads use a pool of
WAL readers that never block on writers. Statements run inline on the event loop (see
``sqlite_inline``); a BEGIN IMMEDIATE refused because another process writes is retried after
an asyncio sleep, never waited for in a blocking call.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from daguerre.db.sqlite_inline import inline_url

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# The connection-info key jobs.queue.enqueue sets (the db layer must not import jobs).
JOBS_ENQUEUED = "daguerre.jobs_enqueued"

# The write-ahead log is copied into the database once it holds more than this.
WAL_CHECKPOINT_BYTES = 4 * 1024 * 1024

# How long a write waits for another process's write transaction before giving up.
WRITE_LOCK_WAIT = 30.0

# True while the current task holds a write transaction open. Read by app.check_store_io: a
# store call (which can wait for the store's whole timeout) must not happen inside one.
_WRITING: ContextVar[bool] = ContextVar("daguerre_db_writing", default=False)


def write_transaction_open() -> bool:
    return _WRITING.get()


def _sqlite_engine(url: str, *, writer: bool, pool_size: int) -> AsyncEngine:
    engine = create_async_engine(
        inline_url(url),
        pool_size=1 if writer else pool_size,
        max_overflow=0,
        pool_timeout=60,
        connect_args={"timeout": 0 if writer else 30},
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        # Take transaction control away from the driver so we can say BEGIN IMMEDIATE ourselves.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        # The writer never blocks the loop on the lock: Database.write retries instead.
        cur.execute(f"PRAGMA busy_timeout={0 if writer else 30000}")
        if writer:
            # A checkpoint writes and fsyncs the database file: milliseconds to seconds. Inline on
            # the loop that would stall every request, so checkpoints run on a thread instead
            # (Database.run_checkpoints).
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        # Set after a committed write added a ready job: idle workers of this process start at
        # once instead of at their next poll. Workers in other processes still poll.
        self.jobs_enqueued = asyncio.Event()
        self.is_sqlite = url.startswith("sqlite")
        self._path: str | None = None
        if self.is_sqlite:
            path = sa.engine.make_url(url).database
            self._path = path if path and path != ":memory:" else None
            if self._path:
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            self.reader = _sqlite_engine(url, writer=False, pool_size=4)
            self.writer = _sqlite_engine(url, writer=True, pool_size=1)
        else:
            self.writer = create_async_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
            # Reads run without BEGIN/COMMIT: under READ COMMITTED every statement takes its own
            # snapshot anyway, so the transaction bought no consistency, only two round trips.
            self.reader = self.writer.execution_options(isolation_level="AUTOCOMMIT")

    @property
    def dialect(self) -> str:
        return self.writer.dialect.name

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.reader.begin() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        token = _WRITING.set(True)
        try:
            if not self.is_sqlite:
                async with self.writer.connect() as conn:
                    try:
                        async with conn.begin():
                            yield conn
                    finally:
                        enqueued = conn.info.pop(JOBS_ENQUEUED, False)
            else:
                conn, trans = await self._begin_sqlite_write()
                try:
                    yield conn
                except BaseException:
                    conn.info.pop(JOBS_ENQUEUED, None)
                    await asyncio.shield(_rollback_and_close(conn, trans))
                    raise
                try:
                    await trans.commit()
                finally:
                    enqueued = conn.info.pop(JOBS_ENQUEUED, False)
                    await asyncio.shield(conn.close())
        finally:
            _WRITING.reset(token)
        if enqueued:
            self.jobs_enqueued.set()

    async def _begin_sqlite_write(self):  # noqa: ANN202
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WRITE_LOCK_WAIT
        delay = 0.0005
        while True:
            conn = await self.writer.connect()
            trans = conn.begin()
            try:
                await trans.start()
                return conn, trans
            except sa.exc.OperationalError as exc:
                await conn.close()
                if "locked" not in str(exc.orig) or loop.time() >= deadline:
                    raise
            except BaseException:
                await asyncio.shield(conn.close())
                raise
            # Another process holds the write lock: wait here, in the loop, and try again.
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.02)

    async def run_checkpoints(self, stop: asyncio.Event, every: float = 1.0) -> None:
        """SQLite: copy the write-ahead log into the database from a thread, whenever it has
        grown past a few MiB (the writer's automatic checkpoint is off, see _sqlite_engine).
        PASSIVE never waits for or blocks readers and writers. Other databases: returns."""
        if not self.is_sqlite or not self._path:
            return
        wal = Path(self._path + "-wal")
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), every)
            except TimeoutError:
                pass
            try:
                if wal.exists() and wal.stat().st_size > WAL_CHECKPOINT_BYTES:
                    await asyncio.to_thread(_checkpoint, self._path)
            except (OSError, sqlite3.Error):
                log.exception("SQLite checkpoint of %s failed; retrying", self._path)

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.is_sqlite:
            await self.reader.dispose()

    # --- migrations -----------------------------------------------------------------------
    # Alembic is imported here, not at the top: it costs about 0.1 s per process start, and only a
    # database behind head (or `daguerre db upgrade/downgrade`) needs it.
    def alembic_config(self) -> Config:
        from alembic.config import Config  # noqa: PLC0415 - see above

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    async def upgrade(self, revision: str = "head") -> None:
        # Start-up calls this every time: skip Alembic (about 0.15 s) when already at head.
        if revision != "head" or await self.current_revision() != head_revision():
            await self._migrate("upgrade", revision)

    async def downgrade(self, revision: str = "base") -> None:
        await self._migrate("downgrade", revision)

    async def _migrate(self, direction: str, revision: str) -> None:
        from alembic import command  # noqa: PLC0415 - as alembic_config

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


def _checkpoint(path: str) -> None:
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        conn.close()


async def _rollback_and_close(conn: AsyncConnection, trans) -> None:  # noqa: ANN001
    try:
        if trans.is_active:
            await trans.rollback()
    finally:
        await conn.close()


def head_revision() -> str:
    """The newest migration, read from the migration files (no Alembic import needed)."""
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
