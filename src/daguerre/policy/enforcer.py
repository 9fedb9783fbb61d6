"""Policy enforcement through oslo.policy, so operators' policy.yaml/json files work unchanged."""

from __future__ import annotations

import logging
import os
import re

from oslo_config import cfg
from oslo_policy import opts as policy_opts
from oslo_policy import policy as oslo_policy

from daguerre.context import RequestContext
from daguerre.domain.errors import Forbidden
from daguerre.policy.rules import RULES
from daguerre.settings import Settings

log = logging.getLogger(__name__)


class Policy:
    def __init__(self, settings: Settings) -> None:
        conf = cfg.ConfigOpts()
        conf([], project="daguerre", default_config_files=[], default_config_dirs=[])
        opts = settings.oslo_policy
        policy_opts.set_defaults(conf)
        if "enforce_scope" in conf.oslo_policy:  # newer oslo.policy always enforces scope
            conf.set_override("enforce_scope", opts.enforce_scope, group="oslo_policy")
        conf.set_override("enforce_new_defaults", opts.enforce_new_defaults, group="oslo_policy")
        if opts.policy_file:
            conf.set_override("policy_file", opts.policy_file, group="oslo_policy")
        self._enforcer = oslo_policy.Enforcer(conf, policy_file=opts.policy_file or None)
        self._enforcer.register_defaults(
            [
                oslo_policy.RuleDefault(name, check, scope_types=list(scopes) or None)
                for name, check, scopes in RULES
            ]
        )
        self._enforcer.load_rules()
        self._policy_file = opts.policy_file
        self._policy_mtime = self._file_mtime()
        self._cache: dict[tuple, bool] = {}
        self._target_keys = self._referenced_target_keys()

    def _referenced_target_keys(self) -> tuple[str, ...]:
        """The target fields any loaded rule interpolates (``%(owner)s`` ...). Only these can
        change a decision, so only these go into the memo key: an image's id, named by no
        default rule, would otherwise make every image a cache miss."""
        text = " ".join(str(check) for check in self._enforcer.rules.values())
        return tuple(sorted({ref.split(".")[0] for ref in re.findall(r"%\(([^)]+)\)s", text)}))

    def _file_mtime(self) -> float | None:
        if not self._policy_file:
            return None
        try:
            return os.stat(self._policy_file).st_mtime
        except OSError:
            return None

    @staticmethod
    def _creds(ctx: RequestContext) -> dict:
        ident = ctx.identity
        return {
            "user_id": ident.user_id,
            "project_id": ident.project_id,
            "roles": sorted(ident.roles),
            "system_scope": ident.system_scope,
            "domain_id": ident.domain_id,
            "is_admin_project": ident.is_admin_project,
        }

    def check(self, ctx: RequestContext, rule: str, target: dict | None = None) -> bool:
        target = target if target is not None else {"project_id": ctx.project_id}
        # A decision depends only on the rule, the caller's identity and the target, so it is
        # memoised (oslo.policy spends ~0.1-0.3 ms per call). An edited policy file clears it,
        # as oslo.policy itself reloads on a changed file.
        mtime = self._file_mtime()
        if mtime != self._policy_mtime:
            self._policy_mtime = mtime
            self._cache.clear()
            self._enforcer.load_rules(force_reload=True)
            self._target_keys = self._referenced_target_keys()
        key = (rule, ctx.identity, tuple(str(target[k]) if k in target else None for k in self._target_keys))
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        try:
            allowed = bool(self._enforcer.enforce(rule, target, self._creds(ctx), do_raise=False))
        except oslo_policy.InvalidScope:
            allowed = False
        if len(self._cache) >= 16384:
            self._cache.clear()
        self._cache[key] = allowed
        return allowed

    def authorize(self, ctx: RequestContext, rule: str, target: dict | None = None) -> None:
        if not self.check(ctx, rule, target):
            raise Forbidden(f"You are not authorized to complete {rule} action.")
