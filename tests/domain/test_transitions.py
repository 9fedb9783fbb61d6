"""The transition table is the one truth about image statuses: every (from, to) pair is either
allowed or refused with InvalidTransition (409 where it reaches the API), and the table is
Glance's (glance/domain Image.valid_state_targets, as of 2024)."""

from __future__ import annotations

import itertools

import pytest

from daguerre.domain import image as img
from daguerre.domain.errors import Conflict
from daguerre.wire.errors import status_for

# Glance's state machine, written as edges so that a change to our table has to change this too.
GLANCE_EDGES = {
    "queued -> saving", "queued -> uploading", "queued -> importing", "queued -> active", "queued -> deleted",
    "saving -> active", "saving -> killed", "saving -> deleted", "saving -> queued",
    "uploading -> importing", "uploading -> queued", "uploading -> deleted",
    "importing -> active", "importing -> deleted", "importing -> queued",
    "active -> pending_delete", "active -> deleted", "active -> deactivated",
    "killed -> deleted",
    "pending_delete -> deleted", "pending_delete -> active",
    "deactivated -> active", "deactivated -> deleted",
}  # fmt: skip

PAIRS = list(itertools.product(img.STATUSES, repeat=2))


def test_table_is_glances() -> None:
    ours = {f"{a} -> {b}" for a, targets in img.TRANSITIONS.items() for b in targets}
    assert ours == GLANCE_EDGES
    assert set(img.TRANSITIONS) == set(img.STATUSES)


@pytest.mark.parametrize(("current", "target"), PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_every_pair(current: str, target: str) -> None:
    if f"{current} -> {target}" in GLANCE_EDGES:
        assert img.allowed(current, target)
        img.check_transition(current, target)
    else:
        assert not img.allowed(current, target)
        with pytest.raises(img.InvalidTransition) as caught:
            img.check_transition(current, target)
        assert f"from {current} to {target}" in caught.value.message


def test_same_status_is_never_a_transition() -> None:
    for status in img.STATUSES:
        assert not img.allowed(status, status)


def test_unknown_statuses_are_refused() -> None:
    with pytest.raises(img.InvalidTransition):
        img.check_transition("bogus", img.ACTIVE)
    with pytest.raises(img.InvalidTransition):
        img.check_transition(img.QUEUED, "bogus")


def test_deleted_is_terminal_and_every_other_status_can_be_deleted() -> None:
    assert img.TRANSITIONS[img.DELETED] == frozenset()
    for status in img.STATUSES:
        if status != img.DELETED:
            assert img.allowed(status, img.DELETED), status


def test_refusal_is_a_409() -> None:
    exc = img.InvalidTransition("x")
    assert isinstance(exc, Conflict) and status_for(exc) == 409
