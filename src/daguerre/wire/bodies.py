"""Request-body checks both front ends make."""

from __future__ import annotations

from starlette.requests import Request


def has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in request.headers
