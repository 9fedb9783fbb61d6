"""Every (from, to) status pair through the repository, on SQLite and PostgreSQL: allowed ones
are written, forbidden ones raise InvalidTransition and leave the row exactly as it was, and a
guarded transition whose expected status is stale writes nothing."""

from __future__ import annotations

import itertools
import uuid
from collections import deque

import pytest

from daguerre.db import images as repo
from daguerre.db.database import Database
from daguerre.domain import image as img
from daguerre.domain.image import Image

PAIRS = list(itertools.product(img.STATUSES, repeat=2))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Database:
    return request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "pg_db")


def _path_to(status: str) -> list[str]:
    """The shortest walk along the table from queued to ``status``."""
    paths = {img.INITIAL: [img.INITIAL]}
    todo = deque([img.INITIAL])
    while todo:
        here = todo.popleft()
        for nxt in sorted(img.TRANSITIONS[here]):
            if nxt not in paths:
                paths[nxt] = [*paths[here], nxt]
                todo.append(nxt)
    return paths[status]


async def _image_in(db: Database, status: str) -> str:
    now = repo.utcnow()
    image = Image(id=str(uuid.uuid4()), owner="p", name="n", created_at=now, updated_at=now,
                  properties={"k": "v"}, tags=["t"])  # fmt: skip
    async with db.write() as conn:
        await repo.insert(conn, image)
        path = _path_to(status)
        for a, b in itertools.pairwise(path):
            if b == img.DELETED:
                assert await repo.mark_deleted(conn, image.id, a)
            else:
                assert await repo.transition(conn, image.id, [a], b)
    return image.id


async def _row(db: Database, image_id: str) -> Image:
    async with db.read() as conn:
        got = await repo.get(conn, image_id, include_deleted=True)
    assert got is not None
    return got


def test_every_status_is_reachable() -> None:
    for status in img.STATUSES:
        assert _path_to(status)[-1] == status


async def _move(db: Database, image_id: str, current: str, target: str) -> bool:
    async with db.write() as conn:
        if target == img.DELETED:
            return await repo.mark_deleted(conn, image_id, current)
        return await repo.transition(conn, image_id, [current], target, min_disk=7)


async def test_every_pair(db: Database) -> None:
    for current, target in PAIRS:
        image_id = await _image_in(db, current)
        before = await _row(db, image_id)
        assert before.status == current
        if img.allowed(current, target):
            assert await _move(db, image_id, current, target), (current, target)
            after = await _row(db, image_id)
            assert after.status == target and after.version == before.version + 1
            if target != img.DELETED:
                assert after.min_disk == 7
            continue
        with pytest.raises(img.InvalidTransition):
            await _move(db, image_id, current, target)
        assert await _row(db, image_id) == before, (current, target)
        # A caller who believes the image is in a status from which ``target`` is allowed (a
        # stale read) is refused by the guard in the statement: nothing is written.
        for believed in img.STATUSES:
            if believed != current and img.allowed(believed, target):
                assert not await _move(db, image_id, believed, target), (current, believed, target)
        assert await _row(db, image_id) == before, (current, target)


async def test_same_status_updates_are_update_fields(db: Database) -> None:
    image_id = await _image_in(db, img.UPLOADING)
    async with db.write() as conn:
        with pytest.raises(img.InvalidTransition):
            await repo.transition(conn, image_id, [img.UPLOADING], img.UPLOADING, size=5)
        assert await repo.update_fields(conn, image_id, img.UPLOADING, size=5)
        assert not await repo.update_fields(conn, image_id, img.QUEUED, size=6)
        with pytest.raises(ValueError, match="status"):
            await repo.update_fields(conn, image_id, img.UPLOADING, status=img.ACTIVE)
    got = await _row(db, image_id)
    assert (got.status, got.size) == (img.UPLOADING, 5)


async def test_insert_and_save_follow_the_table(db: Database) -> None:
    now = repo.utcnow()
    async with db.write() as conn:
        with pytest.raises(img.InvalidTransition):
            await repo.insert(conn, Image(id=str(uuid.uuid4()), owner="p", status=img.ACTIVE, created_at=now))
    image_id = await _image_in(db, img.SAVING)
    old = await _row(db, image_id)
    for target in img.STATUSES:
        new = Image(**{**old.__dict__, "status": target, "name": "changed"})
        async with db.write() as conn:
            if target == old.status or img.allowed(old.status, target):
                continue  # the allowed ones are covered by transition; save is the same check
            with pytest.raises(img.InvalidTransition):
                await repo.save(conn, new, old=old)
        assert await _row(db, image_id) == old
    queued = await _row(db, await _image_in(db, img.QUEUED))
    async with db.write() as conn:
        assert await repo.save(conn, Image(**{**queued.__dict__, "status": img.ACTIVE}), old=queued)
    assert (await _row(db, queued.id)).status == img.ACTIVE


async def test_deleted_rows_are_not_written(db: Database) -> None:
    image_id = await _image_in(db, img.DELETED)
    before = await _row(db, image_id)
    async with db.write() as conn:
        assert not await repo.update_fields(conn, image_id, img.DELETED, size=1)
        with pytest.raises(img.InvalidTransition):
            await repo.mark_deleted(conn, image_id, img.DELETED)
    assert await _row(db, image_id) == before
