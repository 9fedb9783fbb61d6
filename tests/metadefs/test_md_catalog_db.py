"""The shipped catalog and its loader, migration 0002 down/up, and the service on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import daguerre.db.metadef_schema
from daguerre.app import build_runtime, startup
from daguerre.context import Identity, RequestContext
from daguerre.db import metadefs as repo
from daguerre.db.database import Database, head_revision
from daguerre.db.schema import metadata
from daguerre.domain.errors import Conflict, Forbidden, NotFound
from daguerre.policy import Policy
from daguerre.runtime import Runtime
from daguerre.services import metadefs as svc
from daguerre.services.metadef_catalog import CATALOG_DIR, load_catalog, load_into, read_catalog
from daguerre.settings import Settings, load_settings

METADEF_TABLES = {
    "metadef_namespaces", "metadef_objects", "metadef_properties", "metadef_tags", "metadef_resource_types",
    "metadef_namespace_resource_types", "metadef_catalog_loads",
}  # fmt: skip
CORE_TYPES = {"OS::Glance::Image", "OS::Cinder::Volume", "OS::Nova::Flavor", "OS::Nova::Server"}


# --- the catalog files --------------------------------------------------------------------


def test_catalog_files_are_valid_and_cover_the_basics() -> None:
    resource_types, namespaces = read_catalog()
    assert set(resource_types) >= CORE_TYPES
    by_name = {d["namespace"]: d for d in namespaces}
    assert len(by_name) == len(namespaces)
    props: dict[str, set[str]] = {}
    for doc in namespaces:
        assert doc["visibility"] == "public" and doc["protected"] is True
        assert doc["display_name"] and doc["description"]
        for assoc in doc.get("resource_type_associations", []):
            assert assoc["name"] in resource_types
            prefix = assoc.get("prefix", "")
            props.setdefault(assoc["name"], set()).update(prefix + p for p in doc.get("properties", {}))
        for name, definition in doc.get("properties", {}).items():
            assert definition["title"] and definition["description"], name
    image = props["OS::Glance::Image"]
    for expected in ("os_distro", "os_version", "os_name", "os_type", "os_admin_user", "os_require_quiesce",
                     "hw_disk_bus", "hw_vif_model", "hw_firmware_type", "hw_machine_type", "hw_scsi_model",
                     "hw_video_model", "hw_rng_model", "hw_qemu_guest_agent", "hw_cpu_sockets", "hw_cpu_cores",
                     "hw_cpu_threads", "hw_cpu_policy", "hw_cpu_thread_policy"):  # fmt: skip
        assert expected in image, expected
    assert "hw:cpu_policy" in props["OS::Nova::Flavor"] and "hw:cpu_sockets" in props["OS::Nova::Flavor"]
    assert "hw_disk_bus" in props["OS::Cinder::Volume"]
    assert props["OS::Nova::Server"]
    assert any(d.get("objects") for d in namespaces) and any(d.get("tags") for d in namespaces)


def test_catalog_rejects_a_broken_file(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(
        json.dumps({"namespace": "X", "properties": {"p": {"type": "string"}}})
    )
    with pytest.raises(ValueError, match="bad.json"):
        read_catalog(tmp_path)


# --- loading ------------------------------------------------------------------------------


async def _counts(db: Database) -> dict[str, int]:
    async with db.read() as conn:
        out = {}
        for table in sorted(METADEF_TABLES):
            out[table] = (await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one()
        return out


async def _check_loader(db: Database) -> None:
    _, namespaces = read_catalog()
    first = await load_into(db)
    async with db.read() as conn:
        types = {t.name for t in await repo.list_resource_types(conn)}
        assert types >= CORE_TYPES
        for doc in namespaces:
            ns = await repo.get_namespace(conn, doc["namespace"])
            assert ns is not None and ns.visibility == "public" and ns.protected and ns.owner is None
            assoc = await repo.list_associations(conn, [ns.id])
            assert {a.name for a in assoc} == {a["name"] for a in doc.get("resource_type_associations", [])}
            assert {p.name for p in await repo.list_properties(conn, ns.id)} == set(doc.get("properties", {}))
            assert {o.name for o in await repo.list_objects(conn, ns.id)} == {
                o["name"] for o in doc.get("objects", [])
            }
            assert {t.name for t in await repo.list_tags(conn, ns.id)} == {
                t["name"] for t in doc.get("tags", [])
            }
        topo = await repo.get_namespace(conn, "OS::Compute::CPUTopology")
        flavor = await repo.get_association(conn, topo.id, "OS::Nova::Flavor")
        assert flavor.prefix == "hw:"
        volume = await repo.get_association(conn, topo.id, "OS::Cinder::Volume")
        assert volume.prefix == "hw_" and volume.properties_target == "image"
    before = await _counts(db)
    assert before["metadef_namespaces"] >= len(namespaces)

    # Idempotent: a second (and third) run changes nothing.
    again = await load_into(db)
    assert again.namespaces_created == [] and again.resource_types_created == []
    await load_into(db)
    assert await _counts(db) == before
    assert first.namespaces_created == [] or sorted(first.namespaces_created) == sorted(
        d["namespace"] for d in namespaces
    )

    # An operator's deletion of a catalog namespace sticks.
    async with db.write() as conn:
        ns = await repo.get_namespace(conn, "OS::Compute::Watchdog")
        await repo.delete_namespace(conn, ns.id)
    await load_into(db)
    async with db.read() as conn:
        assert await repo.get_namespace(conn, "OS::Compute::Watchdog") is None


async def test_loader_on_sqlite(sqlite_db: Database) -> None:
    await _check_loader(sqlite_db)


@pytest.mark.postgres
async def test_loader_on_postgres(pg_db: Database) -> None:
    await _check_loader(pg_db)


@pytest.mark.postgres
async def test_concurrent_loaders_on_postgres(pg_url: str) -> None:
    """Several processes starting together: the advisory lock lets one load, the others find it done."""
    dbs = [Database(pg_url) for _ in range(3)]
    try:
        await dbs[0].upgrade()
        await asyncio.gather(*(load_into(db) for db in dbs))
        counts = await _counts(dbs[0])
        _, namespaces = read_catalog()
        assert counts["metadef_namespaces"] == len(namespaces) == counts["metadef_catalog_loads"]
    finally:
        for db in dbs:
            await db.dispose()


async def test_loader_skips_a_namespace_an_operator_already_made(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'op.db'}")
    try:
        await db.upgrade()
        async with db.write() as conn:
            await conn.execute(sa.delete(daguerre.db.metadef_schema.metadef_catalog_loads))
            for ns in await repo.list_namespaces(conn, repo.NamespaceQuery(None, True, limit=1000)):
                await repo.delete_namespace(conn, ns.id)
            await repo.insert_namespace(conn, {"namespace": "OS::OperatingSystem", "display_name": "mine",
                                               "visibility": "private", "protected": False, "owner": "p1"})  # fmt: skip
            report = await load_catalog(conn)
        assert "OS::OperatingSystem" in report.namespaces_skipped
        async with db.read() as conn:
            mine = await repo.get_namespace(conn, "OS::OperatingSystem")
            assert mine.display_name == "mine" and await repo.list_properties(conn, mine.id) == []
    finally:
        await db.dispose()


def test_db_upgrade_command_loads_the_catalog_on_an_empty_database(tmp_path: Path) -> None:
    """``daguerre db upgrade`` migrates and then loads the shipped catalog (Database.upgrade itself
    only migrates: the database tier does not reach up into the services that validate the catalog)."""
    env = {**os.environ, "DAGUERRE_DEFAULT__DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "daguerre.cli", "db", "upgrade"], env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr

    async def check() -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'daguerre.db'}")
        try:
            async with db.read() as conn:
                assert {t.name for t in await repo.list_resource_types(conn)} >= CORE_TYPES
                assert await repo.get_namespace(conn, "OS::OperatingSystem") is not None
        finally:
            await db.dispose()

    asyncio.run(check())


async def test_startup_loads_the_catalog_on_an_empty_database(tmp_path: Path) -> None:
    settings = load_settings(env={"DAGUERRE_DEFAULT__DATA_DIR": str(tmp_path)})
    rt = build_runtime(settings)
    try:
        await startup(rt)
        async with rt.db.read() as conn:
            assert {t.name for t in await repo.list_resource_types(conn)} >= CORE_TYPES
            assert await repo.get_namespace(conn, "OS::OperatingSystem") is not None
    finally:
        await rt.close()


# --- migration 0002 -----------------------------------------------------------------------


async def _tables(db: Database) -> set[str]:
    async with db.read() as conn:
        return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))


def _metadef_diffs(sync_conn: sa.Connection) -> list:
    ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
    with warnings.catch_warnings():
        # SQLite's reflection cannot read the images table's expression index; not ours to check.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index")
        diffs = compare_metadata(ctx, metadata)

    def table_of(diff: object) -> str | None:
        item = diff[0] if isinstance(diff, list) else diff
        for part in item[1:]:
            name = getattr(part, "name", None) if not isinstance(part, str) else None
            table = getattr(part, "table", None)
            if table is not None:
                return table.name
            if name in METADEF_TABLES:
                return name
            if isinstance(part, str) and part in METADEF_TABLES:
                return part
        return None

    return [d for d in diffs if table_of(d) in METADEF_TABLES]


async def _check_down_up(db: Database) -> None:
    await load_into(db)
    assert await _tables(db) >= METADEF_TABLES
    async with db.read() as conn:
        assert await conn.run_sync(_metadef_diffs) == []
    await db.downgrade("0001")
    assert await db.current_revision() == "0001"
    tables = await _tables(db)
    assert not (METADEF_TABLES & tables) and "images" in tables
    await db.upgrade("head")
    assert await db.current_revision() == head_revision()
    assert await _tables(db) >= METADEF_TABLES
    await load_into(db)
    assert (await _counts(db))["metadef_namespaces"] == len(read_catalog()[1])


async def test_migration_0002_down_and_up_sqlite(sqlite_db: Database) -> None:
    await _check_down_up(sqlite_db)


@pytest.mark.postgres
async def test_migration_0002_down_and_up_postgres(pg_db: Database) -> None:
    await _check_down_up(pg_db)


# --- the service on both databases --------------------------------------------------------


def _runtime(db: Database) -> Runtime:
    settings = Settings()
    return Runtime(settings=settings, db=db, policy=Policy(settings), stores={}, default_store="file",
                   staging=None)  # type: ignore[arg-type]  # fmt: skip


def _ctx(project: str, roles: str) -> RequestContext:
    return RequestContext(
        Identity(user_id="u", project_id=project, roles=frozenset(roles.split(","))), "req-t"
    )


async def _service_round_trip(db: Database) -> None:
    rt = _runtime(db)
    admin, reader = _ctx("adm", "admin,member,reader"), _ctx("p1", "reader")
    for i in range(4):
        await svc.create_namespace(rt, admin, {"namespace": f"NS{i}", "visibility": "public" if i % 2 else "private",
                                               "owner": "p1" if i == 0 else "adm", "tags": [{"name": f"t{i}"}],
                                               "resource_type_associations": [{"name": "Kind::A", "prefix": "a_"}],
                                               "properties": {"p": {"title": "P", "type": "string"}}})  # fmt: skip
    with pytest.raises(Conflict):
        await svc.create_namespace(rt, admin, {"namespace": "NS0"})
    with pytest.raises(Forbidden):
        await svc.create_namespace(rt, reader, {"namespace": "NS9"})
    page = await svc.list_namespaces(
        rt, admin, [("sort_key", "namespace"), ("sort_dir", "asc"), ("limit", "2")]
    )
    assert [ns.namespace for ns, _ in page.items] == ["NS0", "NS1"] and page.next_marker == "NS1"
    page = await svc.list_namespaces(
        rt, admin, [("sort_key", "namespace"), ("sort_dir", "asc"), ("marker", "NS1")]
    )
    assert [ns.namespace for ns, _ in page.items if ns.namespace.startswith("NS")] == ["NS2", "NS3"]
    page = await svc.list_namespaces(rt, reader, [("sort_key", "display_name"), ("limit", "100")])
    assert {ns.namespace for ns, _ in page.items} >= {"NS0", "NS1", "NS3"}
    assert "NS2" not in {ns.namespace for ns, _ in page.items}
    page = await svc.list_namespaces(rt, admin, [("resource_types", "Kind::A"), ("sort_key", "owner")])
    assert {ns.namespace for ns, _ in page.items} == {"NS0", "NS1", "NS2", "NS3"}
    assert all(a[0].prefix == "a_" for _, a in page.items)
    with pytest.raises(NotFound):
        await svc.show_namespace(rt, reader, "NS2")
    detail = await svc.show_namespace(rt, reader, "NS0", "Kind::A")
    assert detail.prefix == "a_" and [p.name for p in detail.properties] == ["p"]
    await svc.create_tags(rt, admin, "NS0", {"tags": [{"name": "x"}, {"name": "y"}]}, append=True)
    with pytest.raises(Conflict):
        await svc.create_tags(rt, admin, "NS0", {"tags": [{"name": "x"}]}, append=True)
    assert [t.name for t in await svc.list_tags(rt, reader, "NS0", [("sort_key", "name"), ("sort_dir", "asc")])] == [
        "t0", "x", "y"]  # fmt: skip
    await svc.update_namespace(rt, admin, "NS0", {"namespace": "NS0-renamed", "owner": "p1"})
    with pytest.raises(Conflict):
        await svc.update_namespace(rt, admin, "NS1", {"namespace": "NS0-renamed"})
    await svc.delete_namespace(rt, admin, "NS0-renamed")
    with pytest.raises(NotFound):
        await svc.show_namespace(rt, admin, "NS0-renamed")


async def test_service_on_sqlite(sqlite_db: Database) -> None:
    await _service_round_trip(sqlite_db)


@pytest.mark.postgres
async def test_service_on_postgres(pg_db: Database) -> None:
    await _service_round_trip(pg_db)


def test_catalog_dir_holds_only_our_files() -> None:
    names = sorted(p.name for p in CATALOG_DIR.glob("*.json"))
    assert "resource_types.json" in names and len(names) >= 6


# --- the dashboard's catalog hook ---------------------------------------------------------


async def test_dashboard_catalog(sqlite_db: Database) -> None:
    from daguerre.web.metadefs_catalog import ServiceCatalog

    await load_into(sqlite_db)
    rt = _runtime(sqlite_db)
    found = await ServiceCatalog().namespaces_for(rt, _ctx("p1", "reader"))
    by_name = {ns.namespace: ns for ns in found}
    assert {"OS::OperatingSystem", "OS::Compute::GuestHardware", "OS::Compute::CPUTopology"} <= set(by_name)
    assert "OS::Operations::ServerLabels" not in by_name  # servers only
    assert "OS::Software::Roles" not in by_name  # tags only: nothing to fill in
    topo = {p.name: p for p in by_name["OS::Compute::CPUTopology"].properties}
    assert "hw_cpu_sockets" in topo and topo["hw_cpu_sockets"].type == "integer"
    hw = {p.name: p for p in by_name["OS::Compute::GuestHardware"].properties}
    assert "virtio" in hw["hw_disk_bus"].enum and hw["hw_qemu_guest_agent"].enum == ["true", "false"]
    assert hw["hw_firmware_type"].default == "bios"
    flavor = await ServiceCatalog().namespaces_for(rt, _ctx("p1", "reader"), "OS::Nova::Flavor")
    assert "hw:cpu_policy" in {p.name for ns in flavor for p in ns.properties}
    assert await ServiceCatalog().namespaces_for(rt, _ctx("p1", "")) == []
