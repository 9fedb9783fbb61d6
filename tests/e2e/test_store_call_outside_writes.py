"""A store call that hangs (an RBD in-use check waiting for the whole store timeout) holds no
database write transaction: on SQLite, other writes of the same service go through meanwhile.

The server runs in this process (uvicorn on loopback, real HTTP) so that its filesystem store
can be a subclass whose in-use check waits on an event: a stall the filesystem itself cannot
produce on demand."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from daguerre.app import build_app, build_runtime, check_store_io
from daguerre.settings import load_settings
from daguerre.stores.base import StoreNotFound
from daguerre.stores.filesystem import FilesystemStore

# Writes that do not wait for the stalled call finish well within this.
QUICK = 10.0


class StallingStore(FilesystemStore):
    """A filesystem store whose in-use check, once ``stall`` is set, waits for ``release``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stall = False
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.answer: str | None = None

    async def in_use(self, key: str) -> str | None:
        if self.stall:
            self.entered.set()
            await self.release.wait()
        return self.answer


@dataclass
class Live:
    client: httpx.AsyncClient
    store: StallingStore

    async def create(self, **body) -> str:
        r = await self.client.post(
            "/v2/images", json={"disk_format": "raw", "container_format": "bare", **body}
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    async def patch(self, image_id: str, ops: list[dict]) -> httpx.Response:
        return await self.client.patch(
            f"/v2/images/{image_id}", json=ops,
            headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
        )  # fmt: skip

    async def image_with_data(self) -> str:
        image_id = await self.create(name="doomed")
        r = await self.client.put(f"/v2/images/{image_id}/file", content=b"d" * 4096,
                                  headers={"Content-Type": "application/octet-stream"})  # fmt: skip
        assert r.status_code == 204, r.text
        return image_id

    async def start_stalled_delete(self, image_id: str) -> asyncio.Task[httpx.Response]:
        self.store.stall = True
        task = asyncio.create_task(self.client.delete(f"/v2/images/{image_id}"))
        await asyncio.wait_for(self.store.entered.wait(), QUICK)
        return task


@pytest.fixture
async def live(tmp_path) -> AsyncIterator[Live]:
    settings = load_settings(env={"DAGUERRE_DEFAULT__DATA_DIR": str(tmp_path),
                                  "DAGUERRE_AUTH__STRATEGY": "trusted-headers"})  # fmt: skip
    assert settings.database_url.startswith("sqlite")
    rt = build_runtime(settings)
    store = StallingStore(rt.default_store, settings.images_dir)
    rt.stores[rt.default_store] = store
    check_store_io(rt)
    server = uvicorn.Server(uvicorn.Config(build_app(settings, runtime=rt, workers=0), lifespan="on",
                                           log_level="warning"))  # fmt: skip
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not serving.done(), "the server did not start"
        await asyncio.sleep(0.02)
    headers = {"X-Identity-Status": "Confirmed", "X-Project-Id": "stall", "X-User-Id": "u",
               "X-Roles": "member,reader", "Accept": "application/json"}  # fmt: skip
    port = sock.getsockname()[1]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as client:
        try:
            yield Live(client, store)
        finally:
            store.release.set()
            server.should_exit = True
            await asyncio.wait_for(serving, 30)
            sock.close()


async def test_writes_go_through_while_a_delete_waits_for_the_store(live: Live) -> None:
    doomed = await live.image_with_data()
    other = await live.create(name="other")
    deleting = await live.start_stalled_delete(doomed)

    # Meanwhile: a create, a PATCH of another image, and even a PATCH of the image being deleted.
    async def meanwhile() -> None:
        created = await live.create(name="created-meanwhile")
        assert (
            await live.patch(other, [{"op": "replace", "path": "/name", "value": "renamed"}])
        ).status_code == 200
        r = await live.patch(doomed, [{"op": "add", "path": "/note", "value": "still here"}])
        assert r.status_code == 200, r.text
        assert (await live.client.get(f"/v2/images/{created}")).status_code == 200

    await asyncio.wait_for(meanwhile(), QUICK)
    assert not deleting.done()

    live.store.release.set()
    r = await asyncio.wait_for(deleting, QUICK)
    # The edit made meanwhile left the data the store was asked about unchanged: the delete stands.
    assert r.status_code == 204, r.text
    assert (await live.client.get(f"/v2/images/{doomed}")).status_code == 404
    with pytest.raises(StoreNotFound):
        await live.store.stat(doomed)
    assert (await live.client.get(f"/v2/images/{other}")).json()["name"] == "renamed"


async def test_the_delete_rechecks_what_changed_while_it_waited(live: Live) -> None:
    doomed = await live.image_with_data()
    deleting = await live.start_stalled_delete(doomed)
    r = await asyncio.wait_for(
        live.patch(doomed, [{"op": "replace", "path": "/protected", "value": True}]), QUICK
    )
    assert r.status_code == 200, r.text
    live.store.release.set()
    r = await asyncio.wait_for(deleting, QUICK)
    assert r.status_code == 403 and "protected" in r.json()["message"]
    shown = (await live.client.get(f"/v2/images/{doomed}")).json()
    assert shown["status"] == "active" and shown["protected"] is True
    assert await live.store.stat(doomed) == 4096


async def test_data_in_use_is_not_deleted(live: Live) -> None:
    doomed = await live.image_with_data()
    live.store.answer = "1 clone of its snapshot"
    r = await live.client.delete(f"/v2/images/{doomed}")
    assert r.status_code == 409 and "in use" in r.json()["message"]
    assert (await live.client.get(f"/v2/images/{doomed}")).json()["status"] == "active"
    assert await live.store.stat(doomed) == 4096


async def test_the_debug_guard_refuses_store_calls_inside_write_transactions(tmp_path) -> None:
    rt = build_runtime(load_settings(env={"DAGUERRE_DEFAULT__DATA_DIR": str(tmp_path)}))
    check_store_io(rt)
    await rt.db.upgrade()
    try:
        store = rt.store()
        with pytest.raises(StoreNotFound):
            await store.stat("nothing-here")
        async with rt.db.read() as _conn:
            assert await store.in_use("nothing-here") is None
        async with rt.db.write() as _conn:
            with pytest.raises(AssertionError, match="inside a database write transaction"):
                await store.stat("nothing-here")
            with pytest.raises(AssertionError):
                await rt.staging.delete("nothing-here")
        with pytest.raises(StoreNotFound):
            await store.delete("nothing-here")
    finally:
        await rt.close()
