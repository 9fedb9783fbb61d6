"""The one mapping from domain errors to HTTP status codes, rendered in Glance's error shape.

Glance's errors are webob exceptions that render by the request's Accept header: HTML when
text/html wins (``*/*`` included, which is what python-requests and so glanceclient send), a JSON
object ``{"message", "code": "<status line>", "title"}`` for application/json (Tempest), and plain
text when neither is acceptable.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping

from starlette.responses import Response

from daguerre.domain import errors as e

STATUS_OF: list[tuple[type[e.DomainError], int]] = [
    (e.Invalid, 400),
    (e.Unauthenticated, 401),
    (e.Forbidden, 403),
    (e.NotFound, 404),
    (e.Conflict, 409),
    (e.Gone, 410),
    (e.TooLarge, 413),
    (e.UnsupportedMedia, 415),
    (e.RangeNotSatisfiable, 416),
    (e.TooManyRequests, 429),
    (e.Unavailable, 503),
]

TITLES = {
    300: "Multiple Choices", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 410: "Gone", 413: "Request Entity Too Large",
    415: "Unsupported Media Type", 416: "Request Range Not Satisfiable", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}  # fmt: skip

# Our own one-line explanations, shown before the specific detail.
EXPLANATIONS = {
    400: "The request could not be understood.",
    401: "Authentication is required to access this resource.",
    403: "You are not allowed to do this.",
    404: "The resource could not be found.",
    405: "This method is not allowed on this resource.",
    409: "The request conflicts with the current state of the resource.",
    410: "The resource is gone.",
    413: "The request is larger than this server accepts.",
    415: "The request's content is not in a supported form.",
    416: "The requested range cannot be served.",
    429: "Too many requests.",
    431: "A request header is too large.",
    500: "The server met an unexpected condition.",
    501: "This method is not implemented.",
    503: "The service is temporarily unavailable.",
}


def status_for(exc: e.DomainError) -> int:
    for cls, status in STATUS_OF:
        if isinstance(exc, cls):
            return status
    return 500


def _negotiate(accept: str | None) -> str:
    if not accept:
        return "text/plain"
    best, best_q = None, 0.0
    for offer in ("text/html", "application/json"):
        q = _quality(accept, offer)
        if q > best_q:
            best, best_q = offer, q
    return best or "text/plain"


def _quality(accept: str, offer: str) -> float:
    kind = offer.split("/")[0]
    best = 0.0
    specificity = -1
    for part in accept.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        media = media.lower()
        spec = 2 if media == offer else 1 if media == f"{kind}/*" else 0 if media == "*/*" else -1
        if spec > specificity:
            specificity, best = spec, q
    return best


def error_response(
    status: int, detail: str, accept: str | None, headers: Mapping[str, str] | None = None
) -> Response:
    title = TITLES.get(status, "Error")
    explanation = EXPLANATIONS.get(status, "")
    kind = _negotiate(accept)
    if kind == "application/json":
        body = json.dumps(
            {
                "message": f"{explanation}<br /><br />\n{detail}\n\n",
                "code": f"{status} {title}",
                "title": title,
            }
        )
        media = "application/json"
    elif kind == "text/html":
        body = (
            f"<html>\n <head>\n  <title>{status} {title}</title>\n </head>\n <body>\n  <h1>{status} {title}</h1>\n"
            f"  {html.escape(explanation)}<br /><br />\n{html.escape(detail)}\n\n\n </body>\n</html>"
        )
        media = "text/html"
    else:
        body = f"{status} {title}\n\n{explanation}\n\n{detail}  "
        media = "text/plain"
    return Response(body, status_code=status, media_type=media, headers=headers)
