"""Table-driven policy matrix: role × action × ownership × visibility → status."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from actors import Actor

OWNER = "matrix-owner"

ROLES = {
    "admin": "admin,member,reader",
    "member": "member,reader",
    "reader": "reader",
}

# (role, same project as the owner?, visibility) → expected status, per action.
ACTIONS = ["show", "download", "update", "delete", "upload", "deactivate", "add_member"]


def expected(role: str, own: bool, vis: str, action: str) -> int:
    admin = role == "admin"
    visible = admin or own or vis in ("public", "community")
    if not visible:
        return 404
    if action == "show":
        return 200
    if action == "download":
        return 200 if (admin or role == "member") else 403
    if action == "add_member":
        if vis != "shared":
            return 403
        return 200 if admin or (own and role == "member") else 403
    if action == "upload":
        return 409 if admin or (own and role == "member") else 403  # image already active
    if action in ("update", "delete", "deactivate"):
        return (200 if action == "update" else 204) if admin or (own and role == "member") else 403
    raise AssertionError(action)


CASES = [
    (role, own, vis, action)
    for role in ROLES
    for own in (True, False)
    for vis in ("private", "shared", "public", "community")
    for action in ACTIONS
]


@pytest.fixture(scope="module")
def owner_admin(trusted_server) -> Iterator[Actor]:
    with Actor(trusted_server.url, OWNER, "admin,member,reader") as actor:
        yield actor


@pytest.mark.parametrize(("role", "own", "vis", "action"), CASES)
def test_matrix(trusted_server, owner_admin: Actor, role: str, own: bool, vis: str, action: str) -> None:
    image = owner_admin.create(name=f"m-{vis}", visibility=vis)
    iid = image["id"]
    assert owner_admin.upload(iid, b"payload").status_code == 204
    calls = {
        "show": lambda caller: caller.get(f"/v2/images/{iid}"),
        "download": lambda caller: caller.get(f"/v2/images/{iid}/file"),
        "update": lambda caller: caller.patch(iid, [{"op": "replace", "path": "/name", "value": "changed"}]),
        "delete": lambda caller: caller.delete(f"/v2/images/{iid}"),
        "upload": lambda caller: caller.upload(iid, b"more"),
        "deactivate": lambda caller: caller.post(f"/v2/images/{iid}/actions/deactivate"),
        "add_member": lambda caller: caller.post(f"/v2/images/{iid}/members", json={"member": "someone"}),
    }
    with Actor(
        trusted_server.url, OWNER if own else f"stranger-{uuid.uuid4().hex[:6]}", ROLES[role]
    ) as caller:
        r: httpx.Response = calls[action](caller)
    assert r.status_code == expected(role, own, vis, action), r.text


def test_operator_policy_file(tmp_path) -> None:
    from daguerre.testing.server import ServerProcess

    policy = tmp_path / "policy.yaml"
    policy.write_text('"add_image": "role:admin"\n"publicize_image": "role:admin or role:member"\n')
    server = ServerProcess(tmp_path / "data", env={
        "DAGUERRE_AUTH__STRATEGY": "trusted-headers", "DAGUERRE_OSLO_POLICY__POLICY_FILE": str(policy)}).start()  # fmt: skip
    try:
        with (
            Actor(server.url, "p1", "member,reader") as member,
            Actor(server.url, "p1", "admin,member,reader") as admin,
        ):
            assert member.post("/v2/images", json={}).status_code == 403
            image = admin.create()
            r = member.patch(image["id"], [{"op": "replace", "path": "/visibility", "value": "public"}])
            assert r.status_code == 200
    finally:
        server.stop()


def test_system_scope_token_is_refused(trusted_server) -> None:
    with Actor(trusted_server.url, "sys", "admin,member,reader") as caller:
        caller.client.headers["OpenStack-System-Scope"] = "all"
        assert caller.post("/v2/images", json={}).status_code == 403
