"""SSRF-hardened web-download: URL filtering, one-shot resolution, and a pinned-IP HTTP client."""

from daguerre.fetch.client import AuditInfo, Download, FetchError, FetchLimits, open_url
from daguerre.fetch.filter import CheckedURL, URLRefused, check_url, classify, redact_url
from daguerre.fetch.resolver import ResolutionError, Resolver, StaticResolver, SystemResolver

__all__ = [
    "AuditInfo",
    "CheckedURL",
    "Download",
    "FetchError",
    "FetchLimits",
    "ResolutionError",
    "Resolver",
    "StaticResolver",
    "SystemResolver",
    "URLRefused",
    "check_url",
    "classify",
    "open_url",
    "redact_url",
]
