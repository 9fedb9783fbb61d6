"""GET / (300) and GET /versions (200): the version document."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from daguerre.api.requests import absolute_url, runtime
from daguerre.api.responses import JSONResponse

SUPPORTED = ["2.0", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7", "2.9", "2.15"]
MULTI_STORE = ["2.8", "2.10", "2.11", "2.12", "2.13"]
CURRENT = "2.17"


def document(request: Request) -> dict:
    rt = runtime(request)
    link = absolute_url(request, "/v2/")
    minors = list(SUPPORTED)
    current = CURRENT
    if rt.multi_store:
        minors += MULTI_STORE
    if rt.settings.DEFAULT.image_cache_dir:
        minors += ["2.14", "2.16", "2.17"]
        current = "2.18"
    minors = sorted(set(minors), key=lambda v: int(v.split(".")[1]))
    versions = [{"id": f"v{current}", "status": "CURRENT", "links": [{"rel": "self", "href": link}]}]
    for minor in reversed(minors):
        versions.append({"id": f"v{minor}", "status": "SUPPORTED", "links": [{"rel": "self", "href": link}]})
    return {"versions": versions}


async def multiple_choices(request: Request) -> Response:
    return JSONResponse(document(request), status_code=300)


async def versions(request: Request) -> Response:
    return JSONResponse(document(request))
