"""keystone mode: the login form, the token kept in the signed session, validated on every request.

The first tests need no Keystone (an unreachable auth_url). The last ones run a real Keystone
(scripts/openstack/keystone-up.sh, as tests/openstack do) and are skipped without .venv-openstack.
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from webui import UI

from daguerre.testing.server import ServerProcess

OPENSTACK_CONFTEST = Path(__file__).resolve().parents[1] / "openstack" / "conftest.py"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keystone_env(options: dict[str, str]) -> dict[str, str]:
    env = {"DAGUERRE_AUTH__STRATEGY": "keystone"}
    env.update({f"DAGUERRE_KEYSTONE_AUTHTOKEN__{k.upper()}": v for k, v in options.items()})
    return env


@pytest.fixture(scope="module")
def dark_keystone_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """keystone mode with nobody listening at the auth_url."""
    url = f"http://127.0.0.1:{_closed_port()}/v3"
    env = _keystone_env({"auth_url": url, "www_authenticate_uri": url, "username": "svc", "password": "x",
                         "project_name": "service", "user_domain_name": "Default",
                         "project_domain_name": "Default", "http_request_max_retries": "0"})  # fmt: skip
    server = ServerProcess(tmp_path_factory.mktemp("ks-dark"), env=env).start()
    yield server
    server.stop()


def test_pages_send_you_to_the_login_form(
    closing: contextlib.ExitStack, dark_keystone_server: ServerProcess
) -> None:
    ui = closing.enter_context(UI(dark_keystone_server.url))
    r = ui.get("/ui/images?tag=x")
    assert r.status_code == 303
    target = urlsplit(r.headers["location"])
    assert target.path == "/ui/login" and parse_qs(target.query)["next"] == ["/ui/images?tag=x"]
    page = ui.get(r.headers["location"])
    assert page.status_code == 200
    for label in ("User name", "Password", "Project", "Domain"):
        assert f">{label}</label>" in page.text
    assert 'type="password"' in page.text and 'value="/ui/images?tag=x"' in page.text
    # The API itself is untouched: no token, 401.
    assert httpx.get(dark_keystone_server.url + "/v2/images").status_code == 401


def test_login_needs_csrf_and_fields(
    closing: contextlib.ExitStack, dark_keystone_server: ServerProcess
) -> None:
    ui = closing.enter_context(UI(dark_keystone_server.url))
    ui.get("/ui/login")
    r = ui.post("/ui/login", {"user": "u", "password": "p", "project": "x"}, csrf=False)
    assert r.status_code == 403
    r = ui.post("/ui/login", {"user": "", "password": "", "project": ""})
    assert r.status_code == 400 and "required" in r.text


def test_unreachable_keystone_is_a_503_page(
    closing: contextlib.ExitStack, dark_keystone_server: ServerProcess
) -> None:
    ui = closing.enter_context(UI(dark_keystone_server.url))
    ui.get("/ui/login")
    r = ui.post(
        "/ui/login", {"user": "alice", "password": "s3cret-pw", "project": "demo", "domain": "Default"}
    )
    assert r.status_code == 503
    assert "cannot be reached" in r.text
    assert "s3cret-pw" not in r.text and 'value="alice"' in r.text


def test_upload_without_login_is_401_json(
    closing: contextlib.ExitStack, dark_keystone_server: ServerProcess
) -> None:
    ui = closing.enter_context(UI(dark_keystone_server.url))
    ui.get("/ui/login")
    r = ui.upload(str(uuid.uuid4()), b"x")
    assert r.status_code == 401 and "log in" in r.json()["message"]


# --- against a real Keystone -----------------------------------------------------------------


def _openstack_helpers():
    spec = importlib.util.spec_from_file_location("daguerre_openstack_conftest", OPENSTACK_CONFTEST)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # its dataclasses look their module up
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture(scope="module")
def real_keystone(tmp_path_factory: pytest.TempPathFactory):
    helpers = _openstack_helpers()
    if not (helpers.VENV / "bin" / "keystone-manage").exists():
        pytest.skip(f"{helpers.VENV} is absent: run scripts/openstack/setup.sh to install Keystone")
    ks = helpers._up(tmp_path_factory.mktemp("ks-web"), helpers.free_port())
    yield ks, helpers
    helpers._down(ks)


@pytest.fixture(scope="module")
def cloud(real_keystone) -> dict[str, str]:
    """A project with a member user, made through Keystone's API as admin."""
    from keystoneauth1 import session as ks_session
    from keystoneauth1.identity import v3

    ks, helpers = real_keystone
    admin = ks_session.Session(auth=v3.Password(auth_url=ks.url, username="admin", password=helpers.ADMIN_PASSWORD,
                                                project_name="admin", user_domain_id="default",
                                                project_domain_id="default"))  # fmt: skip
    ep = {"endpoint_filter": {"service_type": "identity", "interface": "public"}}
    name = f"web-{uuid.uuid4().hex[:8]}"
    pid = admin.post("/projects", json={"project": {"name": name, "domain_id": "default"}}, **ep).json()[
        "project"
    ]["id"]
    user = f"walt-{name}"
    uid = admin.post(
        "/users", json={"user": {"name": user, "domain_id": "default", "password": "walt-pw"}}, **ep
    ).json()["user"]["id"]
    role = admin.get("/roles", params={"name": "member"}, **ep).json()["roles"][0]["id"]
    admin.put(f"/projects/{pid}/users/{uid}/roles/{role}", **ep)
    return {"project": name, "project_id": pid, "user": user, "password": "walt-pw"}


@pytest.fixture(scope="module")
def ks_server(real_keystone, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    ks, _ = real_keystone
    # No token cache: a revoked token must end the dashboard session on the next request.
    env = _keystone_env(ks.authtoken_options(token_cache_time="0"))
    server = ServerProcess(tmp_path_factory.mktemp("ks-web-server"), env=env).start()
    yield server
    server.stop()


def _login(
    ui: UI, cloud: dict[str, str], password: str | None = None, nxt: str = "/ui/images"
) -> httpx.Response:
    ui.get("/ui/login")
    return ui.post("/ui/login", {"user": cloud["user"], "password": password or cloud["password"],
                                 "project": cloud["project"], "domain": "Default", "next": nxt})  # fmt: skip


def test_wrong_password_is_a_401_page(
    closing: contextlib.ExitStack, ks_server: ServerProcess, cloud: dict[str, str]
) -> None:
    r = _login(closing.enter_context(UI(ks_server.url)), cloud, password="not-it")
    assert r.status_code == 401 and "is wrong" in r.text


def test_login_browse_create_logout(
    closing: contextlib.ExitStack, ks_server: ServerProcess, cloud: dict[str, str]
) -> None:
    ui = closing.enter_context(UI(ks_server.url))
    r = _login(ui, cloud, nxt="/ui/images/create")
    assert r.status_code == 303 and r.headers["location"] == "/ui/images/create"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    ui.token = None  # login starts a new session: a new CSRF token
    page = ui.get("/ui/images").text
    assert cloud["user"] in page and cloud["project"] in page and "Log out" in page
    image_id = ui.create(name="made-in-keystone-mode", visibility="private")
    detail = ui.get(f"/ui/images/{image_id}").text
    assert cloud["project_id"] in detail  # owner is the token's project
    r = ui.post("/ui/logout")
    assert r.status_code == 303 and r.headers["location"] == "/ui/login?notice=logged-out"
    assert ui.get("/ui/images").status_code == 303  # back to the login form


def test_revoked_token_ends_the_session(
    closing: contextlib.ExitStack, ks_server: ServerProcess, cloud: dict[str, str], real_keystone
) -> None:
    from daguerre.web.session import SessionCodec, load_key

    ui = closing.enter_context(UI(ks_server.url))
    assert _login(ui, cloud).status_code == 303
    assert ui.get("/ui/images").status_code == 200
    # Read the token from our own cookie (the test holds the server's key file) and revoke it.
    session = SessionCodec(load_key(ks_server.data_dir)).decode(ui.client.cookies.get("daguerre_session"))
    assert session is not None and session.token
    ks, helpers = real_keystone
    from keystoneauth1 import session as ks_session
    from keystoneauth1.identity import v3

    admin = ks_session.Session(auth=v3.Password(auth_url=ks.url, username="admin", password=helpers.ADMIN_PASSWORD,
                                                project_name="admin", user_domain_id="default",
                                                project_domain_id="default"))  # fmt: skip
    admin.delete("/auth/tokens", headers={"X-Subject-Token": session.token},
                 endpoint_filter={"service_type": "identity", "interface": "public"})  # fmt: skip
    r = ui.get("/ui/images")
    assert r.status_code == 303 and "expired=1" in r.headers["location"]
    assert "session has expired" in ui.get(r.headers["location"]).text
