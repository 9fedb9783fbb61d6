"""Who may read and write metadefs: admin writes; readers read public namespaces and their own
project's; namespaces a caller cannot read answer 404, and readable ones refuse writes with 403."""

from __future__ import annotations

import contextlib

import httpx
import pytest
from md_helpers import MD, NS, Namespaces, unique

from actors import Actor


@pytest.fixture
def world(admin: Actor, namespaces: Namespaces, project: str) -> dict[str, str]:
    content = {
        "properties": {"p": {"title": "P", "type": "string"}},
        "objects": [{"name": "o"}],
        "tags": [{"name": "t"}],
        "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "x_"}],
    }
    return {
        "public": namespaces.create(visibility="public", **content)["namespace"],
        "private_admin": namespaces.create(visibility="private", **content)["namespace"],
        "private_mine": namespaces.create(visibility="private", owner=project, **content)["namespace"],
    }


def _reads(ns: str) -> list[tuple[str, str]]:
    base = f"{NS}/{ns}"
    return [
        ("GET", base),
        ("GET", base + "?resource_type=OS::Glance::Image"),
        ("GET", base + "/objects"),
        ("GET", base + "/objects/o"),
        ("GET", base + "/properties"),
        ("GET", base + "/properties/p"),
        ("GET", base + "/properties/x_p?resource_type=OS::Glance::Image"),
        ("GET", base + "/tags"),
        ("GET", base + "/tags/t"),
        ("GET", base + "/resource_types"),
    ]


def _writes(ns: str) -> list[tuple[str, str, dict | None]]:
    base = f"{NS}/{ns}"
    return [
        ("PUT", base, {"namespace": ns, "visibility": "public"}),
        ("DELETE", base, None),
        ("DELETE", base + "/objects", None),
        ("DELETE", base + "/properties", None),
        ("DELETE", base + "/tags", None),
        ("POST", base + "/objects", {"name": "new"}),
        ("PUT", base + "/objects/o", {"name": "o"}),
        ("DELETE", base + "/objects/o", None),
        ("POST", base + "/properties", {"name": "new", "title": "N", "type": "string"}),
        ("PUT", base + "/properties/p", {"name": "p", "title": "P", "type": "string"}),
        ("DELETE", base + "/properties/p", None),
        ("POST", base + "/tags", {"tags": [{"name": "new"}]}),
        ("POST", base + "/tags/new", None),
        ("PUT", base + "/tags/t", {"name": "t2"}),
        ("DELETE", base + "/tags/t", None),
        ("POST", base + "/resource_types", {"name": "OS::Nova::Server"}),
        ("DELETE", base + "/resource_types/OS::Glance::Image", None),
    ]


def _call(who: Actor, method: str, url: str, body: dict | None = None) -> httpx.Response:
    return who.request(method, url, json=body) if body is not None else who.request(method, url)


@pytest.mark.parametrize("who", ["reader", "member"])
def test_readers_read_public_and_own(request, world: dict[str, str], who: str) -> None:
    actor: Actor = request.getfixturevalue(who)
    for ns in (world["public"], world["private_mine"]):
        for method, url in _reads(ns):
            assert _call(actor, method, url).status_code == 200, (who, url)
    for method, url in _reads(world["private_admin"]):
        assert _call(actor, method, url).status_code == 404, (who, url)


@pytest.mark.parametrize("who", ["reader", "member"])
def test_non_admins_cannot_write(request, admin: Actor, world: dict[str, str], who: str) -> None:
    actor: Actor = request.getfixturevalue(who)
    for key, expected in (("public", 403), ("private_mine", 403), ("private_admin", 404)):
        for method, url, body in _writes(world[key]):
            assert _call(actor, method, url, body).status_code == expected, (who, key, method, url)
    assert actor.post(NS, json={"namespace": unique()}).status_code == 403
    # Nothing changed.
    shown = admin.get(f"{NS}/{world['public']}").json()
    assert shown["tags"] == [{"name": "t"}] and [o["name"] for o in shown["objects"]] == ["o"]


def test_other_project_sees_only_public(other: Actor, world: dict[str, str]) -> None:
    assert other.get(f"{NS}/{world['public']}").status_code == 200
    for key in ("private_mine", "private_admin"):
        for method, url in _reads(world[key]):
            assert _call(other, method, url).status_code == 404, url
    listed = {n["namespace"] for n in other.get(NS, params={"limit": 1000}).json()["namespaces"]}
    assert (
        world["public"] in listed
        and world["private_mine"] not in listed
        and world["private_admin"] not in listed
    )
    assert other.get(NS, params={"marker": world["private_mine"]}).status_code == 404


def test_listing_by_role(admin: Actor, reader: Actor, world: dict[str, str]) -> None:
    everything = {n["namespace"] for n in admin.get(NS, params={"limit": 1000}).json()["namespaces"]}
    assert set(world.values()) <= everything
    mine = {n["namespace"] for n in reader.get(NS, params={"limit": 1000}).json()["namespaces"]}
    assert world["public"] in mine and world["private_mine"] in mine and world["private_admin"] not in mine
    private = reader.get(NS, params={"visibility": "private", "limit": 1000}).json()["namespaces"]
    assert [n["namespace"] for n in private] == [world["private_mine"]]


def test_admin_reads_everything(admin: Actor, world: dict[str, str]) -> None:
    for ns in world.values():
        for method, url in _reads(ns):
            assert _call(admin, method, url).status_code == 200, url


def test_no_reader_role(
    closing: contextlib.ExitStack, trusted_server, world: dict[str, str], project: str
) -> None:
    nobody = closing.enter_context(Actor(trusted_server.url, project, ""))
    assert nobody.get(NS).status_code == 403
    assert nobody.get(f"{MD}/resource_types").status_code == 403
    assert nobody.get(f"{NS}/{world['public']}").status_code == 404
    assert nobody.get(f"{NS}/{world['private_mine']}").status_code == 404


def test_unauthenticated(anon: httpx.Client) -> None:
    assert anon.get(NS).status_code == 401
    assert anon.get(f"{MD}/resource_types").status_code == 401
