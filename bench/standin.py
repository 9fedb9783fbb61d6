"""A tiny stand-in for a Glance v2 server, used only to test the bench harness itself.

In-memory catalog, files under --data-dir, md5+sha512 on worker threads, web-download import
with optional conversion to raw via qemu-img. Not Daguerre, not a reference: its figures mean
nothing except that the harness works.

Run: python bench/standin.py --port N --data-dir DIR
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

DATA: Path = Path(".")
IMAGES: dict[str, dict] = {}
ORDER: list[str] = []


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def create(request: Request):
    body = await request.json()
    iid = str(uuid.uuid4())
    img = {
        "id": iid,
        "status": "queued",
        "name": None,
        "disk_format": None,
        "container_format": None,
        "visibility": "shared",
        "size": None,
        "tags": [],
        "created_at": now(),
        "updated_at": now(),
        "checksum": None,
        "os_hash_value": None,
    }
    img.update(body)
    IMAGES[iid] = img
    ORDER.append(iid)
    return JSONResponse(img, status_code=201)


async def show(request: Request):
    img = IMAGES.get(request.path_params["id"])
    return JSONResponse(img) if img else Response(status_code=404)


async def listing(request: Request):
    q = dict(request.query_params)
    limit = min(int(q.pop("limit", 25)), 1000)
    marker = q.pop("marker", None)
    q.pop("sort_key", None)
    q.pop("sort_dir", None)
    out, started = [], marker is None
    for iid in reversed(ORDER):
        if not started:
            started = iid == marker
            continue
        img = IMAGES.get(iid)
        if img and all(str(img.get(k)) == v for k, v in q.items()):
            out.append(img)
            if len(out) >= limit:
                break
    body = {"images": out}
    if len(out) == limit:
        rest = "".join(f"&{k}={v}" for k, v in q.items())
        body["next"] = f"/v2/images?limit={limit}&marker={out[-1]['id']}{rest}"
    return JSONResponse(body)


async def patch(request: Request):
    img = IMAGES.get(request.path_params["id"])
    if not img:
        return Response(status_code=404)
    for op in await request.json():
        img[op["path"].lstrip("/")] = op.get("value")
    img["updated_at"] = now()
    return JSONResponse(img)


async def delete(request: Request):
    iid = request.path_params["id"]
    img = IMAGES.pop(iid, None)
    if not img:
        return Response(status_code=404)
    (DATA / iid).unlink(missing_ok=True)
    return Response(status_code=204)


async def _store(iid: str, chunks) -> None:
    img = IMAGES[iid]
    md5, sha = hashlib.md5(), hashlib.sha512()
    size = 0
    with open(DATA / iid, "wb") as f:
        async for chunk in chunks:
            if not chunk:
                continue
            size += len(chunk)
            await asyncio.gather(
                anyio.to_thread.run_sync(md5.update, chunk),
                anyio.to_thread.run_sync(sha.update, chunk),
                anyio.to_thread.run_sync(f.write, chunk),
            )
    img.update(
        status="active",
        size=size,
        checksum=md5.hexdigest(),
        os_hash_value=sha.hexdigest(),
        os_hash_algo="sha512",
        updated_at=now(),
    )


async def _rechunk(stream, size=1 << 20):
    buf = bytearray()
    async for c in stream:
        buf += c
        if len(buf) >= size:
            yield bytes(buf)
            buf.clear()
    if buf:
        yield bytes(buf)


async def upload(request: Request):
    iid = request.path_params["id"]
    if iid not in IMAGES:
        return Response(status_code=404)
    IMAGES[iid]["status"] = "saving"
    await _store(iid, _rechunk(request.stream()))
    return Response(status_code=204)


async def download(request: Request):
    iid = request.path_params["id"]
    img = IMAGES.get(iid)
    if not img or img["status"] != "active":
        return Response(status_code=404 if not img else 204)

    async def body():
        with open(DATA / iid, "rb") as f:
            while chunk := await anyio.to_thread.run_sync(f.read, 1 << 20):
                yield chunk

    return StreamingResponse(
        body(), media_type="application/octet-stream", headers={"Content-Length": str(img["size"])}
    )


async def _web_download(iid: str, uri: str) -> None:
    img = IMAGES[iid]
    tmp = DATA / f"{iid}.staging"
    try:
        async with httpx.AsyncClient(timeout=60) as c, c.stream("GET", uri) as r:
            with open(tmp, "wb") as f:
                async for chunk in r.aiter_bytes(1 << 20):
                    await anyio.to_thread.run_sync(f.write, chunk)
        if img.get("disk_format") == "qcow2":
            raw = DATA / f"{iid}.raw"
            await anyio.to_thread.run_sync(
                lambda: subprocess.run(
                    ["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(tmp), str(raw)], check=True
                )
            )
            os.replace(raw, tmp)
            img["disk_format"] = "raw"

        async def chunks():
            with open(tmp, "rb") as f:
                while c := await anyio.to_thread.run_sync(f.read, 1 << 20):
                    yield c

        await _store(iid, chunks())
    except Exception as e:  # noqa: BLE001
        img.update(status="queued", os_glance_failed_import=str(e))
    finally:
        tmp.unlink(missing_ok=True)


async def do_import(request: Request):
    iid = request.path_params["id"]
    img = IMAGES.get(iid)
    if not img:
        return Response(status_code=404)
    method = (await request.json())["method"]
    img["status"] = "importing"
    asyncio.get_running_loop().create_task(_web_download(iid, method["uri"]))
    return Response(status_code=202)


app = Starlette(
    routes=[
        Route("/v2/images", create, methods=["POST"]),
        Route("/v2/images", listing, methods=["GET"]),
        Route("/v2/images/{id}", show, methods=["GET"]),
        Route("/v2/images/{id}", patch, methods=["PATCH"]),
        Route("/v2/images/{id}", delete, methods=["DELETE"]),
        Route("/v2/images/{id}/file", upload, methods=["PUT"]),
        Route("/v2/images/{id}/file", download, methods=["GET"]),
        Route("/v2/images/{id}/import", do_import, methods=["POST"]),
    ]
)


def main() -> None:
    global DATA
    import uvicorn

    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--data-dir", required=True)
    a = p.parse_args()
    DATA = Path(a.data_dir)
    DATA.mkdir(parents=True, exist_ok=True)
    uvicorn.run(app, host=a.host, port=a.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
