"""Resources: one path and the handler for each method it takes, so a 405 lists them all.

Starlette routes are one (path, methods) pair each, and a request whose path matches but whose
method does not gets the ``Allow`` header of the first such route only: ``POST /v2/images/{id}``
answered ``Allow: GET, HEAD`` although the path also takes PATCH and DELETE. Glance declares each
path's methods together (a "reject" route per path), so its 405 lists every method. A
``Resource`` holds all of a path's handlers; its ``Allow`` is exactly their methods.

HEAD: Starlette answers HEAD wherever GET is routed. Glance routes HEAD nowhere on its API, so a
HEAD gets 405 there; API resources here do the same. Only the version documents take HEAD (see
``daguerre.api.routes``), as load balancers probe them with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.routing import (
    BaseRoute,
    Match,
    NoMatchFound,
    Route,
    compile_path,
    get_route_path,
    request_response,
)
from starlette.types import ASGIApp, Receive, Scope, Send

# The order Allow lists methods in: Glance writes them per route; sorted is stable and readable.
_ORDER = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


class Resource(BaseRoute):
    def __init__(self, path: str, handlers: dict[str, Callable[..., Any]]) -> None:
        assert path.startswith("/") and handlers, path
        self.path = path
        self.endpoints = {method.upper(): fn for method, fn in handlers.items()}
        self._apps: dict[str, ASGIApp] = {m: request_response(fn) for m, fn in self.endpoints.items()}
        self.methods = frozenset(self.endpoints)
        self.allow = ", ".join(sorted(self.methods, key=_ORDER.index))
        self.path_regex, self.path_format, self.param_convertors = compile_path(path)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        found = self.path_regex.match(get_route_path(scope))
        if not found:
            return Match.NONE, {}
        params = dict(scope.get("path_params", {}))
        params.update({k: self.param_convertors[k].convert(v) for k, v in found.groupdict().items()})
        endpoint = self.endpoints.get(scope["method"])
        child = {"endpoint": endpoint, "path_params": params}
        return (Match.FULL if endpoint else Match.PARTIAL), child

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._apps.get(scope["method"])
        if app is None:
            raise HTTPException(
                405, f"The method {scope['method']} is not allowed for this resource.", {"Allow": self.allow}
            )
        await app(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)  # API resources are not named; nothing reverses them

    def __repr__(self) -> str:
        return f"Resource(path={self.path!r}, methods={self.allow!r})"


def resources(routes: Iterable[Route]) -> list[Resource]:
    """Group single-method routes by path, in first-seen order, into Resources.

    Each route must name its methods; the HEAD Starlette adds beside GET is dropped (see above).
    """
    by_path: dict[str, dict[str, Callable[..., Any]]] = {}
    for route in routes:
        declared = (route.methods or set()) - {"HEAD"}
        handlers = by_path.setdefault(route.path, {})
        for method in declared:
            assert method not in handlers, f"{method} {route.path} is routed twice"
            handlers[method] = route.endpoint
    return [Resource(path, handlers) for path, handlers in by_path.items()]
