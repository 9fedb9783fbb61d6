"""trusted-headers mode: the dashboard takes the proxy's identity headers, and the API's policy applies."""

from __future__ import annotations

import contextlib
import re
import uuid

from webui import UI

from actors import Actor
from daguerre.testing.server import ServerProcess


def _headers(project: str, roles: str) -> dict[str, str]:
    return {"X-Identity-Status": "Confirmed", "X-Project-Id": project, "X-User-Id": f"user-of-{project}",
            "X-User-Name": f"name-of-{project}", "X-Roles": roles}  # fmt: skip


def _ui(
    closing: contextlib.ExitStack, server: ServerProcess, project: str, roles: str = "member,reader"
) -> UI:
    return closing.enter_context(UI(server.url, _headers(project, roles)))


def test_without_identity_headers_is_401_page(
    closing: contextlib.ExitStack, trusted_server: ServerProcess
) -> None:
    anon = closing.enter_context(UI(trusted_server.url))
    r = anon.get("/ui/images")
    assert r.status_code == 401
    assert "X-Identity-Status is not Confirmed" in r.text and "authenticating proxy" in r.text
    assert r.headers["content-type"].startswith("text/html")
    r = anon.client.post(f"/ui/images/{uuid.uuid4()}/upload", content=b"x", headers={"X-CSRF-Token": "x"})
    assert r.status_code == 403  # CSRF is checked first: no session, no upload


def test_pages_act_as_the_header_identity(
    closing: contextlib.ExitStack, trusted_server: ServerProcess, project: str
) -> None:
    ui = _ui(closing, trusted_server, project)
    page = ui.get("/ui/images").text
    assert f"name-of-{project}" in page and project in page and "member, reader" in page
    image_id = ui.create(name="mine", visibility="private")
    owner = closing.enter_context(Actor(trusted_server.url, project, "member,reader"))
    assert owner.get(f"/v2/images/{image_id}").json()["owner"] == project
    stranger = _ui(closing, trusted_server, f"other-{uuid.uuid4().hex[:8]}")
    r = stranger.get(f"/ui/images/{image_id}")
    assert r.status_code == 404  # private to another project: invisible, as in the API
    assert image_id not in stranger.get("/ui/images").text


def test_reader_cannot_create_or_edit(
    closing: contextlib.ExitStack, trusted_server: ServerProcess, project: str
) -> None:
    owner = _ui(closing, trusted_server, project)
    image_id = owner.create(name="read-only-for-readers", visibility="private")
    reader = _ui(closing, trusted_server, project, "reader")
    assert reader.get(f"/ui/images/{image_id}").status_code == 200
    r = reader.post("/ui/images/create", {"name": "nope", "disk_format": "raw", "container_format": "bare"})
    assert r.status_code == 403
    r = reader.post(f"/ui/images/{image_id}/properties", {"key": "a", "value": "b"})
    assert r.status_code == 403 and '<h2 id="props-h">' in r.text
    r = reader.post(f"/ui/images/{image_id}/delete")
    assert r.status_code == 403


def test_member_can_not_publicize(
    closing: contextlib.ExitStack, trusted_server: ServerProcess, project: str
) -> None:
    ui = _ui(closing, trusted_server, project)
    r = ui.post(
        "/ui/images/create",
        {"name": "pub", "disk_format": "raw", "container_format": "bare", "visibility": "public"},
    )
    assert r.status_code == 403
    assert "You are not authorized to complete publicize_image action." in r.text
    assert 'value="pub"' in r.text  # the form comes back as typed


def test_sharing_with_a_project_and_accepting(
    closing: contextlib.ExitStack, trusted_server: ServerProcess, project: str
) -> None:
    owner = _ui(closing, trusted_server, project)
    other_project = f"consumer-{uuid.uuid4().hex[:8]}"
    consumer = _ui(closing, trusted_server, other_project)
    image_id = owner.create(name="to-share", visibility="shared")

    page = owner.get(f"/ui/images/{image_id}").text
    assert "Not shared with any project yet." in page
    r = owner.post(f"/ui/images/{image_id}/members", {"member": other_project})
    page = owner.follow(r).text
    assert "Project added as a member." in page and other_project in page and ">pending<" in page
    r = owner.post(f"/ui/images/{image_id}/members", {"member": other_project})
    assert r.status_code == 409 and "already exists" in r.text

    # The consumer sees the pending share under "Shared with me: pending", and accepts it.
    listed = consumer.get("/ui/images", params={"visibility": "shared", "member_status": "pending"}).text
    assert image_id in listed
    assert image_id not in consumer.get("/ui/images").text
    page = consumer.get(f"/ui/images/{image_id}").text
    assert "Your membership is <strong>pending</strong>" in page
    assert "Not shared with any project yet." not in page and 'name="member"' not in page  # no owner controls
    r = consumer.post(f"/ui/images/{image_id}/members/{other_project}/status", {"status": "accepted"})
    page = consumer.follow(r).text
    assert "Membership updated." in page and "Your membership is <strong>accepted</strong>" in page
    assert image_id in consumer.get("/ui/images").text

    # Only the member sets its status; only the owner removes it.
    r = owner.post(f"/ui/images/{image_id}/members/{other_project}/status", {"status": "rejected"})
    assert r.status_code == 403
    r = consumer.post(f"/ui/images/{image_id}/members/{other_project}/delete")
    assert r.status_code == 403
    r = owner.post(f"/ui/images/{image_id}/members/{other_project}/delete")
    assert "Member removed." in owner.follow(r).text
    assert consumer.get(f"/ui/images/{image_id}").status_code == 404


def test_member_quota_error_is_shown(
    closing: contextlib.ExitStack, trusted_server: ServerProcess, project: str
) -> None:
    owner = _ui(closing, trusted_server, project)
    image_id = owner.create(name="crowded", visibility="shared")
    for i in range(5):  # the trusted server's image_member_quota
        assert owner.post(f"/ui/images/{image_id}/members", {"member": f"p{i}-{project}"}).status_code == 303
    r = owner.post(f"/ui/images/{image_id}/members", {"member": f"p6-{project}"})
    assert r.status_code == 413 and "Maximum number of image members (5) exceeded" in r.text
    assert len(re.findall(r"Stop sharing with", r.text)) == 5
