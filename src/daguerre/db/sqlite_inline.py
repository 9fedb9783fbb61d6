"""SQLite run inline on the event loop, behind SQLAlchemy's asyncio API.

aiosqlite runs every statement on a helper thread and hands the result back to the loop: two
thread switches and a loop wake-up per statement (BEGIN and COMMIT included), which measured
at more than a third of the CPU time of an image-show. A SQLite statement of ours is an indexed
lookup of microseconds, far cheaper than the hop, so we run pysqlite on the loop's own thread.

What makes this safe rather than just fast:
- In WAL mode a reader never waits for a writer, so a read cannot stall the loop on a lock.
- Writers could wait (another process holding the write lock). The writer engine therefore runs
  with ``busy_timeout=0`` and ``Database.write`` retries a refused ``BEGIN IMMEDIATE`` with
  asyncio sleeps: the wait happens in the loop, not in a blocked call. Once BEGIN IMMEDIATE has
  succeeded nothing inside the transaction can wait for a lock (WAL commits never wait for
  readers).

The dialect is pysqlite's with ``is_async`` set: SQLAlchemy's async layer runs the synchronous
engine inside a greenlet, and since no call here suspends, the greenlet simply runs to the end.
Type handling, SQL and pooling semantics are pysqlite's own.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.util import await_only

DRIVER = "daguerre_inline"


async def _done() -> None:
    return None


def _mark_async() -> None:
    # SQLAlchemy's async API insists that an execution awaited something (to catch sync drivers
    # used by mistake). Awaiting a finished coroutine satisfies it without yielding to the loop.
    await_only(_done())


class _Cursor(sqlite3.Cursor):
    async def _async_soft_close(self) -> None:
        # Called by SQLAlchemy's async results; a pysqlite result is already fully in hand.
        return None


class _Connection(sqlite3.Connection):
    def cursor(self, factory: type[sqlite3.Cursor] = _Cursor) -> sqlite3.Cursor:  # type: ignore[override]
        return super().cursor(factory)


class InlineSQLiteDialect(SQLiteDialect_pysqlite):
    driver = DRIVER
    is_async = True
    supports_statement_cache = True

    @classmethod
    def get_pool_class(cls, url):  # noqa: ANN001, ANN206
        # Checkout waits (all connections in use) must be asyncio waits, not thread waits.
        return pool.AsyncAdaptedQueuePool

    def do_execute(self, cursor, statement, parameters, context=None):  # noqa: ANN001, ANN201
        super().do_execute(cursor, statement, parameters, context)
        _mark_async()

    def do_execute_no_params(self, cursor, statement, context=None):  # noqa: ANN001, ANN201
        super().do_execute_no_params(cursor, statement, context)
        _mark_async()

    def do_executemany(self, cursor, statement, parameters, context=None):  # noqa: ANN001, ANN201
        super().do_executemany(cursor, statement, parameters, context)
        _mark_async()

    def create_connect_args(self, url):  # noqa: ANN001, ANN201
        args, kwargs = super().create_connect_args(url)
        # Connections are made and used on the loop's thread, but the pool may be disposed of
        # from a finaliser elsewhere; pysqlite's own thread check would only get in the way.
        kwargs["check_same_thread"] = False
        kwargs["factory"] = _Connection
        return args, kwargs


registry.register(f"sqlite.{DRIVER}", __name__, "InlineSQLiteDialect")


def inline_url(url: str) -> str:
    """The same SQLite database, addressed through the inline driver."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] != "sqlite":
        raise ValueError(f"not a SQLite URL: {url}")
    return f"sqlite+{DRIVER}://{rest}"
