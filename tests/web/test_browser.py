"""The dashboard in a real browser: Playwright (Python) driving Debian's Chromium.

Needs ``apt-get install -y chromium`` (/usr/bin/chromium) and the ``playwright`` package; never
``playwright install`` (no browser downloads). Screenshots go to $DAGUERRE_SCREENSHOTS, else a tmp dir.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from daguerre.testing.server import ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium: apt-get install -y chromium"),
]

# Records every value the progress bar takes (attribute changes), without eval (the page's CSP forbids it).
WATCH_PROGRESS = """() => {
  window.__progress = [];
  const watch = () => {
    const bar = document.querySelector('#upload-bar');
    if (!bar) return;
    new MutationObserver(() => window.__progress.push(Number(bar.value))).observe(bar, {attributes: true});
  };
  watch();
}"""


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("DAGUERRE_SCREENSHOTS")
    path = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, fresh_server: ServerProcess):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=fresh_server.url)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    # Error pages (4xx documents, the refused upload) log "Failed to load resource": expected here.
    pg.on(
        "console",
        lambda m: (
            errors.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text else None
        ),
    )
    pg.on("response", lambda r: errors.append(f"{r.status} {r.url}")
          if r.request.resource_type in ("script", "stylesheet", "image", "font") and r.status >= 400 else None)  # fmt: skip
    yield pg
    context.close()
    assert not errors, f"JavaScript/console errors: {errors}"


def _image_file(tmp_path: Path, size: int) -> tuple[Path, str]:
    path = tmp_path / "disk.raw"
    md5 = hashlib.md5()
    block = hashlib.sha512(b"browser").digest() * 16384  # 1 MiB
    with path.open("wb") as f:
        left = size
        while left:
            piece = block[: min(len(block), left)]
            f.write(piece)
            md5.update(piece)
            left -= len(piece)
    return path, md5.hexdigest()


def test_create_upload_edit_delete_through_the_ui(
    page, fresh_server: ServerProcess, shots: Path, tmp_path: Path
) -> None:
    api = httpx.Client(base_url=fresh_server.url, headers={"Accept": "application/json"}, timeout=60)
    name = f"browser-{uuid.uuid4().hex[:6]}"
    path, md5 = _image_file(tmp_path, 48 * 2**20)

    # Create with a file: the script creates the record, then streams the file with a progress bar.
    page.goto("/ui/images/create")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Image file", exact=True).set_input_files(str(path))
    page.get_by_label("Disk format", exact=True).select_option("raw")
    page.get_by_label("Visibility", exact=True).select_option("shared")
    page.evaluate(WATCH_PROGRESS)
    page.get_by_role("button", name="Create image").click()
    page.locator("form[data-state=done]").wait_for(timeout=60_000)
    assert page.evaluate("document.querySelector('#upload-bar').value") == 100
    seen = page.evaluate("window.__progress")
    assert seen and seen[-1] == 100 and seen == sorted(seen), seen
    assert "100%" in page.locator(".upload-text").inner_text()
    page.screenshot(path=str(shots / "1-upload-complete.png"), full_page=True)

    page.wait_for_url(re.compile(r"/ui/images/[0-9a-f-]{36}\?notice=uploaded"))
    image_id = page.url.split("/ui/images/")[1].split("?")[0]
    assert page.get_by_role("status").inner_text() == "Image data uploaded."
    assert page.locator("h1 .status").inner_text().lower() == "active"
    page.screenshot(path=str(shots / "2-detail-active.png"), full_page=True)
    doc = api.get(f"/v2/images/{image_id}").json()
    assert doc["status"] == "active" and doc["checksum"] == md5 and doc["size"] == 48 * 2**20

    # It is in the list, active, with a human size.
    page.goto("/ui/images")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("button", name="Filter").click()
    row = page.locator("table.list tbody tr", has_text=name)
    assert row.count() == 1
    assert "active" in row.inner_text().lower() and "48.0 MiB" in row.inner_text()
    page.screenshot(path=str(shots / "3-list.png"), full_page=True)

    # Edit: a custom property, a tag and the name.
    row.get_by_role("link", name=name).click()
    page.get_by_label("Property", exact=True).fill("os_distro")
    page.get_by_label("Value", exact=True).fill("debian")
    page.get_by_role("button", name="Set property").click()
    assert page.get_by_role("status").inner_text() == "Property saved."
    assert page.locator("table.props").get_by_text("debian").count() == 1
    page.get_by_label("Tag", exact=True).fill("golden")
    page.get_by_role("button", name="Add tag").click()
    page.get_by_label("Property", exact=True).fill("os_version")
    page.get_by_label("Value", exact=True).fill("12")
    page.get_by_role("button", name="Set property").click()
    page.get_by_role("button", name="Remove property os_version").click()
    assert page.get_by_role("status").inner_text() == "Property removed."
    page.get_by_role("link", name="Edit", exact=True).click()
    page.get_by_label("Name", exact=True).fill(name + "-renamed")
    page.get_by_label("Minimum RAM (MB)", exact=True).fill("512")
    page.get_by_role("button", name="Save").click()
    assert page.get_by_role("status").inner_text() == "Image updated."
    page.get_by_label("Project ID", exact=True).fill("project-b")
    page.get_by_role("button", name="Share").click()
    assert page.get_by_role("status").inner_text() == "Project added as a member."
    page.screenshot(path=str(shots / "4-detail-edited.png"), full_page=True)
    doc = api.get(f"/v2/images/{image_id}").json()
    assert (doc["name"], doc["os_distro"], doc["tags"], doc["min_ram"]) == (
        name + "-renamed",
        "debian",
        ["golden"],
        512,
    )
    assert "os_version" not in doc

    # An error is shown on the page, not a crash: a reserved property name.
    page.get_by_label("Property", exact=True).fill("os_glance_foo")
    page.get_by_label("Value", exact=True).fill("x")
    page.get_by_role("button", name="Set property").click()
    assert "reserved" in page.get_by_role("alert").inner_text()
    page.screenshot(path=str(shots / "5-error.png"), full_page=True)

    # Delete, with the confirmation page.
    page.get_by_role("link", name="Delete…").click()
    assert page.get_by_role("heading", name="Delete image?").is_visible()
    page.screenshot(path=str(shots / "6-confirm-delete.png"), full_page=True)
    page.get_by_role("button", name="Delete image").click()
    page.wait_for_url("**/ui/images?notice=deleted")
    assert page.get_by_role("status").inner_text() == "Image deleted."
    assert page.locator("table.list tbody tr", has_text=name).count() == 0
    assert api.get(f"/v2/images/{image_id}").status_code == 404
    api.close()


def test_create_without_file_then_upload_refused_by_inspection(page, shots: Path, tmp_path: Path) -> None:
    name = f"later-{uuid.uuid4().hex[:6]}"
    page.goto("/ui/images/create")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Disk format", exact=True).select_option("qcow2")
    page.get_by_role("button", name="Create image").click()  # no file: a plain form post
    page.wait_for_url(re.compile(r"/ui/images/[0-9a-f-]{36}\?notice=created"))
    assert page.locator("h1 .status").inner_text().lower() == "queued"

    junk = tmp_path / "not-really.qcow2"
    junk.write_bytes(b"\0" * 200_000)
    page.locator("#upload-file").set_input_files(str(junk))
    page.get_by_role("button", name="Upload").click()
    alert = page.locator(".upload-error")
    alert.wait_for(state="visible", timeout=30_000)
    assert "Upload failed (415)" in alert.inner_text() and "format inspection" in alert.inner_text()
    page.screenshot(path=str(shots / "7-upload-refused.png"), full_page=True)
    page.reload()
    assert page.locator("h1 .status").inner_text().lower() == "queued"


def test_login_page_in_keystone_mode(browser, tmp_path_factory: pytest.TempPathFactory, shots: Path) -> None:
    """The login form, against a keystone-mode server whose Keystone is not there: a readable 503."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/v3"
    env = {"DAGUERRE_AUTH__STRATEGY": "keystone", "DAGUERRE_KEYSTONE_AUTHTOKEN__AUTH_URL": url,
           "DAGUERRE_KEYSTONE_AUTHTOKEN__WWW_AUTHENTICATE_URI": url}  # fmt: skip
    server = ServerProcess(tmp_path_factory.mktemp("ks-browser"), env=env).start()
    context = browser.new_context(viewport={"width": 1280, "height": 700}, base_url=server.url)
    try:
        pg = context.new_page()
        pg.goto("/ui/images")
        assert "/ui/login?next=" in pg.url
        assert pg.get_by_role("heading", name="Log in").is_visible()
        pg.get_by_label("User name").fill("alice")
        pg.get_by_label("Password").fill("secret")
        pg.get_by_label("Project").fill("demo")
        pg.screenshot(path=str(shots / "8-login.png"))
        pg.get_by_role("button", name="Log in").click()
        assert "cannot be reached" in pg.get_by_role("alert").inner_text()
        assert (
            pg.get_by_label("User name").input_value() == "alice"
            and pg.get_by_label("Password").input_value() == ""
        )
        pg.screenshot(path=str(shots / "9-login-failed.png"))
    finally:
        context.close()
        server.stop()
