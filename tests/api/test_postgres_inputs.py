"""Inputs PostgreSQL cannot take are a 400 before they reach it (each was a 500 there; SQLite took them)."""

from __future__ import annotations

import pytest

from actors import Actor
from daguerre.testing.server import ServerProcess
from pg_fixtures import pg_url  # noqa: F401

pytestmark = pytest.mark.postgres


def test_nul_in_url_and_bounds_on_postgres(tmp_path, pg_url: str, closing) -> None:  # noqa: F811
    env = {"DAGUERRE_AUTH__STRATEGY": "trusted-headers", "DAGUERRE_DATABASE__CONNECTION": pg_url}
    server = ServerProcess(tmp_path / "pg", env=env).start()
    try:
        a = closing.enter_context(Actor(server.url, "pg-inputs", "admin,member,reader"))
        for query in ("name=%00", "os_distro=a%00b", "tag=%00", "marker=%00", "id=in:%00"):
            r = a.get(f"/v2/images?{query}")
            assert r.status_code == 400, (query, r.text)
            assert "NUL" in r.json()["message"]
        for path in ("/v2/images/%00", "/v2/images/a%00b/members", "/v2/metadefs/namespaces/%00",
                     "/v2/tasks/%00", "/v2/metadefs/namespaces?marker=%00"):  # fmt: skip
            assert a.get(path).status_code == 400, path
        assert a.post("/v2/images", json={"name": "a\0b"}).status_code == 400
        # min_ram is an INTEGER column: 2**31 used to reach asyncpg and fail there.
        top = a.create(min_ram=2**31 - 1, min_disk=2**31 - 1)
        assert a.post("/v2/images", json={"min_ram": 2**31}).status_code == 400
        assert a.get("/v2/images", params={"min_ram": str(2**31)}).status_code == 400
        got = a.get("/v2/images", params={"min_ram": str(2**31 - 1), "size_max": str(2**63 - 1)})
        assert got.status_code == 200
        assert a.get("/v2/images", params={"min_ram": str(2**31 - 1)}).json()["images"][0]["id"] == top["id"]
        assert a.get("/v2/images", params={"name": "ok"}).status_code == 200
    finally:
        server.stop()
    assert "Traceback" not in server.log_tail(10**7)
