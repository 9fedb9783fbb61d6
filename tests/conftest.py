"""Shared fixtures: real servers on loopback, and identities to act as."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import httpx
import pytest

from actors import Actor
from daguerre.testing.server import ServerProcess


@pytest.fixture(scope="session")
def trusted_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server trusting keystonemiddleware-style identity headers, so tests can be anyone."""
    server = ServerProcess(
        tmp_path_factory.mktemp("trusted"),
        env={"DAGUERRE_AUTH__STRATEGY": "trusted-headers", "DAGUERRE_DEFAULT__IMAGE_SIZE_CAP": str(64 * 2**20),
             "DAGUERRE_DEFAULT__IMAGE_TAG_QUOTA": "20", "DAGUERRE_DEFAULT__IMAGE_PROPERTY_QUOTA": "30",
             "DAGUERRE_DEFAULT__IMAGE_MEMBER_QUOTA": "5"},
    ).start()  # fmt: skip
    yield server
    server.stop()


@pytest.fixture(scope="session")
def noauth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("noauth")).start()
    yield server
    server.stop()


@pytest.fixture
def closing() -> Iterator[contextlib.ExitStack]:
    """Closes, when the test ends, the clients it opened with `closing.enter_context(Actor(...))`.

    An unclosed client leaves its pooled sockets to the garbage collector, whose ResourceWarning is
    an error here (pyproject's filterwarnings)."""
    with contextlib.ExitStack() as stack:
        yield stack


@pytest.fixture
def project() -> str:
    return f"proj-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def member(trusted_server: ServerProcess, project: str) -> Iterator[Actor]:
    with Actor(trusted_server.url, project, "member,reader") as actor:
        yield actor


@pytest.fixture
def other(trusted_server: ServerProcess) -> Iterator[Actor]:
    with Actor(trusted_server.url, f"other-{uuid.uuid4().hex[:8]}", "member,reader") as actor:
        yield actor


@pytest.fixture
def reader(trusted_server: ServerProcess, project: str) -> Iterator[Actor]:
    with Actor(trusted_server.url, project, "reader") as actor:
        yield actor


@pytest.fixture
def admin(trusted_server: ServerProcess) -> Iterator[Actor]:
    with Actor(trusted_server.url, "admin-project", "admin,member,reader") as actor:
        yield actor


@pytest.fixture
def anon(trusted_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=trusted_server.url, headers={"Accept": "application/json"}, timeout=30
    ) as client:
        yield client
