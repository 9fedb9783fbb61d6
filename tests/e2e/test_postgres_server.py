"""The server on PostgreSQL: a workflow, concurrent writers, and two API processes sharing state."""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import os

import pytest

from actors import Actor
from daguerre.testing.server import ServerProcess

pytestmark = pytest.mark.postgres


def test_two_servers_share_postgres(closing: contextlib.ExitStack, tmp_path, pg_url: str) -> None:
    env = {"DAGUERRE_AUTH__STRATEGY": "trusted-headers", "DAGUERRE_DATABASE__CONNECTION": pg_url,
           "DAGUERRE_GLANCE_STORE__FILESYSTEM_STORE_DATADIR": str(tmp_path / "shared-images")}  # fmt: skip
    one = ServerProcess(tmp_path / "one", env=env).start()
    two = ServerProcess(tmp_path / "two", env=env).start()
    try:
        a = closing.enter_context(Actor(one.url, "pg-proj", "member,reader"))
        b = closing.enter_context(Actor(two.url, "pg-proj", "member,reader"))
        data = os.urandom(3 * 2**20)
        image = a.create(name="pg")
        assert a.upload(image["id"], data).status_code == 204
        r = b.get(f"/v2/images/{image['id']}/file")
        assert r.status_code == 200 and hashlib.sha256(r.content).digest() == hashlib.sha256(data).digest()
        assert image["id"] in [i["id"] for i in b.get("/v2/images").json()["images"]]

        # Concurrent PATCHes through both processes: every property lands (no lost update).
        def set_prop(i: int) -> int:
            actor = a if i % 2 else b
            return actor.patch(image["id"], [{"op": "add", "path": f"/k{i}", "value": str(i)}]).status_code

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(set_prop, range(16)))
        assert codes == [200] * 16
        final = a.get(f"/v2/images/{image['id']}").json()
        assert all(final[f"k{i}"] == str(i) for i in range(16))

        # Racing uploads through two processes: exactly one wins, the other gets 409.
        racing = a.create(name="race")
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            results = list(
                pool.map(lambda actor: actor.upload(racing["id"], b"x" * 2**20).status_code, [a, b])
            )
        assert sorted(results) == [204, 409]
    finally:
        one.stop()
        two.stop()
