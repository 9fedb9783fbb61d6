"""An httpx client acting as one project with some roles (trusted-headers mode)."""

from __future__ import annotations

import httpx


class Actor:
    """An httpx client that speaks as one project with some roles (trusted-headers mode)."""

    def __init__(self, base_url: str, project: str, roles: str, user: str | None = None):
        self.project = project
        self.headers = {
            "X-Identity-Status": "Confirmed",
            "X-Project-Id": project,
            "X-User-Id": user or f"user-of-{project}",
            "X-Roles": roles,
            "Accept": "application/json",
        }
        self.client = httpx.Client(base_url=base_url, headers=self.headers, timeout=60)

    def __enter__(self) -> Actor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the client's pooled connections (an unclosed one is a ResourceWarning, an error here)."""
        self.client.close()

    def __getattr__(self, name: str):
        return getattr(self.client, name)

    def create(self, **body) -> dict:
        body.setdefault("disk_format", "raw")
        body.setdefault("container_format", "bare")
        r = self.client.post("/v2/images", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    def upload(self, image_id: str, data: bytes) -> httpx.Response:
        return self.client.put(
            f"/v2/images/{image_id}/file", content=data, headers={"Content-Type": "application/octet-stream"}
        )

    def patch(
        self, image_id: str, ops: list[dict], media: str = "application/openstack-images-v2.1-json-patch"
    ):
        return self.client.patch(f"/v2/images/{image_id}", json=ops, headers={"Content-Type": media})
