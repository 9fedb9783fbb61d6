"""The dashboard's session: a small signed cookie holding a CSRF secret and, in keystone mode, a token.

The cookie is ``base64url(json) "." base64url(hmac-sha256(key, base64url(json)))``; it is HttpOnly,
SameSite=Strict, scoped to ``/ui`` and Secure when the request came over https. Nothing in it is
trusted unless the signature matches and ``exp`` lies in the future. The key comes from
``<data_dir>/dashboard-secret.key`` (created with mode 0600 on first use, so every process sharing
the data directory accepts the same cookies).

CSRF: every session carries a random ``csrf`` value; every POST must echo it (hidden form field
``csrf_token``, or the ``X-CSRF-Token`` header for the upload's XMLHttpRequest) and it is compared
in constant time. A POST without a valid session cookie is refused as well.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "daguerre_session"
COOKIE_PATH = "/ui"
# A session without a token (noauth, trusted-headers) lives this long; a keystone session as long as
# its token, but never longer than this.
MAX_AGE = 12 * 3600
_KEY_FILE = "dashboard-secret.key"


@dataclass
class Session:
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    token: str | None = None
    user: str | None = None
    project: str | None = None
    exp: float = field(default_factory=lambda: time.time() + MAX_AGE)
    # True when the cookie must be (re)sent with the response.
    dirty: bool = False

    def to_json(self) -> bytes:
        doc = {"csrf": self.csrf, "exp": int(self.exp)}
        if self.token:
            doc.update(token=self.token, user=self.user, project=self.project)
        return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_key(data_dir: Path) -> bytes:
    """The signing key shared by every process on this data directory (made on first use)."""
    path = Path(data_dir) / _KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may be writing it right now
            key = path.read_bytes()
            if len(key) >= 32:
                return key
            time.sleep(0.01)
        raise RuntimeError(f"{path} holds no usable key; remove it to have a new one made") from None
    key = secrets.token_bytes(32)
    try:
        os.write(fd, key)
    finally:
        os.close(fd)
    return key


class SessionCodec:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def encode(self, session: Session) -> str:
        payload = _b64(session.to_json())
        return f"{payload}.{self._sign(payload)}"

    def decode(self, cookie: str | None) -> Session | None:
        if not cookie or cookie.count(".") != 1 or len(cookie) > 4096:
            return None
        payload, sig = cookie.split(".")
        if not hmac.compare_digest(sig, self._sign(payload)):
            return None
        try:
            doc = json.loads(_unb64(payload))
            exp = float(doc["exp"])
            csrf = str(doc["csrf"])
        except (ValueError, KeyError, TypeError):
            return None
        if exp <= time.time():
            return None
        return Session(
            csrf=csrf, token=doc.get("token"), user=doc.get("user"), project=doc.get("project"), exp=exp
        )


def codec(request: Request) -> SessionCodec:
    state = request.app.state
    existing = getattr(state, "dashboard_sessions", None)
    if existing is None:
        existing = SessionCodec(load_key(state.runtime.settings.data_dir))
        state.dashboard_sessions = existing
    return existing


def get_session(request: Request) -> Session:
    """The request's session (verified), or a fresh one that the response will set."""
    cached = request.scope.get("daguerre.web.session")
    if cached is not None:
        return cached
    session = codec(request).decode(request.cookies.get(COOKIE))
    if session is None:
        session = Session(dirty=True)
    request.scope["daguerre.web.session"] = session
    return session


def has_valid_cookie(request: Request) -> bool:
    return codec(request).decode(request.cookies.get(COOKIE)) is not None


def replace_session(request: Request, session: Session) -> Session:
    """Start a new session (login, logout): a fresh CSRF secret, so none carries over."""
    session.dirty = True
    request.scope["daguerre.web.session"] = session
    return session


def save(request: Request, response: Response) -> Response:
    session = request.scope.get("daguerre.web.session")
    if session is not None and session.dirty:
        max_age = max(int(session.exp - time.time()), 0)
        response.set_cookie(
            COOKIE, codec(request).encode(session), max_age=max_age, path=COOKIE_PATH,
            secure=request.url.scheme == "https", httponly=True, samesite="strict",
        )  # fmt: skip
    return response


def csrf_ok(request: Request, given: str | None) -> bool:
    """The POST echoes the CSRF secret of a valid, pre-existing session."""
    if not given or not has_valid_cookie(request):
        return False
    return hmac.compare_digest(given.encode(), get_session(request).csrf.encode())
