from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from daguerre.db.database import Database

PG_ADMIN_DSN = os.environ.get("DAGUERRE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


async def _pg_admin() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(PG_ADMIN_DSN)
    except Exception:  # noqa: BLE001 - CI machines have user postgres or root
        return await asyncpg.connect(PG_ADMIN_DSN.replace("postgres@", "root@"))


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh database on the PostgreSQL at 127.0.0.1:5432, dropped afterwards."""
    name = f"daguerre_{uuid.uuid4().hex[:10]}"
    admin = await _pg_admin()
    await admin.execute(f'CREATE DATABASE "{name}"')
    user = admin._params.user
    await admin.close()
    yield f"postgresql+asyncpg://{user}@127.0.0.1:5432/{name}"
    admin = await _pg_admin()
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@pytest.fixture
async def sqlite_db(tmp_path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
    await db.upgrade()
    yield db
    await db.dispose()


@pytest.fixture
async def pg_db(pg_url: str) -> AsyncIterator[Database]:
    db = Database(pg_url)
    await db.upgrade()
    yield db
    await db.dispose()
