"""daguerre.auth.keystone.KeystoneAuthenticator against a real Keystone (see conftest.py)."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from daguerre.auth.keystone import AuthFailed, KeystoneAuthenticator, KeystoneUnavailable

ADMIN_PASSWORD = "admin-secret"  # as conftest passes to keystone-up.sh
USER_PASSWORD = "user-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def admin_session(ks) -> ks_session.Session:
    auth = v3.Password(
        auth_url=ks.url,
        username="admin",
        password=ADMIN_PASSWORD,
        project_name="admin",
        user_domain_id="default",
        project_domain_id="default",
    )
    return ks_session.Session(auth=auth)


EP = {"endpoint_filter": {"service_type": "identity", "interface": "public"}}


@dataclass
class Cloud:
    ks: Any
    admin: ks_session.Session
    project_id: str
    project_name: str
    users: dict[str, str]  # name -> id

    def token(self, user: str, *, project: bool = True, system: bool = False, domain: bool = False) -> str:
        kwargs: dict[str, str] = {}
        if system:
            kwargs["system_scope"] = "all"
        elif domain:
            kwargs["domain_id"] = "default"
        elif project:
            kwargs.update(project_id=self.project_id)
        auth = v3.Password(
            auth_url=self.ks.url,
            username=user,
            password=ADMIN_PASSWORD if user == "admin" else USER_PASSWORD,
            user_domain_id="default",
            **kwargs,
        )
        return ks_session.Session(auth=auth).get_token()

    def revoke(self, token: str) -> None:
        self.admin.delete("/auth/tokens", headers={"X-Subject-Token": token}, **EP)


def make_cloud(ks) -> Cloud:
    admin = admin_session(ks)

    def role_id(name: str) -> str:
        return admin.get("/roles", params={"name": name}, **EP).json()["roles"][0]["id"]

    name = f"demo-{uuid.uuid4().hex[:8]}"
    project = admin.post("/projects", json={"project": {"name": name, "domain_id": "default"}}, **EP).json()
    pid = project["project"]["id"]
    users = {}
    for user, role in (("alice", "member"), ("rita", "reader"), ("carol", "admin")):
        uname = f"{user}-{name}"
        body = {"user": {"name": uname, "domain_id": "default", "password": USER_PASSWORD}}
        uid = admin.post("/users", json=body, **EP).json()["user"]["id"]
        admin.put(f"/projects/{pid}/users/{uid}/roles/{role_id(role)}", **EP)
        users[user] = uname
        users[user + "_id"] = uid
    # carol also holds a role on the Default domain, for a domain-scoped token.
    admin.put(f"/domains/default/users/{users['carol_id']}/roles/{role_id('reader')}", **EP)
    # admin's own project-scoped role is on the admin project; give it none on demo.
    return Cloud(ks, admin, pid, name, users)


@pytest.fixture(scope="module")
def cloud(keystone) -> Cloud:
    return make_cloud(keystone)


@pytest.fixture
def authenticator(keystone):
    a = KeystoneAuthenticator(keystone.authtoken_options())
    yield a
    a.close()


async def test_member_token_gives_project_identity_with_implied_reader(cloud: Cloud, authenticator) -> None:
    ident = await authenticator.identify(cloud.token(cloud.users["alice"]))
    assert ident.user_id == cloud.users["alice_id"]
    assert ident.user_name == cloud.users["alice"]
    assert ident.project_id == cloud.project_id
    assert ident.project_name == cloud.project_name
    assert ident.user_domain_id == "default"
    assert ident.project_domain_id == "default"
    assert ident.roles == frozenset({"member", "reader"})
    assert ident.system_scope is None
    assert ident.domain_id is None
    # No [resource] admin_project_name configured: Keystone omits it, keystonemiddleware says True.
    assert ident.is_admin_project is True


async def test_reader_and_admin_roles(cloud: Cloud, authenticator) -> None:
    reader = await authenticator.identify(cloud.token(cloud.users["rita"]))
    assert reader.roles == frozenset({"reader"})
    admin = await authenticator.identify(cloud.token(cloud.users["carol"]))
    # Keystone 30: admin implies manager implies member implies reader; all lowercased.
    assert {"admin", "member", "reader"} <= admin.roles
    assert all(r == r.lower() for r in admin.roles)
    assert admin.project_id == cloud.project_id


async def test_system_scoped_token(cloud: Cloud, authenticator) -> None:
    ident = await authenticator.identify(cloud.token("admin", system=True))
    assert ident.system_scope == "all"
    assert ident.project_id is None
    assert ident.user_name == "admin"
    assert "admin" in ident.roles and "reader" in ident.roles


async def test_domain_scoped_token(cloud: Cloud, authenticator) -> None:
    ident = await authenticator.identify(cloud.token(cloud.users["carol"], domain=True))
    assert ident.domain_id == "default"
    assert ident.project_id is None
    assert ident.system_scope is None
    assert ident.roles == frozenset({"reader"})


async def test_bad_tokens_are_refused(cloud: Cloud, authenticator) -> None:
    good = cloud.token(cloud.users["alice"])
    for bad in ("not-a-token", "gAAAAAB" + "x" * 180, good[:-4] + "AAAA"):
        with pytest.raises(AuthFailed):
            await authenticator.identify(bad)
    # Malformed before any Keystone call: empty, non-ASCII, control characters, absurdly long.
    before = authenticator.validations
    for junk in ("", "tök€n", "abc\r\nX-Evil: 1", "a" * 20000):
        with pytest.raises(AuthFailed):
            await authenticator.identify(junk)
    assert authenticator.validations == before


async def test_invalid_token_is_negatively_cached(authenticator) -> None:
    with pytest.raises(AuthFailed):
        await authenticator.identify("gAAAAAB-made-up")
    n = authenticator.validations
    with pytest.raises(AuthFailed):
        await authenticator.identify("gAAAAAB-made-up")
    assert authenticator.validations == n


async def test_cache_serves_revoked_token_until_ttl(cloud: Cloud, keystone) -> None:
    # The cache's clock is injected, so the TTL window does not depend on how loaded the machine is.
    skew = [0.0]
    a = KeystoneAuthenticator(
        keystone.authtoken_options(token_cache_time="30"), clock=lambda: time.time() + skew[0]
    )
    token = cloud.token(cloud.users["alice"])
    first = await a.identify(token)
    assert a.validations == 1
    assert await a.identify(token) == first
    assert a.validations == 1  # cache hit: Keystone not asked

    cloud.revoke(token)
    fresh = KeystoneAuthenticator(keystone.authtoken_options(token_cache_time="0"))
    with pytest.raises(AuthFailed):  # Keystone itself refuses it now
        await fresh.identify(token)

    skew[0] = 25.0  # still within the 30 s TTL: served from the cache
    assert await a.identify(token) == first
    assert a.validations == 1

    skew[0] = 31.0  # past the TTL: asked again, and refused
    with pytest.raises(AuthFailed):
        await a.identify(token)
    assert a.validations == 2
    a.close()
    fresh.close()


async def test_concurrent_requests_share_one_validation(cloud: Cloud, authenticator) -> None:
    token = cloud.token(cloud.users["rita"])
    results = await asyncio.gather(*(authenticator.identify(token) for _ in range(10)))
    assert len(set(results)) == 1
    assert authenticator.validations == 1


async def test_cache_is_bounded(cloud: Cloud, keystone) -> None:
    a = KeystoneAuthenticator(keystone.authtoken_options(token_cache_size="2"))
    t1, t2, t3 = (cloud.token(cloud.users[u]) for u in ("alice", "rita", "carol"))
    for t in (t1, t2, t3):
        await a.identify(t)
    assert a.validations == 3
    await a.identify(t3)
    await a.identify(t2)
    assert a.validations == 3
    await a.identify(t1)  # least recently used: evicted
    assert a.validations == 4
    a.close()


async def test_cache_disabled(cloud: Cloud, keystone) -> None:
    a = KeystoneAuthenticator(keystone.authtoken_options(token_cache_time="0"))
    token = cloud.token(cloud.users["alice"])
    await a.identify(token)
    await a.identify(token)
    assert a.validations == 2
    a.close()


@pytest.mark.slow  # a second Keystone, then waiting 11 s for a token to expire
async def test_expired_token_is_refused_even_if_cached(short_lived_keystone) -> None:
    ks = short_lived_keystone
    cloud = make_cloud(ks)
    a = KeystoneAuthenticator(ks.authtoken_options(token_cache_time="300"))
    token = cloud.token(cloud.users["alice"])
    t0 = time.monotonic()
    ident = await a.identify(token)
    assert ident.project_id == cloud.project_id
    assert await a.identify(token) == ident
    assert a.validations == 1
    # [token] expiration = 10 there: the cached entry must not outlive the token.
    await asyncio.sleep(max(0.0, 11.0 - (time.monotonic() - t0)))
    with pytest.raises(AuthFailed):
        await a.identify(token)
    assert a.validations == 2
    a.close()


async def test_keystone_unreachable(keystone) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v3"
    a = KeystoneAuthenticator(keystone.authtoken_options(auth_url=dead, http_request_max_retries="0"))
    with pytest.raises(KeystoneUnavailable):
        await a.identify("gAAAAAB-anything")
    a.close()


async def test_wrong_service_password_is_unavailable_not_auth_failed(cloud: Cloud, keystone) -> None:
    a = KeystoneAuthenticator(keystone.authtoken_options(password="wrong"))
    with pytest.raises(KeystoneUnavailable):
        await a.identify(cloud.token(cloud.users["alice"]))
    a.close()


def test_www_authenticate(keystone) -> None:
    a = KeystoneAuthenticator(keystone.authtoken_options())
    assert a.www_authenticate == f'Keystone uri="{keystone.url}"'
    b = KeystoneAuthenticator(
        {k: v for k, v in keystone.authtoken_options().items() if k != "www_authenticate_uri"}
    )
    assert b.www_authenticate == f'Keystone uri="{keystone.url}"'


def test_bad_options() -> None:
    with pytest.raises(ValueError):
        KeystoneAuthenticator({"auth_type": "no-such-plugin", "auth_url": "http://127.0.0.1:1/v3"})
    with pytest.raises(ValueError):
        KeystoneAuthenticator({"auth_type": "password", "username": "x", "password": "y"})
