"""Rendering: one Jinja2 environment, the page wrapper (identity, CSRF, errors) and small helpers."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import jinja2
from starlette.datastructures import MultiDict
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from daguerre.context import RequestContext
from daguerre.domain.errors import DomainError, Invalid, Unauthenticated, UnsupportedMedia
from daguerre.web.identity import LoginRequired, identify, strategy
from daguerre.web.session import csrf_ok, get_session, save
from daguerre.wire.bodies import has_body
from daguerre.wire.errors import TITLES, status_for

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
MAX_FORM_BYTES = 64 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# Messages shown after a redirect, by code (never text taken from the URL).
NOTICES = {
    "created": "Image created.",
    "uploaded": "Image data uploaded.",
    "updated": "Image updated.",
    "property-set": "Property saved.",
    "property-removed": "Property removed.",
    "tag-added": "Tag added.",
    "tag-removed": "Tag removed.",
    "deactivated": "Image deactivated.",
    "reactivated": "Image reactivated.",
    "deleted": "Image deleted.",
    "member-added": "Project added as a member.",
    "member-removed": "Member removed.",
    "member-status": "Membership updated.",
    "metadata": "Metadata updated.",
    "logged-out": "You have logged out.",
}


def _dash(value: Any) -> Any:
    return "—" if value is None or value == "" else value


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def _size(value: int | None) -> str:
    if value is None:
        return "—"
    step = 1024.0
    amount = float(value)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if amount < step or unit == "TiB":
            return f"{value:,} bytes" if unit == "bytes" else f"{amount:.1f} {unit}"
        amount /= step
    return f"{value} bytes"


ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=jinja2.select_autoescape(["html"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(dash=_dash, when=_when, size=_size, q=lambda v: quote(str(v), safe=""))


def render(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    ctx: RequestContext | None = request.scope.get("daguerre.context")
    session = get_session(request)
    notice = NOTICES.get(request.query_params.get("notice", ""))
    values.setdefault("error", None)
    body = ENV.get_template(template).render(
        request=request, ctx=ctx, identity=ctx.identity if ctx else None, csrf_token=session.csrf,
        mode=strategy(request), session=session, notice=notice, **values,
    )  # fmt: skip
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def error_page(request: Request, status: int, message: str, **values: Any) -> HTMLResponse:
    values.setdefault("title", f"{status} {TITLES.get(status, 'Error')}")
    return render(request, "error.html", status=status, message=message, status_code=status, **values)


def redirect(url: str, notice: str | None = None) -> RedirectResponse:
    if notice:
        url += ("&" if "?" in url else "?") + urlencode({"notice": notice})
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def json_error(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"message": message, "code": status, "title": TITLES.get(status, "Error")}, status_code=status
    )


async def read_form(request: Request) -> MultiDict:
    """An application/x-www-form-urlencoded body, bounded (the dashboard posts no multipart)."""
    if not has_body(request):
        return MultiDict()
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise UnsupportedMedia(
            f"Forms must be sent as application/x-www-form-urlencoded, not {media or '(none)'}"
        )
    raw = bytearray()
    try:
        async for piece in request.stream():
            raw += piece
            if len(raw) > MAX_FORM_BYTES:
                raise Invalid(f"The form is larger than {MAX_FORM_BYTES} bytes")
    except ClientDisconnect:
        raise Invalid("The browser disconnected before sending the whole form") from None
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=2000
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise Invalid(f"The form could not be read: {exc}") from None
    if any("\x00" in k or "\x00" in v for k, v in pairs):
        raise Invalid("The form could not be read: NUL characters are not allowed")  # PostgreSQL refuses them
    return MultiDict(pairs)


class CsrfRefused(Exception):
    pass


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # older browsers and scripted clients; the CSRF token still has to match
    if origin == "null":
        return False
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


async def check_csrf(request: Request, form: MultiDict | None) -> None:
    given = request.headers.get("x-csrf-token") if form is None else form.get("csrf_token")
    if not _same_origin(request):
        raise CsrfRefused("The form was sent from another site.")
    if not csrf_ok(request, given):
        raise CsrfRefused("The form's security token is missing or stale. Reload the page and try again.")


Handler = Callable[..., Awaitable[Response]]


def page(
    *, form: bool = False, login: bool = True
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a handler: security headers, session cookie, identity, CSRF on POST, errors as pages.

    ``form=True``: the POST body is a urlencoded form, read and CSRF-checked here and passed on.
    ``login=False``: the page works without an identity (login form, static help).
    """

    def wrap(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(fn)
        async def endpoint(request: Request) -> Response:
            try:
                args: list[Any] = []
                if request.method == "POST":
                    data = await read_form(request) if form else None
                    await check_csrf(request, data)
                    if form:
                        args.append(data)
                ctx = await identify(request) if login else None
                response = await fn(request, ctx, *args)
            except LoginRequired as exc:
                nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                query = {"next": nxt if request.method == "GET" else "/ui/images"}
                if exc.message:
                    query["expired"] = "1"
                response = redirect("/ui/login?" + urlencode(query))
            except CsrfRefused as exc:
                response = _refusal(request, 403, str(exc))
            except Unauthenticated as exc:
                hint = ""
                if strategy(request) == "trusted-headers":
                    hint = " The dashboard expects the identity headers of the authenticating proxy in front of it."
                response = _refusal(request, 401, (exc.message or "Authentication required.") + hint)
            except DomainError as exc:
                response = _refusal(request, status_for(exc), exc.message)
            return save(request, response)

        return endpoint

    return wrap


def _refusal(request: Request, status: int, message: str) -> Response:
    if wants_json(request):
        return json_error(status, message)
    return error_page(request, status, message)


def safe_next(url: str | None) -> str:
    """Only same-site dashboard paths are followed after login."""
    if url and url.startswith("/ui") and not url.startswith("//") and "\\" not in url:
        return url
    return "/ui/images"
