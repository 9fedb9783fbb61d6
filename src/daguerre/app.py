"""Composition root: build_runtime and build_app wire every tier explicitly."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import os
from collections.abc import AsyncIterator

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from daguerre import auth, web
from daguerre.api import versions
from daguerre.api.middleware import RequestMiddleware
from daguerre.api.routes import ROUTES
from daguerre.api.v2.images import PATCH_V20, PATCH_V21
from daguerre.db.database import Database, write_transaction_open
from daguerre.db.schema import jobs
from daguerre.domain.errors import DomainError, TooManyRequests
from daguerre.jobs.runner import release_dead_local, worker_loop
from daguerre.policy import Policy
from daguerre.runtime import Runtime

# import_job and location_job register their job handlers when imported.
from daguerre.services import cache_fill, import_job, location_job, metadef_catalog  # noqa: F401
from daguerre.services.data import recover_interrupted
from daguerre.services.import_job import work_dir
from daguerre.settings import Settings, SettingsError
from daguerre.stores.filesystem import FilesystemStore
from daguerre.stores.registry import build_staging, build_stores, store_weights
from daguerre.web import metadefs as web_metadefs
from daguerre.web.metadefs_catalog import ServiceCatalog
from daguerre.wire.errors import error_response, status_for

log = logging.getLogger(__name__)


def build_runtime(settings: Settings) -> Runtime:
    stores, default = build_stores(settings)
    rt = Runtime(
        settings=settings,
        db=Database(settings.database_url, pool_size=settings.database.pool_size),
        policy=Policy(settings),
        stores=stores,
        default_store=default,
        weights=store_weights(settings),
        staging=build_staging(settings, stores),
    )
    if os.environ.get("DAGUERRE_CHECK_STORE_IO") == "1":  # test servers set it (testing/server.py)
        check_store_io(rt)
    return rt


# The store calls that reach the backend (and may wait for its whole timeout).
_STORE_IO = ("put", "open", "stat", "delete", "discard_partial", "in_use", "check", "list_keys")


def check_store_io(rt: Runtime) -> None:
    """Debug and test mode: every store call fails (AssertionError, logged) when the calling task
    holds a database write transaction open. A store call can wait for the store's timeout, and
    a write transaction holds SQLite's one writer: every write of the service would wait too.
    The stores' methods are wrapped on the instances, so nothing changes when this is off."""
    for store in {id(s): s for s in [*rt.stores.values(), rt.staging]}.values():
        for name in _STORE_IO:
            method = getattr(store, name, None)
            if method is not None:
                setattr(store, name, _outside_writes(store.id, name, method))


def _outside_writes(store_id: str, name: str, method):  # noqa: ANN001, ANN202
    @functools.wraps(method)
    async def guarded(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if write_transaction_open():
            log.error("store call %s.%s inside a database write transaction", store_id, name)
            raise AssertionError(f"store call {store_id}.{name} inside a database write transaction")
        return await method(*args, **kwargs)

    return guarded


def check_bind(settings: Settings, host: str) -> None:
    """Secure by default: modes that trust the caller only listen on loopback."""
    if settings.auth.strategy == "keystone":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise SettingsError(
            f"[auth] strategy = {settings.auth.strategy} only listens on loopback; "
            f"refusing to bind {host}. Use [auth] strategy = keystone to serve other hosts."
        )


async def startup(rt: Runtime, *, migrate: bool = True) -> None:
    cache_fill.install(rt)
    if migrate:
        await rt.db.upgrade()
        # The metadata definitions catalog we ship is loaded once (idempotent, lock-guarded).
        await metadef_catalog.load_into(rt.db)
    released = await release_dead_local(rt)
    if released:
        log.warning("resuming %d jobs whose worker process died", released)
    for store in [*rt.stores.values(), rt.staging]:
        if isinstance(store, FilesystemStore):
            removed = store.reap_orphans()
            if removed:
                log.warning(
                    "removed %d temporary files left by crashed writers in %s", len(removed), store.root
                )
    await recover_interrupted(rt)
    await _sweep_work_dir(rt)


async def _sweep_work_dir(rt: Runtime) -> None:
    """Temporaries of jobs that no longer exist (finished, failed, or never recorded)."""
    async with rt.db.read() as conn:
        live = {
            r[0]
            for r in await conn.execute(sa.select(jobs.c.id).where(jobs.c.state.in_(["ready", "running"])))
        }
    for path in work_dir(rt).iterdir():
        if path.name.split(".")[0] not in live:
            path.unlink(missing_ok=True)


async def housekeeping(rt: Runtime, stop: asyncio.Event, every: float = 5.0) -> None:
    """Periodically recover work whose process died: uploads and stages go back to queued (their
    lease expired, on any host), and jobs leased by a dead process on this host are released at
    once rather than when their lease runs out."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), every)
        except TimeoutError:
            pass
        if stop.is_set():
            return
        try:
            await recover_interrupted(rt)
            await release_dead_local(rt)
        except Exception:
            log.exception("housekeeping failed")


def build_app(settings: Settings, *, runtime: Runtime | None = None, workers: int | None = None) -> Starlette:
    rt = runtime or build_runtime(settings)
    n_workers = settings.DEFAULT.workers if workers is None else workers

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await startup(rt)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(worker_loop(rt, stop=stop)) for _ in range(n_workers)]
        tasks.append(asyncio.create_task(housekeeping(rt, stop)))
        tasks.append(asyncio.create_task(rt.db.run_checkpoints(stop)))
        try:
            yield
        finally:
            stop.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await rt.close()

    async def domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
        if status_for(exc) == 415 and request.method == "PATCH":
            headers = {"Accept-Patch": f"{PATCH_V21}, {PATCH_V20}"}
        return error_response(status_for(exc), exc.message, request.headers.get("accept"), headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if (
            exc.status_code == 404
            and request.url.path.startswith("/v")
            and not request.url.path.startswith("/v2")
        ):
            return await versions.multiple_choices(request)
        return error_response(exc.status_code, exc.detail or "", request.headers.get("accept"), exc.headers)

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "An unexpected error occurred", request.headers.get("accept"))

    # The dashboard's "Update Metadata" reads the metadata definitions catalog.
    web_metadefs.set_catalog(ServiceCatalog())
    app = Starlette(
        routes=[*ROUTES, *web.ROUTES],
        lifespan=lifespan,
        exception_handlers={DomainError: domain_error, HTTPException: http_error, Exception: unexpected},
    )
    app.state.runtime = rt
    # /v2/images/ is not /v2/images: Glance answers 404 there, and so do we (no slash redirects).
    app.router.redirect_slashes = False
    authenticator = auth.build(settings.auth.strategy, settings.keystone_authtoken)
    # The dashboard authenticates its own (cookie-based) sessions with the same strategy.
    app.state.authenticator = authenticator
    return RequestMiddleware(app, authenticator, settings.DEFAULT.max_request_id_length)  # type: ignore[return-value]
