"""Reading requests: JSON bodies, the caller's context, body-less routes."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from daguerre.context import RequestContext
from daguerre.domain.errors import Invalid
from daguerre.runtime import Runtime
from daguerre.wire.bodies import has_body

MAX_JSON_BODY = 1024 * 1024


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def absolute_url(request: Request, path: str) -> str:
    """``path`` (absolute-path, e.g. an object's ``self`` link) as a full URL on this endpoint:
    ``[DEFAULT] public_endpoint`` when set (behind a proxy, or under a path prefix), else the URL
    the request came in on. Version documents and ``Location`` headers are built with it."""
    base = runtime(request).settings.DEFAULT.public_endpoint.rstrip("/") or str(request.base_url).rstrip("/")
    return base + path


def context(request: Request) -> RequestContext:
    return request.scope["daguerre.context"]


async def reject_body(request: Request) -> None:
    """Routes that take no body answer 400 when one is sent (as Glance's body_reject routes do)."""
    if has_body(request):
        raise Invalid("This operation does not accept a request body")


async def read_json(request: Request, *, allow_array: bool = True) -> Any:
    if not has_body(request):
        raise Invalid("Malformed JSON in request body: the body is empty")
    raw = bytearray()
    async for piece in request.stream():
        raw += piece
        if len(raw) > MAX_JSON_BODY:
            raise Invalid(f"Request body larger than {MAX_JSON_BODY} bytes")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(f"Malformed JSON in request body: {exc}") from None
    if not isinstance(doc, dict) and not (allow_array and isinstance(doc, list)):
        raise Invalid("Unexpected body type. Expected list/dict.")
    return doc


def size_header(request: Request) -> int | None:
    """Expected size: x-openstack-image-size, else Content-Length, else unknown."""
    raw = request.headers.get("x-openstack-image-size")
    if raw is None:
        raw = request.headers.get("content-length")
        if raw is None:
            return None
    try:
        size = int(raw)
    except ValueError:
        raise Invalid(f"Invalid image size header value {raw!r}: must be an integer") from None
    if size < 0:
        raise Invalid("Image size must not be negative")
    return size
