"""Repository conformance suite: every database backend (SQLite, PostgreSQL) passes it.

Use it by subclassing ``RepoSuite`` in a test module and providing a ``db`` fixture that yields
a migrated, empty ``Database``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection

from daguerre.db import images as repo
from daguerre.db import members as members_repo
from daguerre.db.database import Database, head_revision
from daguerre.db.images import ListQuery
from daguerre.domain.image import ACTIVE, QUEUED, SAVING, Image, Location
from daguerre.jobs import queue


def make_image(owner: str = "p1", **kw) -> Image:  # noqa: ANN003
    now = repo.utcnow()
    kw.setdefault("created_at", now)
    kw.setdefault("updated_at", now)
    return Image(id=kw.pop("id", str(uuid.uuid4())), owner=owner, **kw)


async def _get(conn: AsyncConnection, image_id: str) -> Image:
    image = await repo.get(conn, image_id)
    assert image is not None, f"image {image_id} is missing"
    return image


class RepoSuite:
    async def test_insert_get_roundtrip(self, db: Database) -> None:
        image = make_image(
            name="a", tags=["x", "y"], properties={"os_distro": "cirros"}, min_ram=64, size=None
        )
        async with db.write() as conn:
            await repo.insert(conn, image)
            await repo.add_location(
                conn, image.id, Location("file", image.id, "file:///x", metadata={"k": "v"})
            )
        async with db.read() as conn:
            got = await _get(conn, image.id)
        assert got is not None
        assert (got.name, got.tags, got.properties, got.min_ram) == (
            "a",
            ["x", "y"],
            {"os_distro": "cirros"},
            64,
        )
        assert got.locations[0].metadata == {"k": "v"} and got.status == QUEUED
        assert got.created_at is not None and image.created_at is not None
        assert abs((got.created_at - image.created_at).total_seconds()) < 1

    async def test_children_in_one_read(self, db: Database) -> None:
        """Properties, tags and locations come back complete, locations in insertion order
        (they are aggregated in the database, which does not promise an order), on get and on
        every image of a list page; an image without children has empty ones."""
        with_children = make_image(
            name="full", tags=["b", "a", "c"], properties={f"k{i}": f"v{i}" for i in range(5)}
        )
        bare = make_image(name="bare")
        stores = ["zeta", "alpha", "mid", "beta", "omega"]
        async with db.write() as conn:
            await repo.insert(conn, with_children)
            await repo.insert(conn, bare)
            for n, store in enumerate(stores):
                await repo.add_location(
                    conn, with_children.id, Location(store, f"key{n}", f"s3://{store}/{n}", metadata={"n": n})
                )
        async with db.read() as conn:
            got = await _get(conn, with_children.id)
            empty = await _get(conn, bare.id)
            page = await repo.list_images(conn, ListQuery(caller_project="p1", is_admin=False))
        assert [loc.store for loc in got.locations] == stores
        assert [loc.metadata for loc in got.locations] == [{"n": n} for n in range(5)]
        assert got.tags == ["a", "b", "c"] and got.properties == with_children.properties
        assert (empty.tags, empty.properties, empty.locations) == ([], {}, [])
        listed = {img.id: img for img in page}
        assert [loc.url for loc in listed[with_children.id].locations] == [loc.url for loc in got.locations]
        assert listed[with_children.id].properties == got.properties
        assert (listed[bare.id].tags, listed[bare.id].locations) == ([], [])

    async def test_optimistic_save(self, db: Database) -> None:
        image = make_image(name="v0")
        async with db.write() as conn:
            await repo.insert(conn, image)
        async with db.read() as conn:
            first = await _get(conn, image.id)
            second = await _get(conn, image.id)
        a = Image(**{**first.__dict__, "name": "from-a", "properties": {"k": "a"}, "tags": ["t"]})
        b = Image(**{**second.__dict__, "name": "from-b"})
        async with db.write() as conn:
            assert await repo.save(conn, a, old=first)
        async with db.write() as conn:
            assert not await repo.save(conn, b, old=second)  # lost update prevented
        async with db.read() as conn:
            got = await _get(conn, image.id)
        assert got.name == "from-a" and got.properties == {"k": "a"} and got.tags == ["t"]

    async def test_guarded_transition(self, db: Database) -> None:
        image = make_image()
        async with db.write() as conn:
            await repo.insert(conn, image)
        results = []

        async def try_claim() -> None:
            async with db.write() as conn:
                results.append(await repo.transition(conn, image.id, [QUEUED], SAVING))

        await asyncio.gather(*(try_claim() for _ in range(6)))
        assert sorted(results) == [False] * 5 + [True]
        async with db.write() as conn:
            assert await repo.transition(conn, image.id, [SAVING], ACTIVE, size=5, checksum="c")
        async with db.read() as conn:
            got = await _get(conn, image.id)
        assert (got.status, got.size, got.checksum) == (ACTIVE, 5, "c")

    async def test_listing_filters_sort_marker(self, db: Database) -> None:
        owner = f"o-{uuid.uuid4().hex[:6]}"
        base = dt.datetime(2024, 1, 1)
        made = []
        async with db.write() as conn:
            for i in range(10):
                img = make_image(owner, name=f"n{i % 4}", size=i * 10 if i % 3 else None, tags=["even"] if i % 2 == 0 else [],
                                 properties={"hw": "scsi"} if i < 3 else {}, created_at=base + dt.timedelta(seconds=i),
                                 updated_at=base, visibility="private")  # fmt: skip
                await repo.insert(conn, img)
                made.append(img)
        async with db.read() as conn:
            q = ListQuery(caller_project=owner, is_admin=False, exact={"owner": [owner]}, limit=100)
            assert [i.id for i in await repo.list_images(conn, q)] == [m.id for m in reversed(made)]
            q = ListQuery(
                caller_project=owner,
                is_admin=False,
                exact={"owner": [owner]},
                tags=["even"],
                properties={"hw": "scsi"},
            )
            assert {i.id for i in await repo.list_images(conn, q)} == {made[0].id, made[2].id}
            # Keyset pagination over a nullable key returns every row exactly once, in order.
            seen: list[Image] = []
            marker = None
            for _ in range(10):
                q = ListQuery(caller_project=owner, is_admin=False, exact={"owner": [owner]},
                              sort=[("size", "asc"), ("name", "desc")], limit=3, marker=marker)  # fmt: skip
                page = await repo.list_images(conn, q)
                if not page:
                    break
                seen += page
                marker = page[-1]
            assert sorted(i.id for i in seen) == sorted(m.id for m in made) and len(seen) == 10
            sizes = [-1 if i.size is None else i.size for i in seen]
            assert sizes == sorted(sizes)
            q = ListQuery(caller_project="someone-else", is_admin=False, exact={"owner": [owner]})
            assert await repo.list_images(conn, q) == []

    async def test_members_and_visibility(self, db: Database) -> None:
        image = make_image("owner-m", visibility="shared")
        async with db.write() as conn:
            await repo.insert(conn, image)
            await members_repo.insert(conn, image.id, "guest")
        async with db.read() as conn:
            q = ListQuery(caller_project="guest", is_admin=False, exact={"id": [image.id]})
            assert await repo.list_images(conn, q) == []
            q.member_status = "pending"
            assert [i.id for i in await repo.list_images(conn, q)] == [image.id]
        async with db.write() as conn:
            await members_repo.set_status(conn, image.id, "guest", "accepted")
        async with db.read() as conn:
            q = ListQuery(caller_project="guest", is_admin=False, exact={"id": [image.id]})
            assert [i.id for i in await repo.list_images(conn, q)] == [image.id]
            member = await members_repo.get(conn, image.id, "guest")
            assert member is not None and member.status == "accepted"

    async def test_soft_delete_keeps_id_reserved(self, db: Database) -> None:
        image = make_image(properties={"a": "b"})
        async with db.write() as conn:
            await repo.insert(conn, image)
            assert await repo.mark_deleted(conn, image.id, QUEUED)
        async with db.read() as conn:
            assert await repo.get(conn, image.id) is None
            assert await repo.exists(conn, image.id)

    async def test_job_claim_lease_and_expiry(self, db: Database) -> None:
        kind = f"test-{uuid.uuid4().hex[:6]}"
        async with db.write() as conn:
            job_id = await queue.enqueue(conn, kind, {"x": 1})
        claimed = []

        async def claim(owner: str) -> None:
            async with db.write() as conn:
                job = await queue.claim(conn, owner, 30, [kind])
                if job:
                    claimed.append(owner)

        await asyncio.gather(*(claim(f"w{i}") for i in range(4)))
        assert len(claimed) == 1
        async with db.write() as conn:
            assert await queue.claim(conn, "late", 30, [kind]) is None
            # The holder renews for a moment only (a long lease above, so that a slow machine
            # cannot let it run out before "late" asks)...
            assert await queue.renew(conn, job_id, claimed[0], 0.2)
        await asyncio.sleep(0.3)  # ...and it runs out: another worker may take the job over
        async with db.write() as conn:
            job = await queue.claim(conn, "rescuer", 30, [kind])
        assert job is not None and job.id == job_id and job.attempts == 2
        async with db.write() as conn:
            assert await queue.renew(conn, job_id, "rescuer", 30)
            assert not await queue.renew(conn, job_id, claimed[0], 30)
        async with db.write() as conn:
            await queue.finish(conn, job_id)
            assert await queue.get(conn, job_id) is None

    async def test_head_revision_matches_alembic(self, db: Database) -> None:
        assert head_revision() == ScriptDirectory.from_config(db.alembic_config()).get_current_head()
        assert await db.current_revision() == head_revision()

    async def test_migrations_down_and_up(self, db: Database) -> None:
        await db.downgrade("base")
        async with db.read() as conn:
            tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        assert "images" not in tables
        await db.upgrade("head")
        assert await db.current_revision() is not None
        async with db.read() as conn:
            tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        assert {"images", "image_properties", "image_tags", "image_members", "jobs", "tasks"} <= set(tables)
