"""Domain errors. wire/errors.py is the one place that maps them to HTTP status codes."""

from __future__ import annotations


class DomainError(Exception):
    """Base class; ``message`` is shown to the caller."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class Invalid(DomainError):
    """The request is malformed or a value is out of range (400)."""


class Unauthenticated(DomainError):
    """No valid identity (401)."""


class Forbidden(DomainError):
    """The caller can see the resource but may not do this (403)."""


class NotFound(DomainError):
    """Missing, or invisible to the caller (404)."""


class Conflict(DomainError):
    """The resource is in the wrong state for this (409)."""


class Gone(DomainError):
    """The resource disappeared while we worked on it (410)."""


class TooLarge(DomainError):
    """A size, count or quota limit was exceeded (413)."""


class UnsupportedMedia(DomainError):
    """Wrong content type, or image bytes refused by format inspection (415)."""


class RangeNotSatisfiable(DomainError):
    """416."""


class TooManyRequests(DomainError):
    """Rate limited (429); ``retry_after`` in seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(DomainError):
    """A backend is down (503)."""
