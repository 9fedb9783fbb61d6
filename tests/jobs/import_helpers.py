"""Helpers shared by the import tests."""

from __future__ import annotations

import time

from actors import Actor


def wait_for(
    actor: Actor, image_id: str, statuses: tuple[str, ...] = ("active", "queued"), timeout: float = 60
) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = actor.get(f"/v2/images/{image_id}").json()
        if body["status"] in statuses and not body.get("os_glance_import_task"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"image {image_id} still {body['status']} after {timeout}s: {body}")
