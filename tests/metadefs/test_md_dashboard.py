"""The dashboard's "Update Metadata" page fed by the real catalog (ServiceCatalog), in process."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from daguerre.app import build_app, build_runtime, startup
from daguerre.services.metadef_catalog import load_into
from daguerre.settings import load_settings
from daguerre.web import metadefs as web_metadefs
from daguerre.web.metadefs_catalog import ServiceCatalog


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(env={"DAGUERRE_DEFAULT__DATA_DIR": str(tmp_path)})
    rt = build_runtime(settings)
    await startup(rt)
    await load_into(rt.db)  # a no-op once Database.upgrade() loads the catalog itself
    app = build_app(settings, runtime=rt, workers=0)
    web_metadefs.set_catalog(ServiceCatalog())
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            yield c
    finally:
        web_metadefs.set_catalog(None)
        await rt.close()


async def test_update_metadata_page_offers_the_catalog(client: httpx.AsyncClient) -> None:
    page = (await client.get("/ui/images/create")).text
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)
    form = {"csrf_token": token, "name": "md", "disk_format": "raw", "container_format": "bare"}
    r = await client.post("/ui/images/create", data=form)
    image_id = r.headers["location"].split("/")[3].split("?")[0]

    page = (await client.get(f"/ui/images/{image_id}/metadata")).text
    assert "Virtual hardware" in page and "Guest operating system" in page and "Virtual CPU topology" in page
    assert 'name="prop:hw_disk_bus"' in page and 'name="prop:hw_cpu_sockets"' in page
    assert '<option value="virtio"' in page

    form = {
        "csrf_token": token,
        "prop:hw_disk_bus": "virtio",
        "prop:os_distro": "debian",
        "prop:hw_cpu_sockets": "1",
    }
    r = await client.post(f"/ui/images/{image_id}/metadata", data=form)
    assert r.status_code == 303
    doc = (await client.get(f"/v2/images/{image_id}")).json()
    assert doc["hw_disk_bus"] == "virtio" and doc["os_distro"] == "debian" and doc["hw_cpu_sockets"] == "1"
