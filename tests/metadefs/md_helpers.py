"""Helpers for the metadefs tests."""

from __future__ import annotations

import uuid

from actors import Actor

MD = "/v2/metadefs"
NS = MD + "/namespaces"


def unique(prefix: str = "ns") -> str:
    return f"Test::{prefix}-{uuid.uuid4().hex[:10]}"


class Namespaces:
    """Creates namespaces as admin and removes them (unprotecting first) at teardown."""

    def __init__(self, admin: Actor):
        self.admin = admin
        self.created: list[str] = []

    def create(self, name: str | None = None, **body) -> dict:
        body = {"namespace": name or unique(), "visibility": "public", **body}
        r = self.admin.post(NS, json=body)
        assert r.status_code == 201, r.text
        self.created.append(r.json()["namespace"])
        return r.json()

    def cleanup(self) -> None:
        for name in self.created:
            r = self.admin.get(f"{NS}/{name}")
            if r.status_code != 200:
                continue
            if r.json()["protected"]:
                body = {k: v for k, v in r.json().items() if k in ("namespace", "display_name", "description",
                                                                    "visibility", "owner")}  # fmt: skip
                self.admin.put(f"{NS}/{name}", json={**body, "protected": False})
            self.admin.delete(f"{NS}/{name}")
