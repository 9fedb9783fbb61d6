"""The `daguerre` command: serve | worker | db upgrade/downgrade/current | stores check | openapi."""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import logging
import os
import sys

import uvicorn
from uvicorn.protocols.http import h11_impl, httptools_impl

from daguerre.api.openapi import openapi_document
from daguerre.app import build_app, build_runtime, check_bind, housekeeping, startup
from daguerre.db.database import Database
from daguerre.jobs.runner import worker_loop
from daguerre.services import metadef_catalog
from daguerre.settings import Settings, SettingsError, load_settings
from daguerre.stores.registry import build_stores


def _settings(args: argparse.Namespace) -> Settings:
    config = args.config or os.environ.get("DAGUERRE_CONFIG")
    settings = load_settings(config)
    if getattr(args, "data_dir", None):
        settings.DEFAULT.data_dir = args.data_dir
    return settings


def _logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")  # fmt: skip


# uvicorn stops reading a connection once 64 KiB of request body wait for the application, so
# an upload arrives in 64 KiB pieces with a pause and resume of the socket between each. Letting
# a chunk's worth (1 MiB) accumulate raised the rate at which one process takes in a body from
# 1.1 to 1.9 GB/s here (a sink app, curl over loopback), and our 1 MiB chunks then arrive whole.
# Memory per connection stays bounded at about this much plus one socket read.
UVICORN_BODY_BUFFER = 1024 * 1024


# Upload hashing runs on threads that must take the GIL back after every chunk, while the loop
# thread, busy receiving, holds it; by default a waiting thread forces a hand-over only after
# 5 ms, longer than hashing a chunk takes (~1.2 ms for md5 of 1 MiB). 0.5 ms keeps the hashers
# fed; catalog requests, which run without threads, are unaffected.
GIL_SWITCH_INTERVAL = 0.0005


# glibc gives each new thread its own malloc arena (up to 8 per CPU), and once a big buffer has
# been freed it serves later ones of that size from the arenas instead of fresh mappings, so
# every arena keeps what its threads once held. librados' messenger threads, the store and hash
# pools each pass 1-8 MiB buffers around: after one 1 GiB upload and download through the RBD
# store the server held 428 MiB (304 over its idle 124), with two arenas 220 MiB, at the same
# CPU per byte. (A fixed mmap threshold held 174 MiB but cost ~40% more CPU per byte.)
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # from glibc's malloc.h


def _tune_malloc() -> None:
    if os.environ.get("MALLOC_ARENA_MAX"):
        return  # the operator's own choice
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return  # not glibc: nothing to tune
    mallopt(_M_ARENA_MAX, MALLOC_ARENAS)


def _tune_threads() -> None:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)


def _tune_uvicorn() -> None:
    for module in (httptools_impl, h11_impl):
        if isinstance(getattr(module, "HIGH_WATER_LIMIT", None), int):
            setattr(module, "HIGH_WATER_LIMIT", UVICORN_BODY_BUFFER)  # noqa: B010 - not in uvicorn's stubs


def cmd_serve(args: argparse.Namespace) -> int:
    _tune_malloc()  # before any thread exists, so that none gets an arena of its own
    settings = _settings(args)
    host = args.host or settings.DEFAULT.bind_host
    port = args.port or settings.DEFAULT.bind_port
    check_bind(settings, host)
    app = build_app(settings, workers=args.workers)
    _tune_uvicorn()
    _tune_threads()
    uvicorn.run(app, host=host, port=port, log_level=args.log_level.lower(), access_log=False,
                timeout_keep_alive=30, lifespan="on")  # fmt: skip
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    _tune_malloc()
    settings = _settings(args)
    _tune_threads()

    async def main() -> None:
        rt = build_runtime(settings)
        await startup(rt, migrate=False)
        stop = asyncio.Event()
        try:
            await asyncio.gather(
                housekeeping(rt, stop),
                rt.db.run_checkpoints(stop),
                *(worker_loop(rt, stop=stop) for _ in range(args.concurrency)),
            )
        finally:
            await rt.close()

    asyncio.run(main())
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    settings = _settings(args)
    db = Database(settings.database_url)

    async def main() -> None:
        try:
            if args.action == "upgrade":
                await db.upgrade(args.revision or "head")
                if (args.revision or "head") == "head":
                    await metadef_catalog.load_into(db)
            elif args.action == "downgrade":
                await db.downgrade(args.revision or "base")
            print(await db.current_revision() or "(empty)")
        finally:
            await db.dispose()

    asyncio.run(main())
    return 0


def cmd_stores_check(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def main() -> int:
        stores, default = build_stores(settings)
        failed = 0
        for name, store in stores.items():
            try:
                await store.check()
                print(f"{name} ({store.type}){' [default]' if name == default else ''}: ok")
            except Exception as exc:  # noqa: BLE001 - report every store, then fail
                failed += 1
                print(f"{name} ({store.type}): FAILED: {exc}", file=sys.stderr)
            finally:
                await store.close()
        return 1 if failed else 0

    return asyncio.run(main())


def cmd_openapi(args: argparse.Namespace) -> int:
    print(json.dumps(openapi_document(_settings(args)), indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="daguerre", description="Daguerre image service")
    parser.add_argument("--config", help="INI config file (Glance section/option names)")
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the Images API v2")
    serve.add_argument("--config", dest="config", default=argparse.SUPPRESS)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--data-dir")
    serve.add_argument("--workers", type=int, default=None, help="in-process job workers")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run background job workers")
    worker.add_argument("--config", dest="config", default=argparse.SUPPRESS)
    worker.add_argument("--data-dir")
    worker.add_argument("--concurrency", type=int, default=2)
    worker.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database migrations")
    db.add_argument("action", choices=["upgrade", "downgrade", "current"])
    db.add_argument("revision", nargs="?")
    db.add_argument("--config", dest="config", default=argparse.SUPPRESS)
    db.add_argument("--data-dir")
    db.set_defaults(func=cmd_db)

    stores = sub.add_parser("stores", help="store tools")
    stores.add_argument("action", choices=["check"])
    stores.add_argument("--config", dest="config", default=argparse.SUPPRESS)
    stores.add_argument("--data-dir")
    stores.set_defaults(func=cmd_stores_check)

    openapi = sub.add_parser("openapi", help="print an OpenAPI 3.1 description of the API (for fuzzing)")
    openapi.add_argument("--config", dest="config", default=argparse.SUPPRESS)
    openapi.set_defaults(func=cmd_openapi)

    args = parser.parse_args(argv)
    _logging(args.log_level)
    try:
        return args.func(args)
    except SettingsError as exc:
        print(f"daguerre: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
