"""/v2/images/{id}/file and /stage: streaming upload and download."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from daguerre.api.requests import context, reject_body, runtime, size_header
from daguerre.domain.errors import Invalid, NotFound, UnsupportedMedia
from daguerre.services import data as svc


def _require_octet_stream(request: Request) -> None:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/octet-stream":
        raise UnsupportedMedia(f"Content-Type must be application/octet-stream, not {media or '(none)'}")


async def upload(request: Request) -> Response:
    _require_octet_stream(request)
    rt = runtime(request)
    store_id = request.headers.get("x-image-meta-store") if rt.multi_store else None
    try:
        await svc.upload(rt, context(request), request.path_params["image_id"], request.stream(),
                         size_header(request), store_id)  # fmt: skip
    except ClientDisconnect:
        raise Invalid("The client disconnected before the upload completed") from None
    return Response(status_code=204)


async def stage(request: Request) -> Response:
    rt = runtime(request)
    if "glance-direct" not in rt.settings.DEFAULT.enabled_import_methods:
        raise NotFound("The glance-direct import method is not enabled")
    _require_octet_stream(request)
    try:
        await svc.stage(
            rt, context(request), request.path_params["image_id"], request.stream(), size_header(request)
        )
    except ClientDisconnect:
        raise Invalid("The client disconnected before staging completed") from None
    return Response(status_code=204)


async def download(request: Request) -> Response:
    await reject_body(request)
    rt = runtime(request)
    result = await svc.download(
        rt, context(request), request.path_params["image_id"],
        request.headers.get("range"), request.headers.get("content-range"),
    )  # fmt: skip
    if result.reader is None:
        return Response(status_code=204)
    reader = result.reader
    headers = {"Content-Length": str(reader.end - reader.start)}
    if result.image.checksum and not result.partial:
        headers["Content-MD5"] = result.image.checksum
    status = 200
    if result.partial:
        status = 206
        headers["Content-Range"] = f"bytes {reader.start}-{reader.end - 1}/{reader.size}"

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in reader:
                yield chunk
        finally:
            await reader.aclose()

    return StreamingResponse(
        body(), status_code=status, media_type="application/octet-stream", headers=headers
    )
