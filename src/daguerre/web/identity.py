"""Who is using the dashboard: the same authenticator as the API, fed from the right place.

- ``noauth``: NoAuth's single local admin.
- ``trusted-headers``: the identity headers the fronting proxy sets, exactly as for the API.
- ``keystone``: the token kept in the session cookie after the login form, validated on every
  request through the authenticator (``X-Auth-Token``), so a revoked or expired token ends the
  session at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from dataclasses import dataclass

from starlette.requests import Request

from daguerre.context import Identity, RequestContext
from daguerre.domain.errors import Invalid, Unauthenticated, Unavailable
from daguerre.web.session import MAX_AGE, Session, get_session, replace_session


class LoginRequired(Exception):
    """Keystone mode without a usable session: send the browser to the login form."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


def strategy(request: Request) -> str:
    return request.app.state.runtime.settings.auth.strategy


def request_id(request: Request) -> str:
    given = request.headers.get("x-openstack-request-id")
    if given and len(given) <= 64:
        return given if given.startswith("req-") else f"req-{given}"
    return f"req-{uuid.uuid4()}"


async def identify(request: Request) -> RequestContext:
    """The caller's RequestContext; raises LoginRequired (keystone) or Unauthenticated."""
    cached = request.scope.get("daguerre.context")
    if cached is not None:
        return cached
    authenticator = request.app.state.authenticator
    mode = strategy(request)
    token = None
    if mode == "keystone":
        session = get_session(request)
        if not session.token:
            raise LoginRequired()
        token = session.token
        try:
            identity = await authenticator.authenticate({"x-auth-token": token})
        except Unauthenticated:
            replace_session(request, Session())
            raise LoginRequired("Your session has expired; please log in again.") from None
    else:
        identity = await authenticator.authenticate(request.headers)
    ctx = RequestContext(identity, request_id(request), token)
    request.scope["daguerre.context"] = ctx
    return ctx


@dataclass
class LoginForm:
    user: str
    password: str
    project: str
    domain: str


def _auth_url(opts: dict[str, str]) -> str:
    url = opts.get("auth_url") or opts.get("www_authenticate_uri") or opts.get("auth_uri")
    if not url:
        raise Unavailable("The dashboard cannot log in: [keystone_authtoken] auth_url is not set")
    return url


def _issue_token(opts: dict[str, str], form: LoginForm) -> tuple[str, float]:
    """A project-scoped token for the user (blocking: runs in a worker thread)."""
    # keystoneauth1 (and requests) cost ~0.1 s to import: only a Keystone login loads them.
    from keystoneauth1 import exceptions as ks_exc  # noqa: PLC0415
    from keystoneauth1 import session as ks_session  # noqa: PLC0415
    from keystoneauth1.identity import generic  # noqa: PLC0415

    verify: bool | str = True
    if opts.get("insecure", "false").strip().lower() in ("1", "true", "yes", "on"):
        verify = False
    elif opts.get("cafile"):
        verify = opts["cafile"]
    auth = generic.Password(
        auth_url=_auth_url(opts), username=form.user, password=form.password, project_name=form.project,
        user_domain_name=form.domain, project_domain_name=form.domain,
    )  # fmt: skip
    timeout = float(opts.get("http_connect_timeout") or 10)
    sess = ks_session.Session(auth=auth, verify=verify, timeout=timeout)
    try:
        access = auth.get_access(sess)
    except ks_exc.Unauthorized:
        raise Unauthenticated("The user name, password, project or domain is wrong.") from None
    except (
        ks_exc.ConnectFailure,
        ks_exc.ConnectionError,
        ks_exc.DiscoveryFailure,
        ks_exc.RequestTimeout,
    ) as exc:
        raise Unavailable(f"The identity service cannot be reached: {type(exc).__name__}") from None
    except ks_exc.HttpError as exc:
        if exc.http_status and 400 <= exc.http_status < 500:
            raise Unauthenticated(f"Keystone refused the login: {exc.message}") from None
        raise Unavailable(f"The identity service failed: {exc.message}") from None
    except ks_exc.ClientException as exc:
        raise Unavailable(f"The identity service cannot be used: {type(exc).__name__}") from None
    finally:
        sess.session.close()
    if not access.project_scoped:
        raise Unauthenticated("Keystone gave no project-scoped token; check the project name and your roles.")
    expires = access.expires
    exp = expires.timestamp() if isinstance(expires, dt.datetime) else time.time() + 3600
    token = access.auth_token
    if not token:
        raise Unavailable("Keystone answered the login without a token")
    return token, exp


async def login(request: Request, form: LoginForm) -> Identity:
    """Log in with Keystone and start a fresh session holding the token."""
    if not form.user or not form.password or not form.project:
        raise Invalid("User name, password and project are required.")
    opts = request.app.state.runtime.settings.keystone_authtoken
    token, exp = await asyncio.to_thread(_issue_token, opts, form)
    try:
        identity = await request.app.state.authenticator.authenticate({"x-auth-token": token})
    except Unauthenticated as exc:
        raise Unauthenticated(f"The new token was refused: {exc.message}") from None
    session = Session(token=token, user=identity.user_name or identity.user_id,
                      project=identity.project_name or identity.project_id,
                      exp=min(exp, time.time() + MAX_AGE))  # fmt: skip
    replace_session(request, session)
    return identity


def logout(request: Request) -> None:
    replace_session(request, Session())
