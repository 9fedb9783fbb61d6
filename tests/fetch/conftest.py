"""Fixtures for the fetcher tests (helpers live in fetch_servers.py)."""

from __future__ import annotations

import asyncio

import pytest
from fetch_servers import ConnectRecorder, Handler, LocalServer

from daguerre.fetch import client


@pytest.fixture
async def make_server():
    servers: list[LocalServer] = []

    async def factory(handler: Handler | None, host: str = "127.0.0.1", ssl=None) -> LocalServer:
        server = await LocalServer(handler, host).start(ssl=ssl)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        await server.close()


@pytest.fixture
def connect_recorder(monkeypatch) -> ConnectRecorder:
    recorder = ConnectRecorder(asyncio.open_connection)
    monkeypatch.setattr(client, "_open_connection", recorder)
    return recorder
