"""The policy memo: decisions are reused across targets that differ only in fields no rule reads,
and a rule that does read a field (even the image id) still decides per value."""

from __future__ import annotations

import dataclasses
import os
import time

from daguerre.context import Identity, RequestContext
from daguerre.policy.enforcer import Policy
from daguerre.settings import Settings


def _policy(policy_file: str = "") -> Policy:
    s = Settings()
    s.oslo_policy = dataclasses.replace(s.oslo_policy, policy_file=policy_file)
    return Policy(s)


def _ctx(project: str = "p1", roles: str = "reader,member") -> RequestContext:
    return RequestContext(Identity("u1", project, frozenset(roles.split(","))), "req-test")


def _target(image_id: str, owner: str = "p1", visibility: str = "private") -> dict:
    return {"project_id": owner, "owner": owner, "visibility": visibility, "member_id": None, "id": image_id}


def test_default_rules_share_one_decision_across_images() -> None:
    policy = _policy()
    ctx = _ctx()
    assert all(policy.check(ctx, "get_image", _target(f"img-{i}")) for i in range(50))
    assert len(policy._cache) == 1
    assert not policy.check(ctx, "get_image", _target("img-x", owner="p2"))
    assert policy.check(ctx, "get_image", _target("img-y", owner="p2", visibility="public"))


def test_rule_reading_the_image_id_decides_per_image(tmp_path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text('"get_image": "\'img-1\':%(id)s"\n')
    policy = _policy(str(path))
    ctx = _ctx()
    assert policy.check(ctx, "get_image", _target("img-1"))
    assert not policy.check(ctx, "get_image", _target("img-2"))
    assert policy.check(ctx, "get_image", _target("img-1"))


def test_edited_policy_file_takes_effect(tmp_path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text('"add_image": "role:member"\n')
    policy = _policy(str(path))
    ctx = _ctx()
    assert policy.check(ctx, "add_image", {"project_id": "p1", "owner": "p1"})
    path.write_text('"add_image": "role:admin"\n"get_image": "\'img-1\':%(id)s"\n')
    later = time.time() + 5
    os.utime(path, (later, later))
    assert not policy.check(ctx, "add_image", {"project_id": "p1", "owner": "p1"})
    # The new file's reference to %(id)s is picked up with it.
    assert not policy.check(ctx, "get_image", _target("img-2"))
    assert policy.check(ctx, "get_image", _target("img-1"))
