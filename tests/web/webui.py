"""A browser stand-in for the dashboard tests: cookie jar, CSRF token from pages, form posts."""

from __future__ import annotations

import re

import httpx

CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


class UI:
    """A browser stand-in: keeps the session cookie, reads the CSRF token from pages, posts forms."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None):
        self.base_url = base_url
        self.client = httpx.Client(
            base_url=base_url, headers=headers or {}, timeout=120, follow_redirects=False
        )
        self.token: str | None = None

    def get(self, path: str, **kw) -> httpx.Response:
        r = self.client.get(path, **kw)
        m = CSRF.search(r.text)
        if m:
            self.token = m.group(1)
        return r

    def csrf(self) -> str:
        if self.token is None:
            self.get("/ui/images/create")
        assert self.token, "no CSRF token found on /ui/images/create"
        return self.token

    def post(self, path: str, data: dict | None = None, *, csrf: bool = True, **kw) -> httpx.Response:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.csrf())
        return self.client.post(path, data=form, **kw)

    def follow(self, r: httpx.Response) -> httpx.Response:
        assert r.status_code == 303, (r.status_code, r.text[:2000])
        return self.get(r.headers["location"])

    def create(self, **fields: str) -> str:
        """Create an image through the form; returns its id."""
        fields.setdefault("disk_format", "raw")
        fields.setdefault("container_format", "bare")
        r = self.post("/ui/images/create", fields)
        assert r.status_code == 303, r.text[:2000]
        location = r.headers["location"]
        assert location.startswith("/ui/images/")
        return location.split("/")[3].split("?")[0]

    def upload(self, image_id: str, content, **headers: str) -> httpx.Response:
        h = {
            "Content-Type": "application/octet-stream",
            "X-CSRF-Token": self.csrf(),
            "Accept": "application/json",
        }
        h.update(headers)
        return self.client.post(f"/ui/images/{image_id}/upload", content=content, headers=h)

    def __enter__(self) -> UI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()
