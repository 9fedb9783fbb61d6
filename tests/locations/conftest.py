"""Fixtures for location tests: a loopback web server with Range support and a few odd paths,
and Daguerre servers with an http store ("web") next to a filesystem store ("fast")."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from location_helpers import DATA, WebServer, digests, wait_task  # noqa: F401

from actors import Actor
from daguerre.testing.server import ServerProcess


@pytest.fixture(scope="session")
def web() -> Iterator[WebServer]:
    server = WebServer()
    yield server
    server.close()


def location_env(web: WebServer, **extra: str) -> dict[str, str]:
    return {
        "DAGUERRE_AUTH__STRATEGY": "trusted-headers",
        "DAGUERRE_DEFAULT__ENABLED_BACKENDS": "fast:file,web:http",
        "DAGUERRE_GLANCE_STORE__DEFAULT_BACKEND": "fast",
        "DAGUERRE_DEFAULT__SHOW_MULTIPLE_LOCATIONS": "true",
        "DAGUERRE_DEFAULT__SHOW_IMAGE_DIRECT_URL": "true",
        "DAGUERRE_DEFAULT__IMAGE_LOCATION_QUOTA": "4",
        "DAGUERRE_IMPORT_FILTERING_OPTS__ALLOWED_HOSTS": "127.0.0.1",
        "DAGUERRE_IMPORT_FILTERING_OPTS__ALLOWED_PORTS": str(web.port),
        "DAGUERRE_IMPORT_FILTERING_OPTS__IDLE_TIMEOUT": "10",
        **extra,
    }


@pytest.fixture(scope="session")
def loc_server(tmp_path_factory: pytest.TempPathFactory, web: WebServer) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("locations"), env=location_env(web)).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nohash_server(tmp_path_factory: pytest.TempPathFactory, web: WebServer) -> Iterator[ServerProcess]:
    env = location_env(web, DAGUERRE_DEFAULT__DO_SECURE_HASH="false")
    server = ServerProcess(tmp_path_factory.mktemp("nohash"), env=env).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def plain_server(tmp_path_factory: pytest.TempPathFactory, web: WebServer) -> Iterator[ServerProcess]:
    """Defaults: one filesystem store, no http store, show_multiple_locations off."""
    env = {"DAGUERRE_AUTH__STRATEGY": "trusted-headers",
           "DAGUERRE_IMPORT_FILTERING_OPTS__ALLOWED_HOSTS": "127.0.0.1",
           "DAGUERRE_IMPORT_FILTERING_OPTS__ALLOWED_PORTS": str(web.port)}  # fmt: skip
    server = ServerProcess(tmp_path_factory.mktemp("plain"), env=env).start()
    yield server
    server.stop()


@pytest.fixture
def project() -> str:
    return f"proj-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def owner(loc_server: ServerProcess, project: str) -> Iterator[Actor]:
    with Actor(loc_server.url, project, "member,reader") as actor:
        yield actor


@pytest.fixture
def reader(loc_server: ServerProcess, project: str) -> Iterator[Actor]:
    with Actor(loc_server.url, project, "reader") as actor:
        yield actor


@pytest.fixture
def stranger(loc_server: ServerProcess) -> Iterator[Actor]:
    with Actor(loc_server.url, f"other-{uuid.uuid4().hex[:8]}", "member,reader") as actor:
        yield actor


@pytest.fixture
def admin(loc_server: ServerProcess) -> Iterator[Actor]:
    with Actor(loc_server.url, "admin-project", "admin,member,reader") as actor:
        yield actor


@pytest.fixture
def service(loc_server: ServerProcess, project: str) -> Iterator[Actor]:
    """A service (e.g. Nova) acting with the owner's project and the service role."""
    with Actor(loc_server.url, project, "member,reader,service") as actor:
        yield actor


def data_dir(server: ServerProcess) -> Path:
    return server.data_dir
