"""Metadefs tests: live-server httpx tests on the shared trusted-headers server, plus database tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from md_helpers import Namespaces

from actors import Actor
from daguerre.db.database import Database
from daguerre.services.metadef_catalog import load_into
from daguerre.testing.server import ServerProcess
from pg_fixtures import pg_db, pg_url, sqlite_db  # noqa: F401


@pytest.fixture(scope="session")
def catalog(trusted_server: ServerProcess) -> ServerProcess:
    """The shared server with the shipped catalog loaded.

    ``Database.upgrade()`` loads it at start-up once the hook is wired; loading again is a no-op, so
    this works either way.
    """

    async def load() -> None:
        db = Database(f"sqlite+aiosqlite:///{trusted_server.data_dir / 'daguerre.db'}")
        try:
            await load_into(db)
        finally:
            await db.dispose()

    asyncio.run(load())
    return trusted_server


@pytest.fixture
def namespaces(admin: Actor) -> Iterator[Namespaces]:
    ns = Namespaces(admin)
    yield ns
    ns.cleanup()
