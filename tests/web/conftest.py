"""Fixtures for the dashboard tests: a form-speaking client (cookie jar + CSRF) and a noauth server of our own."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from webui import UI

from daguerre.testing.server import ServerProcess


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives Debian's Chromium through Playwright (needs /usr/bin/chromium)"
    )


@pytest.fixture
def ui(noauth_server: ServerProcess) -> Iterator[UI]:
    client = UI(noauth_server.url)
    yield client
    client.close()


@pytest.fixture
def api(noauth_server: ServerProcess) -> Iterator[httpx.Client]:
    """The Images API of the same noauth server (no identity headers needed)."""
    with httpx.Client(
        base_url=noauth_server.url, headers={"Accept": "application/json"}, timeout=60
    ) as client:
        yield client


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A noauth server of this module's own (for memory measurements and the browser)."""
    server = ServerProcess(tmp_path_factory.mktemp("web")).start()
    yield server
    server.stop()
