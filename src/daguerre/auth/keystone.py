"""Keystone token validation for the ASGI app (what keystonemiddleware's auth_token does, natively async).

The app calls :meth:`KeystoneAuthenticator.identify` with the caller's ``X-Auth-Token``. The token is
validated with ``GET /v3/auth/tokens?nocatalog`` (``X-Auth-Token`` = the service's own token,
``X-Subject-Token`` = the caller's) through a keystoneauth1 session, in a worker thread. Nothing is
parsed by hand: the response body goes through ``keystoneauth1.access.create``.

Results are cached in memory, keyed by a SHA-256 of the token (the raw token is never kept as a key),
for ``token_cache_time`` seconds but never past the token's own ``expires_at``; the cache holds at most
``token_cache_size`` entries (least recently used evicted first). Tokens Keystone called invalid (404)
are cached as invalid for the same time. Concurrent requests with the same uncached token share one
Keystone call.

Errors: :class:`AuthFailed` when Keystone refuses the token (404, 401, 400) or it has expired: the app
answers 401 with ``WWW-Authenticate: <authenticator.www_authenticate>``. :class:`KeystoneUnavailable`
when Keystone cannot be reached, answers 5xx, or refuses the service's own credentials: the app
answers 503 (it is not the caller's fault).

Options are named as in keystonemiddleware's ``[keystone_authtoken]`` section:
``www_authenticate_uri`` (``auth_uri`` accepted), ``auth_url``, ``auth_type`` (default ``password``)
and that plugin's options (``username``, ``password``, ``project_name``, ``user_domain_name``,
``project_domain_name``, ``user_id``, ``project_id``, ``system_scope``, ...), ``region_name``,
``interface`` (default ``internal``, as keystonemiddleware), ``token_cache_time`` (default 300;
0 or negative disables caching), ``http_connect_timeout``, ``http_request_max_retries`` (default 3),
``insecure``, ``cafile``, ``certfile``, ``keyfile``. Ours: ``token_cache_size`` (default 10000).
Ignored: ``memcached_servers`` and the other memcache/``service_token_roles``/``delay_auth_decision``
knobs (the app decides what to do with a missing token). Not supported: application-credential access
rules (we do not send ``OpenStack-Identity-Access-Rules``, so Keystone refuses such tokens: safe).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from keystoneauth1 import access as ks_access
from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading
from keystoneauth1 import session as ks_session

from daguerre.context import Identity

LOG = logging.getLogger(__name__)

__all__ = ["AuthFailed", "KeystoneAuthenticator", "KeystoneUnavailable"]

# Options that belong to the middleware/session, not to the auth plugin.
_NON_PLUGIN_OPTIONS = frozenset(
    {
        "www_authenticate_uri",
        "auth_uri",
        "auth_type",
        "auth_section",
        "region_name",
        "interface",
        "token_cache_time",
        "token_cache_size",
        "memcached_servers",
        "http_connect_timeout",
        "http_request_max_retries",
        "insecure",
        "cafile",
        "certfile",
        "keyfile",
        "delay_auth_decision",
        "include_service_catalog",
        "service_token_roles",
        "service_token_roles_required",
        "service_type",
        "cache",
        "memcache_security_strategy",
        "memcache_secret_key",
        "memcache_use_advanced_pool",
        "memcache_pool_dead_retry",
        "memcache_pool_maxsize",
        "memcache_pool_unused_timeout",
        "memcache_pool_conn_get_timeout",
        "memcache_pool_socket_timeout",
        "memcache_tls_enabled",
        "enforce_token_bind",
        "auth_version",
        "log_name",
    }
)

_MAX_TOKEN_LENGTH = 16384  # Keystone's own max_token_size is 255 for fernet; anything this long is junk.


class AuthFailed(Exception):
    """The token is invalid, revoked or expired (answer 401)."""


class KeystoneUnavailable(Exception):
    """Keystone could not be asked, or refused the service's own credentials (answer 503)."""


def _consume_exception(task: asyncio.Task[Any]) -> None:
    # Every caller may have gone away; do not let asyncio log "exception never retrieved".
    if not task.cancelled():
        task.exception()


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


class KeystoneAuthenticator:
    """Validates Keystone tokens and turns them into :class:`daguerre.context.Identity`."""

    def __init__(
        self,
        options: Mapping[str, str],
        *,
        session: ks_session.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        opts = {k.strip().lower().replace("-", "_"): v for k, v in options.items() if v is not None}
        self._clock = clock
        self._www_uri = (
            opts.get("www_authenticate_uri") or opts.get("auth_uri") or opts.get("auth_url") or ""
        ).strip()
        self._cache_time = float(opts.get("token_cache_time", 300))
        self._cache_size = max(1, int(opts.get("token_cache_size", 10000)))
        interface = (opts.get("interface") or "internal").strip()
        region = (opts.get("region_name") or "").strip() or None
        retries = int(opts.get("http_request_max_retries", 3))

        if session is None:
            auth = self._load_auth_plugin(opts)
            verify: bool | str = True
            if _truthy(opts.get("insecure", "false")):
                verify = False
            elif opts.get("cafile"):
                verify = opts["cafile"]
            cert: Any = None
            if opts.get("certfile"):
                cert = (opts["certfile"], opts["keyfile"]) if opts.get("keyfile") else opts["certfile"]
            timeout = opts.get("http_connect_timeout")
            session = ks_session.Session(
                auth=auth,
                verify=verify,
                cert=cert,
                timeout=float(timeout) if timeout else None,
                user_agent="daguerre-keystone-authenticator",
            )
        self._session = session
        self._adapter = ks_adapter.Adapter(
            session,
            service_type="identity",
            interface=interface,
            region_name=region,
            version="3.0",
            connect_retries=retries,
        )

        self._lock = threading.Lock()
        # sha256(token) -> (valid until, Identity or None for "Keystone said invalid")
        self._cache: OrderedDict[bytes, tuple[float, Identity | None]] = OrderedDict()
        self._inflight: dict[bytes, tuple[asyncio.AbstractEventLoop, asyncio.Task[Identity]]] = {}
        #: How many validation requests were sent to Keystone (for tests and metrics).
        self.validations = 0

    @staticmethod
    def _load_auth_plugin(opts: dict[str, Any]) -> Any:
        auth_type = (opts.get("auth_type") or "password").strip()
        try:
            loader: Any = ks_loading.get_plugin_loader(auth_type)
        except ks_exc.NoMatchingPlugin as e:
            raise ValueError(
                f"[keystone_authtoken] auth_type {auth_type!r} is not a keystoneauth1 plugin"
            ) from e
        kwargs: dict[str, Any] = {}
        for opt in loader.get_options():
            for name in [opt.dest, *(d.dest for d in opt.deprecated)]:
                if name in opts and name not in _NON_PLUGIN_OPTIONS:
                    kwargs[opt.dest] = opt.type(opts[name]) if opt.type is not None else opts[name]
                    break
        if "auth_url" not in kwargs and any(o.dest == "auth_url" for o in loader.get_options()):
            raise ValueError("[keystone_authtoken] auth_url is required")
        return loader.load_from_options(**kwargs)

    @property
    def www_authenticate(self) -> str:
        """Value for the ``WWW-Authenticate`` header of a 401."""
        return f'Keystone uri="{self._www_uri}"'

    @property
    def token_cache_time(self) -> float:
        return self._cache_time

    async def identify(self, token: str) -> Identity:
        """The identity behind ``token``; raises AuthFailed or KeystoneUnavailable."""
        if not token or len(token) > _MAX_TOKEN_LENGTH or not token.isascii() or not token.isprintable():
            raise AuthFailed("malformed token")
        key = hashlib.sha256(token.encode("ascii")).digest()
        cached = self._cache_get(key)
        if cached is not None:
            identity = cached[1]
            if identity is None:
                raise AuthFailed("invalid token (cached)")
            return identity

        loop = asyncio.get_running_loop()
        entry = self._inflight.get(key)
        if entry is not None and entry[0] is loop and not entry[1].done():
            task = entry[1]
        else:
            # One Keystone call per token however many requests carry it; it runs as its own task so
            # that a caller that goes away (cancelled) does not cancel the others.
            task = loop.create_task(self._fetch(key, token))
            task.add_done_callback(_consume_exception)
            self._inflight[key] = (loop, task)
        return await asyncio.shield(task)

    async def _fetch(self, key: bytes, token: str) -> Identity:
        try:
            identity, valid_until = await asyncio.to_thread(self._validate, token)
        except AuthFailed as e:
            if getattr(e, "cacheable", False):
                self._cache_put(key, None, self._clock() + self._cache_time)
            raise
        finally:
            entry = self._inflight.get(key)
            if entry is not None and entry[1] is asyncio.current_task():
                del self._inflight[key]
        self._cache_put(key, identity, valid_until)
        return identity

    def invalidate(self, token: str) -> None:
        """Forget what the cache knows about ``token``."""
        key = hashlib.sha256(token.encode("ascii", "replace")).digest()
        with self._lock:
            self._cache.pop(key, None)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def close(self) -> None:
        """Close the pooled HTTP connections (the authenticator stays usable)."""
        self._session.session.close()

    # -- cache -------------------------------------------------------------------------------------

    def _cache_get(self, key: bytes) -> tuple[float, Identity | None] | None:
        if self._cache_time <= 0:
            return None
        now = self._clock()
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            if entry[0] <= now:
                del self._cache[key]
                return None
            self._cache.move_to_end(key)
            return entry

    def _cache_put(self, key: bytes, identity: Identity | None, valid_until: float) -> None:
        if self._cache_time <= 0:
            return
        until = min(valid_until, self._clock() + self._cache_time)
        with self._lock:
            self._cache[key] = (until, identity)
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    # -- the Keystone call (worker thread) ----------------------------------------------------------

    def _validate(self, token: str) -> tuple[Identity, float]:
        # The service's own token first, so that a refusal of *our* credentials is not taken for a
        # refusal of the caller's token.
        try:
            self._adapter.get_token()
        except (ks_exc.ConnectionError, ks_exc.DiscoveryFailure) as e:
            LOG.warning("Keystone unreachable: %s", e)
            raise KeystoneUnavailable(f"Keystone unreachable: {e}") from e
        except ks_exc.ClientException as e:
            LOG.error("Keystone refused or could not issue the service token: %s", e)
            raise KeystoneUnavailable(f"cannot authenticate the image service to Keystone: {e}") from e

        with self._lock:
            self.validations += 1
        try:
            resp = self._adapter.get(
                "/auth/tokens?nocatalog",
                headers={"X-Subject-Token": token},
                authenticated=True,
            )
        except (ks_exc.NotFound, ks_exc.BadRequest) as e:
            failed = AuthFailed("token refused by Keystone")
            failed.cacheable = True  # type: ignore[attr-defined]
            raise failed from e
        except ks_exc.Unauthorized as e:
            # After keystoneauth's own re-authentication retry: Keystone still says 401.
            raise AuthFailed("token refused by Keystone (401)") from e
        except (ks_exc.ConnectionError, ks_exc.DiscoveryFailure, ks_exc.EndpointNotFound) as e:
            LOG.warning("Keystone unreachable: %s", e)
            raise KeystoneUnavailable(f"Keystone unreachable: {e}") from e
        except ks_exc.HttpError as e:
            LOG.warning("Keystone answered %s while validating a token", e.http_status)
            raise KeystoneUnavailable(f"Keystone answered {e.http_status}") from e
        except ks_exc.ClientException as e:
            raise KeystoneUnavailable(f"Keystone call failed: {e}") from e

        try:
            info = ks_access.create(resp=resp)
        except Exception as e:  # an unexpected body is Keystone's problem, not the caller's
            raise KeystoneUnavailable(f"unexpected token body from Keystone: {e}") from e
        if not isinstance(info, ks_access.AccessInfoV3):
            raise KeystoneUnavailable("Keystone did not answer with a v3 token")
        expires = info.expires
        expires_at = expires.timestamp() if expires is not None else self._clock() + self._cache_time
        if expires_at <= self._clock():
            raise AuthFailed("token expired")
        return self._identity(info), expires_at

    @staticmethod
    def _identity(info: ks_access.AccessInfoV3) -> Identity:
        return Identity(
            user_id=info.user_id,
            project_id=info.project_id,
            roles=frozenset(r.lower() for r in (info.role_names or [])),
            user_name=info.username,
            project_name=info.project_name,
            user_domain_id=info.user_domain_id,
            project_domain_id=info.project_domain_id,
            system_scope="all" if info.system_scoped else None,
            domain_id=info.domain_id,
            is_admin_project=info.is_admin_project,
        )
