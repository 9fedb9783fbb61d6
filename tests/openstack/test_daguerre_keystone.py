"""Daguerre behind a real Keystone: the glance and openstack CLIs with real credentials, project
isolation through every endpoint, and a long upload that outlives its token."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from daguerre.testing.server import ServerProcess

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
OS_PY = REPO / ".venv-openstack" / "bin" / "python"


def admin_session(ks) -> ks_session.Session:
    auth = v3.Password(auth_url=ks.url, username="admin", password="admin-secret", project_name="admin",
                       user_domain_id="default", project_domain_id="default")  # fmt: skip
    return ks_session.Session(auth=auth)


def make_user(ks, role: str = "member") -> dict:
    """A fresh project and a user holding ``role`` on it; returns their names and ids."""
    s = admin_session(ks)
    ep = {"endpoint_filter": {"service_type": "identity", "interface": "public"}}
    name = f"p-{uuid.uuid4().hex[:8]}"
    project = s.post("/projects", json={"project": {"name": name, "domain_id": "default"}}, **ep).json()[
        "project"
    ]
    user = s.post("/users", json={"user": {"name": f"u-{name}", "domain_id": "default", "password": "pw-secret",
                                           "default_project_id": project["id"]}}, **ep).json()["user"]  # fmt: skip
    roles = s.get("/roles", params={"name": role}, **ep).json()["roles"]
    s.put(f"/projects/{project['id']}/users/{user['id']}/roles/{roles[0]['id']}", **ep)
    return {"project": name, "project_id": project["id"], "user": f"u-{name}", "password": "pw-secret"}


def token_for(ks, who: dict) -> str:
    auth = v3.Password(auth_url=ks.url, username=who["user"], password=who["password"], project_name=who["project"],
                       user_domain_id="default", project_domain_id="default")  # fmt: skip
    return ks_session.Session(auth=auth).get_token()


def start_daguerre(ks, tmp_path: Path) -> ServerProcess:
    from daguerre.testing.server import free_port

    port = free_port()
    conf = tmp_path / "daguerre.conf"
    opts = ks.authtoken_options()
    conf.write_text(
        "[auth]\nstrategy = keystone\n[keystone_authtoken]\n"
        + "".join(f"{k} = {v}\n" for k, v in opts.items())
    )
    server = ServerProcess(tmp_path / "data", config=conf, port=port).start()
    # Register this server as the catalog's image service, as an operator would.
    subprocess.run([str(OS_PY), str(REPO / "scripts/openstack/ks_register.py"), "--auth-url", ks.url,
                    "--admin-password", "admin-secret", "--service-password", "daguerre-secret",
                    "--image-url", server.url], check=True, capture_output=True, timeout=120)  # fmt: skip
    return server


@pytest.fixture
def daguerre(keystone, tmp_path: Path):
    server = start_daguerre(keystone, tmp_path)
    yield server
    server.stop()


def cli_env(ks, who: dict) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update({"OS_AUTH_URL": ks.url, "OS_USERNAME": who["user"], "OS_PASSWORD": who["password"],
                "OS_PROJECT_NAME": who["project"], "OS_USER_DOMAIN_NAME": "Default",
                "OS_PROJECT_DOMAIN_NAME": "Default", "OS_IDENTITY_API_VERSION": "3", "OS_REGION_NAME": "RegionOne",
                "OS_INTERFACE": "public"})  # fmt: skip
    return env


def run(cmd: list[str], env: dict[str, str]) -> str:
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout


def test_clis_with_real_credentials(keystone, daguerre, tmp_path: Path) -> None:
    who = make_user(keystone)
    env = cli_env(keystone, who)
    src = tmp_path / "disk.raw"
    src.write_bytes(os.urandom(2**20))
    created = json.loads(run([str(BIN / "openstack"), "image", "create", "--disk-format", "raw", "--container-format",
                              "bare", "--file", str(src), "-f", "json", "ks-osc"], env))  # fmt: skip
    image_id = created["id"]
    assert [
        i["ID"] for i in json.loads(run([str(BIN / "openstack"), "image", "list", "-f", "json"], env))
    ] == [image_id]
    run([str(BIN / "openstack"), "image", "set", "--property", "os_name=rhel7.2", image_id], env)
    shown = json.loads(run([str(BIN / "openstack"), "image", "show", "-f", "json", image_id], env))
    assert shown["properties"]["os_name"] == "rhel7.2" and shown["owner"] == who["project_id"]
    run([str(BIN / "openstack"), "image", "save", "--file", str(tmp_path / "saved.raw"), image_id], env)
    assert (tmp_path / "saved.raw").read_bytes() == src.read_bytes()
    run([str(BIN / "openstack"), "image", "delete", image_id], env)

    out = run([str(BIN / "glance"), "image-create", "--name", "ks-glance", "--disk-format", "raw", "--container-format",
               "bare", "--file", str(src)], env)  # fmt: skip
    gid = next(line.split("|")[2].strip() for line in out.splitlines() if "| id " in line)
    assert gid in run([str(BIN / "glance"), "image-list"], env)
    run([str(BIN / "glance"), "image-update", "--property", "os_name=rhel7.2", gid], env)
    assert "rhel7.2" in run([str(BIN / "glance"), "image-show", gid], env)
    run([str(BIN / "glance"), "image-download", "--file", str(tmp_path / "g.raw"), gid], env)
    assert (tmp_path / "g.raw").read_bytes() == src.read_bytes()
    run([str(BIN / "glance"), "image-delete", gid], env)


def test_project_isolation_everywhere(closing: contextlib.ExitStack, keystone, daguerre) -> None:
    a, b = make_user(keystone), make_user(keystone)
    ca = closing.enter_context(
        httpx.Client(
            base_url=daguerre.url,
            headers={"X-Auth-Token": token_for(keystone, a), "Accept": "application/json"},
        )
    )
    cb = closing.enter_context(
        httpx.Client(
            base_url=daguerre.url,
            headers={"X-Auth-Token": token_for(keystone, b), "Accept": "application/json"},
        )
    )
    assert httpx.get(daguerre.url + "/v2/images").status_code == 401
    assert "WWW-Authenticate" in httpx.get(daguerre.url + "/v2/images").headers
    assert httpx.get(daguerre.url + "/v2/images", headers={"X-Auth-Token": "garbage"}).status_code == 401
    image = ca.post("/v2/images", json={"name": "a-private", "visibility": "private", "disk_format": "raw",
                                        "container_format": "bare"}).json()  # fmt: skip
    iid = image["id"]
    assert (
        ca.put(
            f"/v2/images/{iid}/file",
            content=b"secret" * 100,
            headers={"Content-Type": "application/octet-stream"},
        ).status_code
        == 204
    )
    octet = {"Content-Type": "application/octet-stream"}
    patch = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
    calls = [
        ("GET", f"/v2/images/{iid}", {}), ("GET", f"/v2/images/{iid}/file", {}),
        ("PATCH", f"/v2/images/{iid}", {"json": [{"op": "replace", "path": "/name", "value": "x"}], "headers": patch}),
        ("DELETE", f"/v2/images/{iid}", {}), ("PUT", f"/v2/images/{iid}/file", {"content": b"x", "headers": octet}),
        ("PUT", f"/v2/images/{iid}/stage", {"content": b"x", "headers": octet}),
        ("POST", f"/v2/images/{iid}/import", {"json": {"method": {"name": "glance-direct"}}}),
        ("PUT", f"/v2/images/{iid}/tags/t", {}), ("DELETE", f"/v2/images/{iid}/tags/t", {}),
        ("GET", f"/v2/images/{iid}/members", {}), ("POST", f"/v2/images/{iid}/members", {"json": {"member": "x"}}),
        ("GET", f"/v2/images/{iid}/members/{b['project_id']}", {}),
        ("POST", f"/v2/images/{iid}/actions/deactivate", {}), ("POST", f"/v2/images/{iid}/actions/reactivate", {}),
        ("GET", f"/v2/images/{iid}/tasks", {}),
    ]  # fmt: skip
    for method, path, kw in calls:
        r = cb.request(method, path, **kw)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
    assert iid not in [i["id"] for i in cb.get("/v2/images", params={"visibility": "all"}).json()["images"]]
    assert cb.get("/v2/images", params={"marker": iid}).status_code == 400
    assert ca.get(f"/v2/images/{iid}").json()["name"] == "a-private"


def test_upload_outlives_its_token(
    closing: contextlib.ExitStack, short_lived_keystone, tmp_path: Path
) -> None:
    ks = short_lived_keystone
    server = start_daguerre(ks, tmp_path)
    try:
        who = make_user(ks)
        token = token_for(ks, who)
        client = closing.enter_context(httpx.Client(base_url=server.url, headers={"X-Auth-Token": token}))
        image = client.post("/v2/images", json={"disk_format": "raw", "container_format": "bare"}).json()
        total = 16 * 2**20
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall((f"PUT /v2/images/{image['id']}/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n"
                      f"Content-Type: application/octet-stream\r\nContent-Length: {total}\r\n\r\n").encode())  # fmt: skip
        started = time.monotonic()
        sent = 0
        while sent < total:  # trickle for ~14 s: the 10 s token expires mid-upload
            sock.sendall(b"\0" * 2**20)
            sent += 2**20
            time.sleep(0.9)
        sock.settimeout(60)
        reply = sock.recv(4096)
        sock.close()
        assert time.monotonic() - started > 12
        assert reply.startswith(b"HTTP/1.1 204"), reply[:300]
        assert client.get(f"/v2/images/{image['id']}").status_code == 401  # the token is gone now
        fresh = closing.enter_context(
            httpx.Client(base_url=server.url, headers={"X-Auth-Token": token_for(ks, who)})
        )
        assert fresh.get(f"/v2/images/{image['id']}").json()["status"] == "active"
    finally:
        server.stop()
