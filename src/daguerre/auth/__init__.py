"""Authentication strategies: each turns request headers into an Identity, or refuses."""

from __future__ import annotations

from collections.abc import Mapping

from daguerre.context import Identity
from daguerre.domain.errors import Unauthenticated, Unavailable


class Authenticator:
    www_authenticate: str | None = None

    async def authenticate(self, headers: Mapping[str, str]) -> Identity:
        raise NotImplementedError


class NoAuth(Authenticator):
    """A single user on a laptop: every request acts as the admin of one local project."""

    IDENTITY = Identity(
        user_id="local-admin", project_id="local", roles=frozenset({"admin", "member", "reader"}),
        user_name="admin", project_name="local",
    )  # fmt: skip

    async def authenticate(self, headers: Mapping[str, str]) -> Identity:
        return self.IDENTITY


class TrustedHeaders(Authenticator):
    """Trusts the identity headers keystonemiddleware sets. Only for loopback or a trusted proxy."""

    async def authenticate(self, headers: Mapping[str, str]) -> Identity:
        if headers.get("x-identity-status", "").lower() != "confirmed":
            raise Unauthenticated("Authentication required: X-Identity-Status is not Confirmed")
        roles = frozenset(
            r.strip().lower()
            for r in headers.get("x-roles", headers.get("x-role", "")).split(",")
            if r.strip()
        )
        system = headers.get("openstack-system-scope")
        return Identity(
            user_id=headers.get("x-user-id") or headers.get("x-user"),
            project_id=headers.get("x-project-id") or headers.get("x-tenant-id"),
            roles=roles,
            user_name=headers.get("x-user-name"),
            project_name=headers.get("x-project-name") or headers.get("x-tenant-name"),
            user_domain_id=headers.get("x-user-domain-id"),
            project_domain_id=headers.get("x-project-domain-id"),
            system_scope=system.lower() if system else None,
            domain_id=headers.get("x-domain-id"),
            is_admin_project=headers.get("x-is-admin-project", "true").lower() == "true",
        )


class Keystone(Authenticator):
    """Validates X-Auth-Token against Keystone (daguerre.auth.keystone does the talking)."""

    def __init__(self, options: dict[str, str]) -> None:
        # keystoneauth1 (and requests) cost ~0.1 s to import: only this strategy loads them.
        from daguerre.auth import keystone  # noqa: PLC0415

        self._keystone = keystone
        self._ks = keystone.KeystoneAuthenticator(options)
        self.www_authenticate = self._ks.www_authenticate

    async def authenticate(self, headers: Mapping[str, str]) -> Identity:
        token = headers.get("x-auth-token")
        if not token:
            raise Unauthenticated("Authentication required: no X-Auth-Token given")
        try:
            return await self._ks.identify(token)
        except self._keystone.AuthFailed as exc:
            raise Unauthenticated(f"Authentication failed: {exc}") from None
        except self._keystone.KeystoneUnavailable as exc:
            raise Unavailable(f"Identity service unavailable: {exc}") from None


def build(strategy: str, keystone_options: dict[str, str]) -> Authenticator:
    if strategy == "noauth":
        return NoAuth()
    if strategy == "trusted-headers":
        return TrustedHeaders()
    if strategy == "keystone":
        return Keystone(keystone_options)
    raise ValueError(strategy)
