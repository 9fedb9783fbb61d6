"""The "Update Metadata" hook, in process: a registered catalog lights up the page and its form saves
through services.images.update (the catalog itself is built elsewhere)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from daguerre.app import build_app, build_runtime, startup
from daguerre.context import RequestContext
from daguerre.runtime import Runtime
from daguerre.settings import load_settings
from daguerre.web import metadefs


class FakeCatalog:
    async def namespaces_for(
        self, rt: Runtime, ctx: RequestContext, resource_type: str = metadefs.RESOURCE_TYPE
    ):
        assert resource_type == "OS::Glance::Image" and ctx.project_id == "local"
        return [
            metadefs.Namespace(
                "OS::Compute::Libvirt", "libvirt Driver Options", "Options for the libvirt driver.",
                [metadefs.PropertyDef("hw_disk_bus", "Disk Bus", enum=["scsi", "virtio", "ide"]),
                 metadefs.PropertyDef("hw_boot_menu", "Boot Menu", type="boolean", enum=["true", "false"])],
            ),
            metadefs.Namespace("OS::Software::DBMS", "Database Software",
                               properties=[metadefs.PropertyDef("sw_database_version", "Version")]),
        ]  # fmt: skip


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(env={"DAGUERRE_DEFAULT__DATA_DIR": str(tmp_path)})
    rt = build_runtime(settings)
    await startup(rt)
    app = build_app(settings, runtime=rt, workers=0)
    metadefs.set_catalog(FakeCatalog())
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1", follow_redirects=False
        ) as c:
            yield c
    finally:
        metadefs.set_catalog(None)
        await rt.close()


def _csrf(page: str) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)


async def test_update_metadata_sets_and_clears_catalog_properties(client: httpx.AsyncClient) -> None:
    token = _csrf((await client.get("/ui/images/create")).text)
    form = {"csrf_token": token, "name": "md", "disk_format": "raw", "container_format": "bare"}
    r = await client.post("/ui/images/create", data=form)
    image_id = r.headers["location"].split("/")[3].split("?")[0]
    assert "Update Metadata" in (await client.get(f"/ui/images/{image_id}")).text

    page = (await client.get(f"/ui/images/{image_id}/metadata")).text
    assert "libvirt Driver Options" in page and "Database Software" in page
    assert '<option value="virtio"' in page and 'name="prop:sw_database_version"' in page

    form = {"csrf_token": token, "prop:hw_disk_bus": "virtio", "prop:hw_boot_menu": "", "prop:sw_database_version": "16",
            "prop:not_offered": "ignored"}  # fmt: skip
    r = await client.post(f"/ui/images/{image_id}/metadata", data=form)
    assert r.status_code == 303 and r.headers["location"].endswith("notice=metadata")
    doc = (await client.get(f"/v2/images/{image_id}")).json()
    assert doc["hw_disk_bus"] == "virtio" and doc["sw_database_version"] == "16"
    assert "hw_boot_menu" not in doc and "not_offered" not in doc

    form = {"csrf_token": token, "prop:hw_disk_bus": "", "prop:sw_database_version": "16"}
    await client.post(f"/ui/images/{image_id}/metadata", data=form)
    doc = (await client.get(f"/v2/images/{image_id}")).json()
    assert "hw_disk_bus" not in doc and doc["sw_database_version"] == "16"
    page = (await client.get(f"/ui/images/{image_id}/metadata")).text
    assert 'name="prop:sw_database_version" value="16"' in page

    r = await client.post(f"/ui/images/{image_id}/metadata", data={"prop:hw_disk_bus": "ide"})
    assert r.status_code == 403  # CSRF applies here too
