"""Rendering domain objects as the JSON documents the Images API v2 returns."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from daguerre.domain import image as img
from daguerre.domain.image import Image
from daguerre.domain.member import Member
from daguerre.runtime import Runtime


def isotime(when: dt.datetime | None) -> str | None:
    if when is None:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    # isoformat is several times cheaper than strftime, and a list page formats 50 of these.
    return when.replace(microsecond=0).isoformat() + "Z"


def image_view(rt: Runtime, image: Image) -> dict:
    doc: dict = {
        "id": image.id,
        "name": image.name,
        "status": image.status,
        "visibility": image.visibility,
        "protected": image.protected,
        "os_hidden": image.os_hidden,
        "checksum": image.checksum,
        "os_hash_algo": image.os_hash_algo,
        "os_hash_value": image.os_hash_value,
        "owner": image.owner,
        "size": image.size,
        "virtual_size": image.virtual_size,
        "min_disk": image.min_disk,
        "min_ram": image.min_ram,
        "container_format": image.container_format,
        "disk_format": image.disk_format,
        "created_at": isotime(image.created_at),
        "updated_at": isotime(image.updated_at),
        "tags": list(image.tags),
    }
    for key, value in image.properties.items():
        if key in img.HIDDEN_PROPERTIES:
            continue
        doc[key] = "" if value is None else value
    d = rt.settings.DEFAULT
    active_locations = [loc for loc in image.locations if loc.status == "active"]
    if d.show_image_direct_url and active_locations:
        best = rt.by_weight([loc.store for loc in active_locations])[0]
        doc["direct_url"] = next(loc.url for loc in active_locations if loc.store == best)
    if d.show_multiple_locations:
        doc["locations"] = [{"url": loc.url, "metadata": dict(loc.metadata)} for loc in active_locations]
    if rt.multi_store and active_locations:
        doc["stores"] = ",".join(sorted({loc.store for loc in active_locations}))
    doc["self"] = f"/v2/images/{image.id}"
    doc["file"] = f"/v2/images/{image.id}/file"
    doc["schema"] = "/v2/schemas/image"
    return doc


def images_page(rt: Runtime, images: list[Image], params: list[tuple[str, str]], full: bool) -> dict:
    without_marker = [(k, v) for k, v in params if k != "marker"]
    doc: dict = {
        "images": [image_view(rt, i) for i in images],
        "first": "/v2/images" + (f"?{urlencode(without_marker)}" if without_marker else ""),
        "schema": "/v2/schemas/images",
    }
    if full and images:
        doc["next"] = "/v2/images?" + urlencode([*without_marker, ("marker", images[-1].id)])
    return doc


def member_view(member: Member) -> dict:
    return {
        "member_id": member.member_id,
        "image_id": member.image_id,
        "status": member.status,
        "created_at": isotime(member.created_at),
        "updated_at": isotime(member.updated_at),
        "schema": "/v2/schemas/member",
    }
