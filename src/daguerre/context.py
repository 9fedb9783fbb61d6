"""Who is asking: the identity every service function receives.

Only the auth middleware builds these; services read them. Keeping it a frozen dataclass
means an upload that outlives the caller's token still carries the identity it was
authorized with (authorize once, at the start).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Identity:
    """What an authentication strategy learned about the caller."""

    user_id: str | None
    project_id: str | None
    roles: frozenset[str] = frozenset()
    user_name: str | None = None
    project_name: str | None = None
    user_domain_id: str | None = None
    project_domain_id: str | None = None
    # "all" for a system-scoped token; None for a project-scoped one.
    system_scope: str | None = None
    domain_id: str | None = None  # set for a domain-scoped token
    is_admin_project: bool = True


@dataclass(frozen=True)
class RequestContext:
    identity: Identity
    request_id: str
    # The raw token, kept only so work done on the caller's behalf can be proxied; never logged.
    auth_token: str | None = field(default=None, repr=False)

    @property
    def user_id(self) -> str | None:
        return self.identity.user_id

    @property
    def project_id(self) -> str | None:
        return self.identity.project_id

    @property
    def roles(self) -> frozenset[str]:
        return self.identity.roles

    @property
    def is_admin(self) -> bool:
        return "admin" in self.identity.roles

    @classmethod
    def for_worker(cls, request_id: str = "req-worker") -> RequestContext:
        """The identity background jobs act as once a request has been authorized."""
        return cls(Identity(user_id=None, project_id=None, roles=frozenset({"admin"})), request_id)
