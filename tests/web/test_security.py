"""CSRF and the session cookie: every POST needs the token of a valid session; the cookie is locked down."""

from __future__ import annotations

import httpx
import pytest
from webui import UI

from daguerre.testing.server import ServerProcess


def _status(api: httpx.Client, image_id: str) -> dict:
    return api.get(f"/v2/images/{image_id}").json()


def test_session_cookie_flags(ui: UI) -> None:
    r = ui.get("/ui/images")
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("daguerre_session=")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert "httponly" in flags and "samesite=strict" in flags and "path=/ui" in flags
    assert not any(f.startswith("secure") for f in flags)  # plain http on loopback
    # The session is kept, not re-issued on every page.
    assert "set-cookie" not in ui.get("/ui/images").headers


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/ui/images/create", {"name": "x", "disk_format": "raw", "container_format": "bare"}),
        ("/ui/images/{id}/edit", {"name": "changed"}),
        ("/ui/images/{id}/properties", {"key": "k", "value": "v"}),
        ("/ui/images/{id}/tags", {"tag": "t"}),
        ("/ui/images/{id}/delete", {}),
        ("/ui/images/{id}/members", {"member": "someone"}),
    ],
)
def test_post_without_csrf_token_is_refused(ui: UI, api: httpx.Client, path: str, form: dict) -> None:
    image_id = ui.create(name="csrf-target", visibility="shared")
    before = _status(api, image_id)
    r = ui.post(path.format(id=image_id), form, csrf=False)
    assert r.status_code == 403
    assert "security token" in r.text
    r = ui.post(path.format(id=image_id), {**form, "csrf_token": "forged"})
    assert r.status_code == 403
    after = _status(api, image_id)
    assert after == before  # nothing changed


def test_token_without_its_session_is_refused(
    noauth_server: ServerProcess, ui: UI, api: httpx.Client
) -> None:
    image_id = ui.create(name="csrf-cookie")
    token = ui.csrf()
    with httpx.Client(base_url=noauth_server.url) as stranger:  # has the token (say, leaked) but no cookie
        r = stranger.post(f"/ui/images/{image_id}/delete", data={"csrf_token": token})
        assert r.status_code == 403
        stranger.cookies.set("daguerre_session", "e30.forged-signature", path="/ui")
        r = stranger.post(f"/ui/images/{image_id}/delete", data={"csrf_token": token})
        assert r.status_code == 403
    assert _status(api, image_id)["status"] == "queued"


def test_tampered_cookie_is_a_new_session(ui: UI) -> None:
    ui.get("/ui/images/create")
    old = ui.client.cookies.get("daguerre_session")
    payload, sig = old.split(".")
    ui.client.cookies.clear()
    ui.client.cookies.set("daguerre_session", payload + "x." + sig, path="/ui")
    r = ui.client.get("/ui/images")
    assert "daguerre_session=" in r.headers.get("set-cookie", "")  # a fresh session replaces the bad one


def test_cross_origin_post_is_refused_even_with_token(ui: UI, api: httpx.Client) -> None:
    image_id = ui.create(name="csrf-origin")
    r = ui.post(f"/ui/images/{image_id}/delete", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "another site" in r.text
    r = ui.post(f"/ui/images/{image_id}/delete", headers={"Origin": "null"})
    assert r.status_code == 403
    assert _status(api, image_id)["status"] == "queued"
    r = ui.post(f"/ui/images/{image_id}/delete", headers={"Origin": ui.base_url})
    assert r.status_code == 303


def test_upload_needs_the_csrf_header(ui: UI, api: httpx.Client) -> None:
    image_id = ui.create(name="csrf-upload")
    r = ui.upload(image_id, b"payload", **{"X-CSRF-Token": "wrong"})
    assert r.status_code == 403 and "security token" in r.json()["message"]
    r = ui.client.post(f"/ui/images/{image_id}/upload", content=b"payload",
                       headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    assert r.status_code == 403
    assert _status(api, image_id)["status"] == "queued"
    assert ui.upload(image_id, b"payload").status_code == 200


def test_logout_and_login_pages_outside_keystone_mode(ui: UI) -> None:
    r = ui.get("/ui/login")
    assert r.status_code == 303 and r.headers["location"] == "/ui/images"
    r = ui.post("/ui/logout")
    assert r.status_code == 303
    r = ui.post("/ui/logout", csrf=False)
    assert r.status_code == 403
