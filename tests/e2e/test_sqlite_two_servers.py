"""Two API processes on one SQLite file. SQLite runs inline on each event loop and a write that
finds the other process holding the lock retries with asyncio sleeps: under concurrent writes
through both processes nothing may fail with "database is locked" and no update may be lost."""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import os

from actors import Actor
from daguerre.testing.server import ServerProcess


def test_two_servers_share_sqlite(closing: contextlib.ExitStack, tmp_path) -> None:
    env = {
        "DAGUERRE_AUTH__STRATEGY": "trusted-headers",
        "DAGUERRE_DATABASE__CONNECTION": f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}",
        "DAGUERRE_GLANCE_STORE__FILESYSTEM_STORE_DATADIR": str(tmp_path / "shared-images"),
    }
    one = ServerProcess(tmp_path / "one", env=env).start()
    two = ServerProcess(tmp_path / "two", env=env).start()
    try:
        a = closing.enter_context(Actor(one.url, "lite", "member,reader"))
        b = closing.enter_context(Actor(two.url, "lite", "member,reader"))
        image = a.create(name="shared")
        data = os.urandom(2 * 2**20)
        assert a.upload(image["id"], data).status_code == 204
        r = b.get(f"/v2/images/{image['id']}/file")
        assert r.status_code == 200 and hashlib.sha256(r.content).digest() == hashlib.sha256(data).digest()

        def patch(i: int) -> int:
            actor = a if i % 2 else b
            return actor.patch(image["id"], [{"op": "add", "path": f"/k{i}", "value": str(i)}]).status_code

        def create(i: int) -> int:
            actor = a if i % 2 else b
            return actor.post("/v2/images", json={"name": f"c{i}"}).status_code

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            patches = pool.map(patch, range(24))
            creates = pool.map(create, range(60))
            patch_codes, create_codes = list(patches), list(creates)
        assert patch_codes == [200] * 24
        assert create_codes == [201] * 60
        final = b.get(f"/v2/images/{image['id']}").json()
        assert all(final[f"k{i}"] == str(i) for i in range(24))
        names = {i["name"] for i in a.get("/v2/images?limit=1000").json()["images"]}
        assert {f"c{i}" for i in range(60)} <= names

        racing = a.create(name="race")
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            codes = list(pool.map(lambda actor: actor.upload(racing["id"], b"x" * 2**20).status_code, [a, b]))
        assert sorted(codes) == [204, 409]
    finally:
        one.stop()
        two.stop()
