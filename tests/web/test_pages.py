"""The dashboard against a live noauth server: every page renders, forms work, errors are pages with the right status."""

from __future__ import annotations

import html
import re
import uuid

import httpx
from webui import UI


def _api_create(api: httpx.Client, **body) -> dict:
    body.setdefault("disk_format", "raw")
    body.setdefault("container_format", "bare")
    r = api.post("/v2/images", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _rows(page: str) -> list[str]:
    """Image ids linked from the list table, in order."""
    return re.findall(r'<td><a href="/ui/images/([0-9a-f-]{36})">', page)


def _alert(page: str) -> str:
    m = re.search(r'<div class="error" role="alert">(.*?)</div>', page, re.S)
    assert m, "no error shown on the page"
    return html.unescape(re.sub(r"<[^>]+>", "", m.group(1))).strip()


def test_root_redirects_to_the_image_list(ui: UI) -> None:
    for path in ("/ui", "/ui/"):
        r = ui.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/ui/images"


def test_list_page_shows_images_with_human_sizes(ui: UI, api: httpx.Client) -> None:
    name = f"list-{uuid.uuid4().hex[:6]}"
    queued = _api_create(api, name=name, disk_format="qcow2", visibility="private")
    r = ui.get("/ui/images", params={"name": name})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    page = r.text
    assert _rows(page) == [queued["id"]]
    assert "<h1>Images</h1>" in page and '<link rel="stylesheet" href="/ui/static/dashboard.css">' in page
    assert "qcow2" in page and "private" in page and "status-queued" in page
    raw = _api_create(api, name=name + "-raw")
    api.put(f"/v2/images/{raw['id']}/file", content=b"x" * 3 * 1024 * 1024,
            headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    page = ui.get("/ui/images", params={"name": name + "-raw"}).text
    assert _rows(page) == [raw["id"]]
    assert "3.0 MiB" in page and "status-active" in page


def test_filters_name_status_visibility_tag(ui: UI, api: httpx.Client) -> None:
    tag = f"t-{uuid.uuid4().hex[:8]}"
    a = _api_create(api, name=f"{tag}-a", tags=[tag], visibility="public")
    b = _api_create(api, name=f"{tag}-b", tags=[tag], visibility="private")
    c = _api_create(api, name=f"{tag}-c", tags=[tag, "other"], visibility="private")
    api.put(
        f"/v2/images/{c['id']}/file", content=b"data", headers={"Content-Type": "application/octet-stream"}
    )

    assert set(_rows(ui.get("/ui/images", params={"tag": tag}).text)) == {a["id"], b["id"], c["id"]}
    assert _rows(ui.get("/ui/images", params={"name": f"{tag}-b"}).text) == [b["id"]]
    assert _rows(ui.get("/ui/images", params={"tag": tag, "visibility": "public"}).text) == [a["id"]]
    assert _rows(ui.get("/ui/images", params={"tag": tag, "status": "active"}).text) == [c["id"]]
    assert set(_rows(ui.get("/ui/images", params={"tag": tag, "status": "queued"}).text)) == {
        a["id"],
        b["id"],
    }
    page = ui.get("/ui/images", params={"tag": tag, "visibility": "public"}).text
    assert '<option value="public" selected>' in page and f'value="{tag}"' in page


def test_bad_filter_is_a_400_page(ui: UI) -> None:
    r = ui.get("/ui/images", params={"visibility": "sideways"})
    assert r.status_code == 400
    assert "Invalid visibility value: sideways" in _alert(r.text)


def test_pagination_next_previous_first(ui: UI, api: httpx.Client) -> None:
    tag = f"page-{uuid.uuid4().hex[:8]}"
    made = [_api_create(api, name=f"{tag}-{i:02d}", tags=[tag])["id"] for i in range(23)]
    newest_first = list(reversed(made))
    first = ui.get("/ui/images", params={"tag": tag, "limit": "10"})
    assert _rows(first.text) == newest_first[:10]
    assert 'rel="prev"' not in first.text
    nxt = re.search(r'<a href="([^"]+)" rel="next">', first.text).group(1)
    second = ui.get(html.unescape(nxt))
    assert _rows(second.text) == newest_first[10:20]
    nxt = re.search(r'<a href="([^"]+)" rel="next">', second.text).group(1)
    third = ui.get(html.unescape(nxt))
    assert _rows(third.text) == newest_first[20:]
    assert 'rel="next"' not in third.text
    prev = re.search(r'<a href="([^"]+)" rel="prev">', third.text).group(1)
    back = ui.get(html.unescape(prev))
    assert _rows(back.text) == newest_first[10:20]
    prev = re.search(r'<a href="([^"]+)" rel="prev">', back.text).group(1)
    start = ui.get(html.unescape(prev))
    assert _rows(start.text) == newest_first[:10]
    assert 'rel="prev"' not in start.text
    assert "« First" in back.text


def test_detail_page_shows_fields_properties_tags(ui: UI, api: httpx.Client) -> None:
    image = _api_create(
        api,
        name="detail <b>me</b>",
        tags=["alpha", "beta"],
        os_distro="debian",
        hw_qemu_guest_agent="yes",
        visibility="private",
    )
    r = ui.get(f"/ui/images/{image['id']}")
    assert r.status_code == 200
    page = r.text
    assert "detail &lt;b&gt;me&lt;/b&gt;" in page and "<b>me</b>" not in page  # escaped
    for field in (
        "id",
        "status",
        "visibility",
        "owner",
        "disk_format",
        "container_format",
        "checksum",
        "min_ram",
    ):
        assert f'<th scope="row">{field}</th>' in page
    assert "os_distro" in page and "debian" in page and "hw_qemu_guest_agent" in page
    assert '<span class="tag">alpha</span>' in page and '<span class="tag">beta</span>' in page
    assert "Set its visibility to" in page  # not shared: no members section
    assert 'id="upload-form"' in page  # queued: upload offered
    assert "Update Metadata" in page  # the shipped metadefs catalog feeds it


def test_create_form_renders_and_creates(ui: UI, api: httpx.Client) -> None:
    r = ui.get("/ui/images/create")
    assert r.status_code == 200
    assert '<label for="name">Name</label>' in r.text and '<option value="qcow2"' in r.text
    r = ui.post("/ui/images/create", {"name": "made by form", "disk_format": "qcow2", "container_format": "bare",
                                      "visibility": "shared", "min_disk": "3", "min_ram": "512", "protected": "on"})  # fmt: skip
    page = ui.follow(r)
    assert "Image created." in page.text
    image_id = r.headers["location"].split("/")[3].split("?")[0]
    doc = api.get(f"/v2/images/{image_id}").json()
    assert (doc["name"], doc["disk_format"], doc["visibility"], doc["min_disk"], doc["min_ram"], doc["protected"]) == (
        "made by form", "qcow2", "shared", 3, 512, True)  # fmt: skip
    assert doc["status"] == "queued"


def test_create_errors_rerender_the_form(ui: UI) -> None:
    r = ui.post(
        "/ui/images/create",
        {"name": "bad", "disk_format": "raw", "container_format": "bare", "min_disk": "lots"},
    )
    assert r.status_code == 400
    assert "Minimum disk (GB) must be a whole number" in _alert(r.text)
    assert 'value="bad"' in r.text  # what was typed is kept
    r = ui.post("/ui/images/create", {"name": "bad", "disk_format": "floppy", "container_format": "bare"})
    assert r.status_code == 400
    assert "floppy" in _alert(r.text)


def test_create_refuses_min_ram_past_32_bits(ui: UI) -> None:
    for value in (str(2**31), "99999999999999", str(2**64)):
        r = ui.post("/ui/images/create", {"name": "huge", "disk_format": "raw", "container_format": "bare",
                                          "min_ram": value})  # fmt: skip
        assert r.status_code == 400, r.text
        assert "Minimum RAM (MB) must not exceed 2147483647" in _alert(r.text)


def test_create_refuses_nul_in_the_form(ui: UI) -> None:
    r = ui.post("/ui/images/create", {"name": "a\0b", "disk_format": "raw", "container_format": "bare"})
    assert r.status_code == 400, r.text
    assert "NUL characters are not allowed" in _alert(r.text)


def test_create_for_the_script_answers_json(ui: UI) -> None:
    r = ui.post("/ui/images/create", {"name": "js", "disk_format": "raw", "container_format": "bare"},
                headers={"Accept": "application/json"})  # fmt: skip
    assert r.status_code == 201
    doc = r.json()
    assert (
        doc["upload_url"] == f"/ui/images/{doc['id']}/upload"
        and doc["detail_url"] == f"/ui/images/{doc['id']}"
    )
    r = ui.post(
        "/ui/images/create",
        {"disk_format": "nope", "container_format": "bare"},
        headers={"Accept": "application/json"},
    )
    assert r.status_code == 400 and "nope" in r.json()["message"]


def test_upload_small_then_download(ui: UI, api: httpx.Client) -> None:
    image_id = ui.create(name="small.raw")
    data = bytes(range(256)) * 4096
    r = ui.upload(image_id, data)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["status"] == "active" and doc["size"] == len(data)
    page = ui.get(f"/ui/images/{image_id}").text
    assert f'href="/ui/images/{image_id}/download"' in page and 'id="upload-form"' not in page
    r = ui.get(f"/ui/images/{image_id}/download")
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-disposition"] == 'attachment; filename="small.raw"'
    assert r.headers["content-md5"] == api.get(f"/v2/images/{image_id}").json()["checksum"]


def test_upload_errors_are_json_with_status(ui: UI, api: httpx.Client) -> None:
    image_id = ui.create(name="twice")
    assert ui.upload(image_id, b"first").status_code == 200
    r = ui.upload(image_id, b"second")
    assert r.status_code == 409 and "active" in r.json()["message"]
    r = ui.upload(str(uuid.uuid4()), b"nothing")
    assert r.status_code == 404
    qcow = ui.create(name="claims-qcow2", disk_format="qcow2")
    r = ui.upload(qcow, b"\0" * 70000)
    assert r.status_code == 415 and "format inspection" in r.json()["message"]
    assert api.get(f"/v2/images/{qcow}").json()["status"] == "queued"


def test_edit_form_changes_attributes(ui: UI, api: httpx.Client) -> None:
    image_id = ui.create(name="before")
    r = ui.get(f"/ui/images/{image_id}/edit")
    assert r.status_code == 200 and 'value="before"' in r.text
    r = ui.post(f"/ui/images/{image_id}/edit", {"name": "after", "visibility": "community", "min_disk": "7",
                                                "min_ram": "1024", "protected": "on", "os_hidden": "on",
                                                "disk_format": "iso", "container_format": "bare"})  # fmt: skip
    assert "Image updated." in ui.follow(r).text
    doc = api.get(f"/v2/images/{image_id}").json()
    assert (doc["name"], doc["visibility"], doc["min_disk"], doc["min_ram"], doc["protected"], doc["os_hidden"],
            doc["disk_format"]) == ("after", "community", 7, 1024, True, True, "iso")  # fmt: skip
    r = ui.post(f"/ui/images/{image_id}/edit", {"name": "after", "visibility": "private", "min_disk": "-1"})
    assert r.status_code == 400 and "0 or greater" in _alert(r.text)
    # A protected image refuses deletion with a 403 page; unprotect and it goes.
    r = ui.post(f"/ui/images/{image_id}/delete")
    assert r.status_code == 403 and "protected" in _alert(r.text)
    ui.post(f"/ui/images/{image_id}/edit", {"name": "after", "visibility": "private"})
    assert api.get(f"/v2/images/{image_id}").json()["protected"] is False


def test_properties_set_and_remove(ui: UI, api: httpx.Client) -> None:
    image_id = ui.create(name="props")
    r = ui.post(f"/ui/images/{image_id}/properties", {"key": "os_distro", "value": "ubuntu"})
    assert "Property saved." in ui.follow(r).text
    r = ui.post(f"/ui/images/{image_id}/properties", {"key": "os_distro", "value": "debian"})
    ui.follow(r)
    assert api.get(f"/v2/images/{image_id}").json()["os_distro"] == "debian"
    r = ui.post(f"/ui/images/{image_id}/properties/delete", {"key": "os_distro"})
    assert "Property removed." in ui.follow(r).text
    assert "os_distro" not in api.get(f"/v2/images/{image_id}").json()


def test_property_errors_show_on_the_image_page(ui: UI) -> None:
    image_id = ui.create(name="props-bad")
    r = ui.post(f"/ui/images/{image_id}/properties", {"key": "os_glance_sneaky", "value": "x"})
    assert r.status_code == 403 and "reserved" in _alert(r.text)
    assert '<h2 id="props-h">' in r.text  # the image page itself, with the message
    assert 'value="os_glance_sneaky"' in r.text
    r = ui.post(f"/ui/images/{image_id}/properties", {"key": "status", "value": "active"})
    assert r.status_code == 403 and "image attribute" in _alert(r.text)
    r = ui.post(f"/ui/images/{image_id}/properties/delete", {"key": "never-set"})
    assert r.status_code == 409 and "does not exist" in _alert(r.text)
    r = ui.post(f"/ui/images/{image_id}/properties", {"key": "", "value": "x"})
    assert r.status_code == 400


def test_tags_add_and_remove(ui: UI, api: httpx.Client) -> None:
    image_id = ui.create(name="tags")
    ui.follow(ui.post(f"/ui/images/{image_id}/tags", {"tag": "gold"}))
    ui.follow(ui.post(f"/ui/images/{image_id}/tags", {"tag": "silver"}))
    assert sorted(api.get(f"/v2/images/{image_id}").json()["tags"]) == ["gold", "silver"]
    assert "Tag removed." in ui.follow(ui.post(f"/ui/images/{image_id}/tags/delete", {"tag": "gold"})).text
    assert api.get(f"/v2/images/{image_id}").json()["tags"] == ["silver"]
    r = ui.post(f"/ui/images/{image_id}/tags/delete", {"tag": "gold"})
    assert r.status_code == 404 and "Tag gold not found" in _alert(r.text)
    r = ui.post(f"/ui/images/{image_id}/tags", {"tag": "x" * 300})
    assert r.status_code == 400


def test_deactivate_and_reactivate(ui: UI, api: httpx.Client) -> None:
    image_id = ui.create(name="toggle")
    r = ui.post(f"/ui/images/{image_id}/deactivate")
    assert r.status_code == 403 and "queued" in _alert(r.text)
    ui.upload(image_id, b"some bytes")
    page = ui.follow(ui.post(f"/ui/images/{image_id}/deactivate")).text
    assert "Image deactivated." in page and "Reactivate" in page
    assert api.get(f"/v2/images/{image_id}").json()["status"] == "deactivated"
    assert "Image reactivated." in ui.follow(ui.post(f"/ui/images/{image_id}/reactivate")).text
    assert api.get(f"/v2/images/{image_id}").json()["status"] == "active"


def test_delete_asks_then_deletes(ui: UI, api: httpx.Client) -> None:
    image_id = ui.create(name="doomed")
    ui.upload(image_id, b"bytes")
    r = ui.get(f"/ui/images/{image_id}/delete")
    assert r.status_code == 200 and "Delete image?" in r.text and "doomed" in r.text
    r = ui.post(f"/ui/images/{image_id}/delete")
    assert r.status_code == 303 and r.headers["location"] == "/ui/images?notice=deleted"
    assert "Image deleted." in ui.get(r.headers["location"]).text
    assert api.get(f"/v2/images/{image_id}").status_code == 404
    r = ui.post(f"/ui/images/{image_id}/delete")
    assert r.status_code == 404


def test_missing_pages_and_images_are_404_pages(ui: UI) -> None:
    r = ui.get(f"/ui/images/{uuid.uuid4()}")
    assert r.status_code == 404 and "No image found" in _alert(r.text)
    assert r.headers["content-type"].startswith("text/html")
    r = ui.get("/ui/no/such/page")
    assert r.status_code == 404 and "no dashboard page" in _alert(r.text)
    r = ui.get(f"/ui/images/{uuid.uuid4()}/edit")
    assert r.status_code == 404


def test_wrong_form_encoding_is_415(ui: UI) -> None:
    r = ui.client.post("/ui/images/create", content=b'{"name": "x"}',
                       headers={"Content-Type": "application/json", "X-CSRF-Token": ui.csrf()})  # fmt: skip
    assert r.status_code == 415


def test_metadata_page_offers_the_shipped_catalog(ui: UI) -> None:
    image_id = ui.create(name="md")
    r = ui.get(f"/ui/images/{image_id}/metadata")
    assert r.status_code == 200 and "No metadata definitions catalog is configured" not in r.text
    assert "hw_disk_bus" in r.text and "os_distro" in r.text


def test_security_headers(ui: UI) -> None:
    r = ui.get("/ui/images")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    static = ui.get("/ui/static/dashboard.js")
    assert static.status_code == 200 and "XMLHttpRequest" in static.text
    assert ui.get("/ui/static/dashboard.css").status_code == 200
