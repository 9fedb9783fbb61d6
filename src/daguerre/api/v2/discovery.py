"""/v2/schemas/* and /v2/info/*."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from daguerre.api.requests import context, reject_body, runtime
from daguerre.api.responses import JSONResponse
from daguerre.domain import schemas
from daguerre.domain.errors import NotFound


async def schema(request: Request) -> Response:
    await reject_body(request)
    rt = runtime(request)
    fmt = rt.settings.image_format
    name = request.path_params["name"]
    docs = {
        "image": lambda: schemas.image_schema(fmt.disk_formats, fmt.container_formats),
        "images": lambda: schemas.images_schema(fmt.disk_formats, fmt.container_formats),
        "member": lambda: schemas.MEMBER_SCHEMA,
        "members": lambda: schemas.MEMBERS_SCHEMA,
        "task": lambda: schemas.TASK_SCHEMA,
        "tasks": schemas.tasks_schema,
    }
    if name not in docs:
        raise NotFound(f"No schema named {name}")
    return JSONResponse(docs[name]())


async def import_info(request: Request) -> Response:
    await reject_body(request)
    rt = runtime(request)
    return JSONResponse(
        {
            "import-methods": {
                "description": "Import methods available.",
                "type": "array",
                "value": list(rt.settings.DEFAULT.enabled_import_methods),
            }
        }
    )


async def stores_info(request: Request) -> Response:
    await reject_body(request)
    rt = runtime(request)
    if not rt.multi_store:
        raise NotFound("Multi backend is not supported at this site.")
    out = []
    for store_id, store in rt.stores.items():
        entry: dict = {
            "id": store_id,
            "description": rt.settings.backends.get(store_id, {}).get("description", store.type),
        }
        if store_id == rt.default_store:
            entry["default"] = "true"
        if not store.capabilities.writable:
            entry["read-only"] = "true"
        out.append(entry)
    return JSONResponse({"stores": sorted(out, key=lambda e: e["id"])})


async def stores_detail(request: Request) -> Response:
    await reject_body(request)
    rt = runtime(request)
    rt.policy.authorize(context(request), "stores_info_detail", {"project_id": context(request).project_id})
    if not rt.multi_store:
        raise NotFound("Multi backend is not supported at this site.")
    out = []
    for store_id, store in rt.stores.items():
        entry: dict = {
            "id": store_id,
            "type": store.type,
            "weight": rt.weights.get(store_id, 0),
            "description": rt.settings.backends.get(store_id, {}).get("description", store.type),
            "properties": _store_properties(store),
        }
        if store_id == rt.default_store:
            entry["default"] = "true"
        if not store.capabilities.writable:
            entry["read-only"] = "true"
        out.append(entry)
    return JSONResponse({"stores": out})


def _store_properties(store) -> dict:  # noqa: ANN001
    if store.type == "file":
        return {
            "data_dir": str(getattr(store, "root", "")),
            "chunk_size": 4 * 2**20,
            "thin_provisioning": False,
        }
    if store.type == "rbd":
        return {"pool": getattr(store, "pool", ""), "chunk_size": getattr(store, "chunk_size", 0),
                "thin_provisioning": True}  # fmt: skip
    if store.type == "s3":
        return {"s3_store_bucket": getattr(store, "bucket", "")}
    return {}


async def usage(request: Request) -> Response:
    await reject_body(request)
    return JSONResponse({"usage": {}})
