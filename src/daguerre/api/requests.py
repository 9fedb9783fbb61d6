"""Reading requests: JSON bodies, the caller's context, body-less routes."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from starlette.requests import Request

from daguerre.context import RequestContext
from daguerre.domain.errors import Invalid
from daguerre.runtime import Runtime
from daguerre.wire.bodies import has_body

MAX_JSON_BODY = 1024 * 1024
# Nesting deeper than this is refused: the decoder, the schema validator and the response encoder
# (orjson stops at 255) all recurse, and a stored document must be one we can send back.
MAX_JSON_DEPTH = 64
INT64 = 2**63
# NUL cannot be stored in PostgreSQL text; lone surrogates cannot be encoded as UTF-8 at all.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


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
        doc = json.loads(raw, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(f"Malformed JSON in request body: {exc}") from None
    except RecursionError:
        raise Invalid(f"Malformed JSON in request body: nested deeper than {MAX_JSON_DEPTH} levels") from None
    if not isinstance(doc, dict) and not (allow_array and isinstance(doc, list)):
        raise Invalid("Unexpected body type. Expected list/dict.")
    _check_values(doc)
    return doc


def _int(text: str) -> int:
    value = int(text)
    if not -INT64 <= value < INT64:
        raise ValueError(f"integer {text[:30]} is out of range (a signed 64-bit integer at most)")
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:30]} is out of range")
    return value


def _constant(text: str) -> float:
    raise ValueError(f"{text} is not a JSON number")


def _check_values(doc: Any) -> None:
    """Refuse documents nested too deeply, and strings no database can store (NUL, lone surrogates)."""
    pending: list[tuple[Any, int]] = [(doc, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise Invalid(f"Malformed JSON in request body: nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                _check_string(key)
                pending.append((item, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _check_string(value)


def _check_string(text: str) -> None:
    if _UNSTORABLE.search(text):
        raise Invalid("Malformed JSON in request body: strings must not contain NUL or unpaired surrogates")


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
