"""The interoperable import workflow against a live server: glance-direct, web-download, plugins."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

from import_helpers import wait_for

from actors import Actor


def qemu_info(path: Path) -> dict:
    import subprocess

    return json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(path)], check=True,
                                     capture_output=True, text=True).stdout)  # fmt: skip


def test_info_import(importer: Actor) -> None:
    r = importer.get("/v2/info/import")
    assert r.status_code == 200
    assert set(r.json()["import-methods"]["value"]) == {"glance-direct", "web-download"}


def test_glance_direct_qcow2_to_raw(importer: Actor, images_dir: Path, tmp_path: Path) -> None:
    image = importer.create(name="gd", disk_format="qcow2")
    data = (images_dir / "disk.qcow2").read_bytes()
    r = importer.put(
        f"/v2/images/{image['id']}/stage", content=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert r.status_code == 204
    staged = importer.get(f"/v2/images/{image['id']}").json()
    assert staged["status"] == "uploading" and staged["size"] == len(data)
    assert "os_glance_stage_host" not in staged
    # Staging twice is a conflict; importing with the wrong method for the status is a conflict.
    assert importer.put(f"/v2/images/{image['id']}/stage", content=b"x",
                        headers={"Content-Type": "application/octet-stream"}).status_code == 409  # fmt: skip
    assert (
        importer.post(
            f"/v2/images/{image['id']}/import",
            json={"method": {"name": "web-download", "uri": "http://127.0.0.1/x"}},
        ).status_code
        == 409
    )
    r = importer.post(f"/v2/images/{image['id']}/import", json={"method": {"name": "glance-direct"}})
    assert r.status_code == 202
    done = wait_for(importer, image["id"])
    assert done["status"] == "active", done
    assert done["disk_format"] == "raw" and done["container_format"] == "bare"
    assert done["virtual_size"] == 64 * 2**20 and done["size"] == 64 * 2**20
    assert done["os_daguerre_format"] == "raw"
    assert done["injected_by"] == "operator"
    assert done["os_glance_failed_import"] == "" and done["os_glance_importing_to_stores"] == ""
    body = importer.get(f"/v2/images/{image['id']}/file").content
    assert hashlib.md5(body).hexdigest() == done["checksum"]
    assert body == (images_dir / "disk.raw").read_bytes()
    tasks = importer.get(f"/v2/images/{image['id']}/tasks").json()["tasks"]
    assert tasks[-1]["status"] == "success" and tasks[-1]["result"] == {"image_id": image["id"]}


def test_web_download_vmdk_introspected(importer: Actor, file_server) -> None:
    image = importer.create(name="wd", disk_format="vmdk")
    r = importer.post(f"/v2/images/{image['id']}/import",
                      json={"method": {"name": "web-download", "uri": file_server.url("disk.vmdk")}})  # fmt: skip
    assert r.status_code == 202, r.text
    done = wait_for(importer, image["id"])
    assert done["status"] == "active", done
    assert done["disk_format"] == "raw" and done["virtual_size"] == 64 * 2**20


def test_web_download_gzip_qcow2(importer: Actor, file_server) -> None:
    image = importer.create(name="gz", disk_format="qcow2")
    r = importer.post(f"/v2/images/{image['id']}/import",
                      json={"method": {"name": "web-download", "uri": file_server.url("disk.qcow2.gz")}})  # fmt: skip
    assert r.status_code == 202
    done = wait_for(importer, image["id"])
    assert done["status"] == "active", done
    assert done["disk_format"] == "raw" and done["size"] == 64 * 2**20


def test_refused_backing_file_and_bomb(importer: Actor, file_server, import_server) -> None:
    image = importer.create(name="bad", disk_format="qcow2")
    assert importer.post(f"/v2/images/{image['id']}/import",
                         json={"method": {"name": "web-download", "uri": file_server.url("backing.qcow2")}}).status_code == 202  # fmt: skip
    done = wait_for(importer, image["id"])
    assert done["status"] == "queued" and done["os_glance_failed_import"] == "file"
    task = importer.get(f"/v2/images/{image['id']}/tasks").json()["tasks"][-1]
    assert task["status"] == "failure" and "backing" in task["message"]

    bomb = importer.create(name="bomb", disk_format="raw")
    assert importer.post(f"/v2/images/{bomb['id']}/import",
                         json={"method": {"name": "web-download", "uri": file_server.url("bomb.raw.gz")}}).status_code == 202  # fmt: skip
    done = wait_for(importer, bomb["id"], timeout=120)
    assert done["status"] == "queued"
    task = importer.get(f"/v2/images/{bomb['id']}/tasks").json()["tasks"][-1]
    assert task["status"] == "failure", task
    work = import_server.data_dir / "work"
    assert list(work.iterdir()) == []
    assert not (import_server.data_dir / "staging" / bomb["id"]).exists()


def test_import_preconditions(importer: Actor, other: Actor) -> None:
    image = importer.create(name="pre", disk_format="raw")
    iid = image["id"]
    assert importer.post(f"/v2/images/{iid}/import", json={}).status_code == 400
    assert (
        importer.post(f"/v2/images/{iid}/import", json={"method": {"name": "copy-image"}}).status_code == 400
    )
    assert (
        importer.post(
            f"/v2/images/{iid}/import", json={"method": {"name": "glance-direct"}, "all_stores": "yes"}
        ).status_code
        == 400
    )
    assert (
        importer.post(f"/v2/images/{iid}/import", json={"method": {"name": "glance-direct"}}).status_code
        == 409
    )
    r = importer.post(
        f"/v2/images/{iid}/import",
        json={"method": {"name": "web-download", "uri": "http://169.254.169.254/latest"}},
    )
    assert r.status_code == 400 and "does not pass filtering" in r.text
    assert (
        importer.post(
            f"/v2/images/{iid}/import",
            json={"method": {"name": "web-download", "uri": "http://127.0.0.1:9/x"}},
        ).status_code
        == 400
    )
    no_formats = importer.post("/v2/images", json={}).json()
    assert (
        importer.post(
            f"/v2/images/{no_formats['id']}/import",
            json={"method": {"name": "web-download", "uri": "http://example.org/x"}},
        ).status_code
        == 409
    )
    # Another project cannot import into the image (it cannot even see it).
    assert (
        other.post(f"/v2/images/{iid}/import", json={"method": {"name": "glance-direct"}}).status_code == 404
    )


def test_tasks_api_admin_only(
    closing: contextlib.ExitStack, importer: Actor, import_server, file_server
) -> None:
    assert importer.get("/v2/tasks").status_code == 403
    admin = closing.enter_context(Actor(import_server.url, "admin-proj", "admin,member,reader"))
    body = {"type": "import", "input": {"import_from_format": "qcow2", "import_from": file_server.url("disk.qcow2"),
                                        "image_properties": {"disk_format": "qcow2", "container_format": "bare"}}}  # fmt: skip
    r = admin.post("/v2/tasks", json=body)
    assert r.status_code == 201, r.text
    task = r.json()
    assert (
        r.headers["location"] == f"{import_server.url}/v2/tasks/{task['id']}" and task["status"] == "pending"
    )
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        task = admin.get(f"/v2/tasks/{task['id']}").json()
        if task["status"] in ("success", "failure"):
            break
        time.sleep(0.1)
    assert task["status"] == "success", task
    assert (
        task["expires_at"]
        and admin.get(f"/v2/images/{task['result']['image_id']}").json()["status"] == "active"
    )
    listing = admin.get("/v2/tasks").json()
    assert task["id"] in [t["id"] for t in listing["tasks"]] and "input" not in listing["tasks"][0]
    assert admin.delete(f"/v2/tasks/{task['id']}").status_code == 405
    assert admin.post("/v2/tasks", json={"type": "import"}).status_code == 400
    bad = {
        "type": "import",
        "input": {"import_from": "file:///etc/passwd", "import_from_format": "raw", "image_properties": {}},
    }
    assert admin.post("/v2/tasks", json=bad).status_code == 400
    assert admin.get("/v2/tasks", params={"status": "bogus"}).status_code == 400
    assert admin.get("/v2/tasks", params={"marker": "nope"}).status_code == 400
