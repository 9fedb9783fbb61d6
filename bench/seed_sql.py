"""Direct seeding into Daguerre's database: ``--seeder seed_sql:seed``.

Creates one image through the API as a template (so owner, visibility and every column default
are whatever the server writes), then bulk-inserts copies with new ids, names, formats, one
custom property and one tag, in batches, with Daguerre's own table definitions
(``daguerre.db.schema``) over a synchronous driver. Much faster than the API for 100,000
records; it measures nothing about the server.
"""

from __future__ import annotations

import datetime as dt
import uuid

from catalog import SeedContext, seed_body
from common import Api

BATCH = 5000


def _sync_url(ctx: SeedContext) -> str:
    url = ctx.database_url or f"sqlite:///{ctx.data_dir / 'daguerre.db'}"
    return url.replace("sqlite+aiosqlite", "sqlite").replace("postgresql+asyncpg", "postgresql+psycopg2")


def seed(ctx: SeedContext) -> list[str]:
    import sqlalchemy as sa

    from daguerre.db import schema

    api = Api(ctx.base_url, ctx.token)
    template_id = api.create_image(**seed_body(ctx.start))
    api.close()
    engine = sa.create_engine(_sync_url(ctx))
    ids = [template_id]
    try:
        with engine.begin() as c:
            row = dict(
                c.execute(sa.select(schema.images).where(schema.images.c.id == template_id)).mappings().one()
            )
        base = row["created_at"]
        for off in range(ctx.start + 1, ctx.start + ctx.count, BATCH):
            imgs, props, tags = [], [], []
            for i in range(off, min(off + BATCH, ctx.start + ctx.count)):
                body = seed_body(i)
                iid = str(uuid.uuid4())
                ts = base + dt.timedelta(microseconds=i)
                imgs.append(
                    dict(
                        row,
                        id=iid,
                        name=body["name"],
                        disk_format=body["disk_format"],
                        container_format=body["container_format"],
                        created_at=ts,
                        updated_at=ts,
                    )
                )
                props.append({"image_id": iid, "name": "bench_group", "value": body["bench_group"]})
                tags += [{"image_id": iid, "value": t} for t in body["tags"]]
                ids.append(iid)
            with engine.begin() as c:
                c.execute(schema.images.insert(), imgs)
                c.execute(schema.image_properties.insert(), props)
                c.execute(schema.image_tags.insert(), tags)
        if engine.dialect.name == "postgresql":
            # What autovacuum would do within a minute of a bulk load like this one: without
            # statistics the planner takes every filter for a selective one.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.exec_driver_sql("ANALYZE images, image_properties, image_tags")
    finally:
        engine.dispose()
    return ids
