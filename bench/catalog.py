"""Catalog figures: seeding N image records, then show / list / PATCH / create / delete under
load from a separate load generator (wrk) and from a single client.

Seeding is pluggable (``--seeder``):
- ``api`` (default): concurrent POST /v2/images from 2 processes x 16 connections (timed);
- ``MODULE:FUNCTION``: a function ``seed(ctx: SeedContext) -> list[str]`` that writes records
  straight into the server's database and returns their ids (for example with SQL once the
  schema is settled; see bench/seed_sql.py). It runs while the server is up.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import load
from common import Api, log

OPS = ["show", "list", "list_filtered", "list_property", "patch", "create", "delete"]
OP_LABELS = {
    "show": "image-show",
    "list": "list limit=25",
    "list_filtered": "list limit=25, filtered (status, disk_format, container_format, sort name)",
    "list_property": "list limit=25, filtered by a custom property",
    "patch": "PATCH (replace name)",
    "create": "create (POST)",
    "delete": "delete",
}


def seed_body(i: int) -> dict:
    """The i-th seeded record: half raw, half qcow2; a custom property with 10 values; a tag."""
    return {
        "name": f"bench-{i:07d}",
        "disk_format": "qcow2" if i % 2 else "raw",
        "container_format": "bare",
        "bench_group": f"g{i % 10}",
        "tags": [f"t{i % 100}"],
    }


@dataclass
class SeedContext:
    base_url: str
    token: str | None
    data_dir: Path | None
    database_url: str | None
    start: int
    count: int


def seed(ctx: SeedContext, seeder: str = "api") -> tuple[list[str], dict]:
    """Adds ``ctx.count`` records; returns their ids and {seconds, rate, errors, seeder}."""
    t0 = time.perf_counter()
    errors = 0
    if seeder == "api":
        ids, errors = load.concurrent_creates(ctx.base_url, ctx.token, ctx.start, ctx.count)
    else:
        mod_name, fn_name = seeder.split(":", 1)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        ids = list(getattr(importlib.import_module(mod_name), fn_name)(ctx))
    dt = time.perf_counter() - t0
    info = {
        "seeder": seeder,
        "count": ctx.count,
        "seconds": round(dt, 2),
        "rate": round(len(ids) / dt, 1) if dt else None,
        "errors": errors,
    }
    log(f"seeded {len(ids)} records in {dt:.1f} s ({info['rate']}/s, {errors} errors, {seeder})")
    return ids, info


def ids_by_name(api: Api, name: str, cap: int = 2_000_000) -> list[str]:
    """Every image id with this exact name, following 'next' links (bounded)."""
    ids: list[str] = []
    path = f"/v2/images?limit=1000&name={urllib.parse.quote(name)}"
    for _ in range(cap // 1000 + 1):
        status, data, _ = api.request("GET", path)
        if status != 200:
            raise RuntimeError(f"list by name: {status} {data!r}")
        ids += [img["id"] for img in data.get("images", []) if img.get("name") == name]
        nxt = data.get("next")
        if not nxt or not data.get("images"):
            break
        path = nxt[len(api.prefix) :] if api.prefix and nxt.startswith(api.prefix) else nxt
        if not path.startswith("/v2"):
            path = "/v2" + path if path.startswith("/") else "/v2/" + path
    return ids


def measure(
    api: Api,
    ids: list[str],
    work: Path,
    tag: str,
    duration: float,
    single_duration: float,
    connections: int,
    threads: int,
    engine: str,
) -> dict:
    """One repeat of every op: {op: {"load": {...}, "single": {...}}}."""
    ids_file = work / f"ids-{tag}.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    out: dict = {}

    def go(mode, conns, dur, idf=ids_file, name="wrkcreate"):
        return load.run(
            api.base_url, mode, dur, conns, threads if conns > 1 else 1, idf, api.token, name, engine
        )

    for op in ("show", "list", "list_filtered", "list_property", "patch"):
        out[op] = {"load": go(op, connections, duration), "single": go(op, 1, single_duration)}
        log(
            f"  {tag} {op}: {out[op]['load']['rps']:.0f}/s p99 {out[op]['load']['p99_ms']:.1f} ms, "
            f"single p50 {out[op]['single']['p50_ms']:.2f} ms, errors {out[op]['load']['errors']}"
        )

    # create under load, then delete exactly what was created (a delete run that uses up its
    # pool stops early and reports a lower bound)
    out["create"] = {}
    out["delete"] = {}
    for kind, conns, dur in (("load", connections, duration), ("single", 1, single_duration)):
        name = f"wrkcreate-{tag}-{kind}"
        out["create"][kind] = go("create", conns, dur, None, name)
        created = ids_by_name(api, name)
        pool = work / f"created-{tag}-{kind}.txt"
        pool.write_text("\n".join(created) + "\n")
        out["delete"][kind] = go("delete", conns, dur / 2, pool)
        out["delete"][kind]["pool"] = len(created)
        # whatever the delete run did not reach goes too, so N stays N
        left = ids_by_name(api, name)
        for iid in left:
            api.delete_image(iid)
        out["delete"][kind]["left_after_run"] = len(left)
    for op in ("create", "delete"):
        log(
            f"  {tag} {op}: {out[op]['load']['rps']:.0f}/s p99 {out[op]['load']['p99_ms']:.1f} ms, "
            f"single p50 {out[op]['single']['p50_ms']:.2f} ms, errors {out[op]['load']['errors']}"
        )
    return out


if __name__ == "__main__":
    print(json.dumps(seed_body(1)))
