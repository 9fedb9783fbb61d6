"""SQLite run inline on the event loop: a write waiting for another process's lock must wait in
the loop (other tasks keep running), reads never wait for writers, and the write-ahead log is
checkpointed from a thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import sqlalchemy as sa

from daguerre.db import database as database_mod
from daguerre.db.database import Database


def _db_path(db: Database) -> str:
    return sa.engine.make_url(db.url).database


async def _ticks_during(coro, interval: float = 0.005) -> tuple[object, int]:
    """Run ``coro`` while a ticker counts loop turns: a blocked loop counts none."""
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            await asyncio.sleep(interval)
            ticks += 1

    t = asyncio.create_task(ticker())
    try:
        return await coro, ticks
    finally:
        done.set()
        await t


async def test_write_waits_for_another_writer_without_blocking_the_loop(sqlite_db: Database) -> None:
    # Another process's writer, played by a plain sqlite3 connection on a thread, holds the lock.
    other = sqlite3.connect(_db_path(sqlite_db), isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO alembic_version (version_num) VALUES ('held')")
    release = threading.Timer(0.4, lambda: other.execute("ROLLBACK"))
    release.start()

    async def write() -> str:
        async with sqlite_db.write() as conn:
            await conn.execute(sa.text("CREATE TABLE after_lock (x INTEGER)"))
        return "written"

    try:
        result, ticks = await _ticks_during(write())
    finally:
        release.join()
        other.close()
    assert result == "written"
    # 0.4 s at a 5 ms tick: a loop blocked in sqlite's busy handler would have counted ~0.
    assert ticks >= 20, ticks
    async with sqlite_db.read() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM after_lock"))).scalar() == 0


async def test_write_gives_up_after_the_lock_wait(sqlite_db: Database, monkeypatch) -> None:
    monkeypatch.setattr(database_mod, "WRITE_LOCK_WAIT", 0.2)
    other = sqlite3.connect(_db_path(sqlite_db), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        try:
            async with sqlite_db.write() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except sa.exc.OperationalError as exc:
            assert "locked" in str(exc)
        else:
            raise AssertionError("write went through while another writer held the lock")
    finally:
        other.execute("ROLLBACK")
        other.close()
    # The writer connection went back to the pool in a usable state.
    async with sqlite_db.write() as conn:
        await conn.execute(sa.text("CREATE TABLE usable (x INTEGER)"))


async def test_reads_do_not_wait_for_a_writer(sqlite_db: Database) -> None:
    other = sqlite3.connect(_db_path(sqlite_db), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE uncommitted (x INTEGER)")
    try:
        async with sqlite_db.read() as conn:
            rows = (
                await conn.execute(sa.text("SELECT name FROM sqlite_master WHERE name='uncommitted'"))
            ).all()
        assert rows == []  # the snapshot before the other transaction, at once
    finally:
        other.execute("ROLLBACK")
        other.close()


async def test_failed_write_rolls_back(sqlite_db: Database) -> None:
    async with sqlite_db.write() as conn:
        await conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
    try:
        async with sqlite_db.write() as conn:
            await conn.execute(sa.text("INSERT INTO t VALUES (1)"))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    async with sqlite_db.read() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM t"))).scalar() == 0


async def test_cancelled_write_rolls_back_and_frees_the_writer(sqlite_db: Database) -> None:
    async with sqlite_db.write() as conn:
        await conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
    inside = asyncio.Event()

    async def slow_write() -> None:
        async with sqlite_db.write() as conn:
            await conn.execute(sa.text("INSERT INTO t VALUES (1)"))
            inside.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(slow_write())
    await inside.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    async with sqlite_db.write() as conn:  # would hang if the single writer had leaked
        await conn.execute(sa.text("INSERT INTO t VALUES (2)"))
    async with sqlite_db.read() as conn:
        assert (await conn.execute(sa.text("SELECT x FROM t"))).scalars().all() == [2]


async def test_checkpoints_keep_the_log_small(sqlite_db: Database, monkeypatch) -> None:
    monkeypatch.setattr(database_mod, "WAL_CHECKPOINT_BYTES", 64 * 1024)
    wal = Path(_db_path(sqlite_db) + "-wal")
    async with sqlite_db.write() as conn:
        await conn.execute(sa.text("CREATE TABLE blob (x BLOB)"))
    for _ in range(8):
        async with sqlite_db.write() as conn:
            await conn.execute(sa.text("INSERT INTO blob VALUES (randomblob(65536))"))

    # Until a checkpoint copies the log into it, the database file lacks the blobs' pages.
    db_file = Path(_db_path(sqlite_db))
    assert wal.stat().st_size > 8 * 65536
    assert db_file.stat().st_size < 8 * 65536  # nothing has copied the log yet

    stop = asyncio.Event()
    runner = asyncio.create_task(sqlite_db.run_checkpoints(stop, every=0.05))
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            if db_file.stat().st_size >= 8 * 65536:
                break
    finally:
        stop.set()
        await runner
    assert db_file.stat().st_size >= 8 * 65536
