"""Pure ASGI middleware: version negotiation, request ids, identity, access log, error safety net."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from daguerre.auth import Authenticator
from daguerre.context import RequestContext
from daguerre.domain.errors import DomainError, Unauthenticated
from daguerre.wire.errors import error_response, status_for

access_log = logging.getLogger("daguerre.access")
log = logging.getLogger(__name__)

_VERSIONED = re.compile(r"^/v2(?:\.\d+)?(/.*)?$")
_KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"}
# Paths answered without identity: version discovery and the dashboard's static files.
# Unknown version prefixes (/v1/..., /v3) get the versions document before any auth, as Glance's
# version negotiation sits in front of its authentication.
# The dashboard (/ui) authenticates its own cookie sessions.
_PUBLIC = re.compile(r"^/(versions/?)?$|^/healthcheck$|^/ui(/|$)|^/v(?!2(?:\.\d+)?(?:/|$))")


class RequestMiddleware:
    def __init__(self, app: ASGIApp, authenticator: Authenticator, max_request_id_length: int = 64) -> None:
        self.app = app
        self.auth = authenticator
        self.max_id = max_request_id_length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        started = time.perf_counter()
        given_id = headers.get("x-openstack-request-id")
        request_id = given_id or f"req-{uuid.uuid4()}"
        if not request_id.startswith("req-"):
            request_id = f"req-{request_id}"
        state = {"status": 0, "bytes": 0}
        accept = headers.get("accept")

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-openstack-request-id", request_id.encode())]
            elif message["type"] == "http.response.body":
                state["bytes"] += len(message.get("body", b""))
            await send(message)

        identity = None
        try:
            if given_id and len(given_id) > self.max_id:
                await error_response(431, "x-openstack-request-id is too long", accept)(
                    scope, receive, send_wrapper
                )
                return
            if scope["method"] not in _KNOWN_METHODS:
                await error_response(501, f"Method {scope['method']} is not implemented", accept)(
                    scope, receive, send_wrapper
                )
                return
            if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
                # PostgreSQL cannot compare text with NUL in it: a 500 if it got that far.
                await error_response(400, "NUL characters are not allowed in the URL", accept)(
                    scope, receive, send_wrapper
                )
                return
            self._negotiate_version(scope, headers)
            if not _PUBLIC.match(scope["path"]):
                try:
                    identity = await self.auth.authenticate(headers)
                except Unauthenticated as exc:
                    extra = (
                        {"WWW-Authenticate": self.auth.www_authenticate}
                        if self.auth.www_authenticate
                        else None
                    )
                    await error_response(401, exc.message or "Authentication required", accept, extra)(
                        scope, receive, send_wrapper
                    )
                    return
                except DomainError as exc:
                    await error_response(status_for(exc), exc.message, accept)(scope, receive, send_wrapper)
                    return
                scope["daguerre.context"] = RequestContext(identity, request_id, headers.get("x-auth-token"))
            await self.app(scope, receive, send_wrapper)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if state["status"] == 0:
                await error_response(500, "An unexpected error occurred", accept)(
                    scope, receive, send_wrapper
                )
            else:
                raise
        finally:
            access_log.info(
                "%s %s %s status=%s bytes=%s user=%s project=%s duration=%.4f",
                request_id, scope["method"], scope["path"], state["status"], state["bytes"],
                identity.user_id if identity else "-", identity.project_id if identity else "-",
                time.perf_counter() - started,
            )  # fmt: skip

    @staticmethod
    def _negotiate_version(scope: Scope, headers: Headers) -> None:
        path = scope["path"]
        m = _VERSIONED.match(path)
        if m:
            rest = m.group(1) or "/"
            scope["path"] = "/v2" + rest if rest != "/" else "/v2/"
            scope["raw_path"] = scope["path"].encode()
            return
        accept = headers.get("accept", "")
        if "application/vnd.openstack.images-v2" in accept and not path.startswith("/v"):
            scope["path"] = "/v2" + path
            scope["raw_path"] = scope["path"].encode()
