"""Daguerre benchmark suite: service figures beside the machine's own limits, in one run.

    .venv/bin/python bench/run.py                      # full run, writes bench/results/ + docs
    .venv/bin/python bench/run.py --quick     # smoke test, < 2 min; JSON under bench/.work/results
    .venv/bin/python bench/run.py --url http://127.0.0.1:9292 --token T  # any Glance on loopback

Sections: limits, data (upload/download), concurrent (many uploads), catalog (records, load),
import (web-download + conversion); with --stores also stores (RBD and S3 on a Ceph it brings up,
beside rados/rbd bench and raw boto3: see bench/stores.py). Each figure is repeated
(median/min/max); each section records /proc/loadavg before/after, CPU busy % and the server's peak RSS (VmRSS of its process
tree sampled at 10 Hz). The server is restarted between sections; each start is timed to its
first answered request. Exit status: 0 when every section ran (targets missed or not), 1 when a
section failed, 2 with --strict when a target was missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import catalog
import data_path
import importing
import limits
import load
import report
from common import (
    BENCH_DIR,
    REPO,
    Api,
    GiB,
    MiB,
    Section,
    ServerProcess,
    assert_loopback,
    free_port,
    git_info,
    log,
    machine_info,
    make_data_file,
    summarize,
)

import stores

SECTIONS = ["limits", "data", "concurrent", "catalog", "import"]
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/{db}"


def parse_sizes(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        if part.endswith("g"):
            out.append(int(float(part[:-1]) * GiB))
        elif part.endswith("m"):
            out.append(int(float(part[:-1]) * MiB))
        else:
            out.append(int(part))
    return out


def args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes and short runs (< 2 min): a smoke test")
    p.add_argument(
        "--url", help="measure this Glance-compatible endpoint (loopback only) instead of starting a server"
    )
    p.add_argument("--token", default=os.environ.get("OS_TOKEN"), help="X-Auth-Token for --url")
    p.add_argument("--server-pid", type=int, help="with --url: pid whose process tree's RSS to sample")
    p.add_argument(
        "--server",
        choices=["daguerre", "standin"],
        default="daguerre",
        help="which server to start (standin: bench/standin.py, to test the harness)",
    )
    p.add_argument("--server-cmd", default=str(REPO / ".venv/bin/daguerre"), help="the daguerre executable")
    p.add_argument(
        "--snapshot",
        metavar="REV",
        help="run the server from `git archive REV src` (immune to edits in the working tree during the run)",
    )
    p.add_argument(
        "--server-workers",
        type=int,
        default=1,
        help="worker processes the null app runs with (match the server)",
    )
    p.add_argument("--sections", default=",".join(SECTIONS))
    p.add_argument("--repeats", type=int)
    p.add_argument("--upload-sizes", help="e.g. 1g,4g")
    p.add_argument("--concurrency", help="e.g. 8,32")
    p.add_argument("--concurrent-size", help="e.g. 256m")
    p.add_argument("--records", help="e.g. 10000,100000")
    p.add_argument(
        "--db",
        help="sqlite,postgresql (postgresql skipped if unreachable); with --url only a label (default endpoint)",
    )
    p.add_argument("--seeder", default="api", help="api, or MODULE:FUNCTION (see catalog.py)")
    p.add_argument("--duration", type=float, help="seconds of each catalog load run")
    p.add_argument("--single-duration", type=float, help="seconds of each single-client run")
    p.add_argument("--connections", type=int, default=16, help="concurrent connections of the load generator")
    p.add_argument("--load-threads", type=int, default=1, help="wrk threads")
    p.add_argument("--engine", default="auto", choices=["auto", "wrk", "py"], help="load generator")
    p.add_argument("--import-size", help="size of the raw disk inside the test qcow2, e.g. 1g")
    p.add_argument(
        "--stores",
        action="store_true",
        help="add the stores section: RBD and S3 on a Ceph brought up for the run (bench/stores.py)",
    )
    p.add_argument("--stores-size", help="image size of the stores section, e.g. 1g (default 1g, quick 64m)")
    p.add_argument(
        "--ceph-dir", default=str(BENCH_DIR / ".work" / "ceph"), help="where up.sh puts the cluster"
    )
    p.add_argument("--keep-ceph", action="store_true", help="leave the stores section's Ceph running")
    p.add_argument(
        "--memstore-bytes", type=int, help="CEPH_MEMSTORE_BYTES for up.sh (default: up.sh's, 8 GiB)"
    )
    p.add_argument("--work-dir", default=str(BENCH_DIR / ".work"))
    p.add_argument("--keep-work", action="store_true", help="keep generated images and server data")
    p.add_argument("--out", help="JSON result path (default bench/results/<time>-<commit>.json)")
    p.add_argument(
        "--docs", help="Markdown report to rewrite (default docs/PERFORMANCE.md; none with --quick)"
    )
    p.add_argument("--no-docs", action="store_true", help="do not rewrite the Markdown report")
    p.add_argument("--strict", action="store_true", help="exit 2 when a target is missed")
    return p


def resolve(a: argparse.Namespace) -> dict:
    q = a.quick
    return {
        "quick": q,
        "repeats": a.repeats or (2 if q else 3),
        "catalog_repeats": a.repeats or (1 if q else 3),
        "hash_size": (64 if q else 1024) * MiB,
        "disk_size": (128 if q else 2048) * MiB,
        "upload_sizes": parse_sizes(a.upload_sizes or ("32m,64m" if q else "1g,4g")),
        "concurrency": [int(x) for x in (a.concurrency or ("4,8" if q else "8,32")).split(",")],
        "concurrent_size": parse_sizes(a.concurrent_size or ("16m" if q else "256m"))[0],
        "records": [int(x) for x in (a.records or ("200,1000" if q else "10000,100000")).split(",")],
        "db": (a.db or ("endpoint" if a.url else "sqlite" if q else "sqlite,postgresql")).split(","),
        "duration": a.duration or (1 if q else 5),
        "single_duration": a.single_duration or (1 if q else 3),
        "connections": a.connections,
        "load_threads": a.load_threads,
        "engine": a.engine if a.engine != "auto" else ("wrk" if load.have_wrk() else "py"),
        "import_size": parse_sizes(a.import_size or ("32m" if q else "1g"))[0],
        "stores_size": parse_sizes(a.stores_size or ("64m" if q else "1g"))[0],
        "seeder": a.seeder,
    }


class Run:
    def __init__(self, a: argparse.Namespace):
        self.a = a
        self.s = resolve(a)
        self.work = Path(a.work_dir).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.scratch = self.work / "scratch"  # id lists of this run
        self.scratch.mkdir(exist_ok=True)
        self.fileserver_port = free_port()
        self.res: dict = {
            "schema": 1,
            "command": " ".join(
                shlex.quote(x) for x in [os.path.relpath(sys.executable, REPO), "bench/run.py", *sys.argv[1:]]
            ),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "git": git_info(),
            "machine": machine_info(self.work),
            "target": {"kind": "url" if a.url else a.server, "url": a.url},
            "settings": dict(self.s.items()),
            "limits": {},
            "figures": {},
            "sections": {},
            "seeding": [],
            "startups": [],
            "notes": [],
            "errors": [],
        }
        self.block = os.urandom(16 * MiB)
        self.server_env: dict[str, str] = {}
        if a.snapshot:
            self.server_env["PYTHONPATH"] = str(self.snapshot(a.snapshot))

    def snapshot(self, rev: str) -> Path:
        """src/ of commit ``rev`` under the work dir; PYTHONPATH puts it before the editable install."""
        commit = subprocess.run(
            ["git", "rev-parse", rev], cwd=REPO, capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()
        dest = self.work / f"snapshot-{commit[:12]}"
        if not (dest / "src").is_dir():
            dest.mkdir(parents=True, exist_ok=True)
            archive = subprocess.run(
                ["git", "archive", commit, "src"], cwd=REPO, capture_output=True, check=True, timeout=120
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True, timeout=120)
        self.res["git"].update(server_commit=commit, server_source=f"git archive {commit[:12]} src")
        log(f"server runs from a snapshot of {commit[:12]}")
        return dest / "src"

    # ------------------------------------------------------------ recording

    def limit(self, key, label, unit, values, **extra):
        self.res["limits"][key] = {"label": label, "unit": unit, "stats": summarize(values), **extra}

    def figure(self, key, label, unit, values, role=None, **extra):
        self.res["figures"][key] = {
            "label": label,
            "unit": unit,
            "stats": summarize(values),
            "role": role,
            **extra,
        }

    def note(self, text):
        log("note: " + text)
        self.res["notes"].append(text)

    # ------------------------------------------------------------ servers

    def config_file(self) -> Path:
        """Server settings for the bench: web-download allowed from the loopback file server,
        conversion to raw on import. Glance's section/option names."""
        path = self.work / "daguerre-bench.conf"
        path.write_text(
            "[DEFAULT]\n"
            "enabled_import_methods = glance-direct,web-download,copy-image\n"
            "[import_filtering_opts]\n"
            f"allowed_ports = {self.fileserver_port}\n"
            "allowed_hosts = 127.0.0.1\n"
            "allowed_networks = 127.0.0.1/32\n"
            "rate_limit_per_minute = 0\n"
            "[image_import_opts]\n"
            "image_import_plugins = image_conversion\n"
            "[image_conversion]\n"
            "output_format = raw\n"
        )
        return path

    def server(
        self, name: str, db: str = "sqlite", fresh: bool = True, config: Path | None = None
    ) -> ServerProcess | None:
        if self.a.url:
            return None
        data_dir = self.work / f"server-{name}-{db}"
        if fresh and data_dir.exists():
            shutil.rmtree(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        env = dict(self.server_env)
        if self.a.server == "standin":
            argv = [
                sys.executable,
                str(BENCH_DIR / "standin.py"),
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ]
        else:
            argv = [
                self.a.server_cmd,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                "--config",
                str(config or self.config_file()),
            ]
            if db == "postgresql":
                env["DAGUERRE_DATABASE__CONNECTION"] = PG_URL.format(db=self.pg_db)
        srv = ServerProcess(argv, port, self.work / "logs" / f"server-{name}-{db}.log", env=env)
        srv.start()
        self.res["startups"].append({"server": f"{name}-{db}", "seconds": srv.startup_s})
        log(f"server {name}-{db} up on {srv.url} in {srv.startup_s:.3f} s (pid {srv.pid})")
        return srv

    def base(self, srv: ServerProcess | None) -> str:
        return self.a.url.rstrip("/") if self.a.url else srv.url

    def pid(self, srv: ServerProcess | None) -> int | None:
        return srv.pid if srv else self.a.server_pid

    def section(self, name: str, srv) -> Section:
        sec = Section(name, self.pid(srv))
        self.res["sections"][name] = sec.data
        return sec

    # ------------------------------------------------------------ sections

    def run_limits(self) -> None:
        s, r = self.s, self.s["repeats"]
        with self.section("limits", None):
            buf = memoryview(
                bytearray((self.block * (s["hash_size"] // len(self.block) + 1))[: s["hash_size"]])
            )
            self.limit("md5", "md5, one thread", "MB/s", [limits.hash_single("md5", buf) for _ in range(r)])
            self.limit(
                "sha512", "sha512, one thread", "MB/s", [limits.hash_single("sha512", buf) for _ in range(r)]
            )
            self.limit(
                "md5_sha512_parallel",
                "md5 ‖ sha512 of one stream on two threads",
                "MB/s",
                [limits.hash_md5_sha512_parallel(buf) for _ in range(r)],
            )
            self.limit(
                "hash_two_core",
                f"md5+sha512, {os.cpu_count()} streams on {os.cpu_count()} threads (aggregate)",
                "MB/s",
                [limits.hash_two_core(buf) for _ in range(r)],
            )
            del buf
            f = self.work / "limits-disk.bin"
            self.limit(
                "disk_write",
                f"sequential write {s['disk_size'] // MiB} MiB + fdatasync",
                "MB/s",
                [limits.disk_write(f, s["disk_size"], self.block) for _ in range(r)],
            )
            self.limit(
                "page_cache_read", "page-cache read", "MB/s", [limits.page_cache_read(f) for _ in range(r)]
            )
            self.limit(
                "sendfile_loopback",
                "sendfile over loopback TCP",
                "MB/s",
                [limits.sendfile_loopback(f) for _ in range(r)],
            )
            f.unlink(missing_ok=True)
            up = min(
                self.res["limits"]["md5_sha512_parallel"]["stats"]["median"],
                self.res["limits"]["disk_write"]["stats"]["median"],
            )
            self.limit("upload_limit", "min(md5 ‖ sha512, disk write)", "MB/s", [up], derived=True)
            self.limit(
                "null_app_rps",
                "null ASGI app (uvicorn, same settings), image-show load",
                "req/s",
                self.null_app_rates(),
            )
            qcow2 = self.test_qcow2()
            self.limit(
                "qemu_img_convert_s",
                f"qemu-img convert qcow2→raw of the test image ({s['import_size'] // MiB} MiB)",
                "s",
                [limits.qemu_img_convert(qcow2, self.work / "limits-convert.raw") for _ in range(r)],
            )

    def null_app_rates(self) -> list[float]:
        port = free_port()
        argv = [
            sys.executable,
            str(BENCH_DIR / "nullapp.py"),
            "--port",
            str(port),
            "--workers",
            str(self.a.server_workers),
        ]
        rates = []
        with ServerProcess(argv, port, self.work / "logs" / "nullapp.log", probe="/") as srv:
            for _ in range(self.s["repeats"]):
                r = load.run(
                    srv.url,
                    "null",
                    self.s["duration"],
                    self.s["connections"],
                    self.s["load_threads"],
                    engine=self.s["engine"],
                )
                rates.append(r["rps"])
        return rates

    def test_qcow2(self) -> Path:
        size = self.s["import_size"]
        raw = make_data_file(self.work / f"disk-{size // MiB}m.raw", size, self.block)
        return limits.make_qcow2(raw, self.work / f"disk-{size // MiB}m.qcow2")

    def run_data(self) -> None:
        s = self.s
        srv = self.server("data")
        try:
            api = Api(self.base(srv), self.a.token)
            for size in s["upload_sizes"]:
                lab = data_path.size_label(size)
                path = make_data_file(self.work / f"data-{lab}.bin", size, self.block)
                up, down = [], []
                timeout = 120 + size / (20 * 1e6)
                with self.section(f"data_{lab}", srv):
                    for _ in range(s["repeats"]):
                        iid, mbps = data_path.upload(api, path, timeout)
                        up.append(mbps)
                        down.append(data_path.download(api, iid, size, timeout))
                        api.delete_image(iid)
                self.figure(
                    f"upload_{lab}",
                    f"upload {lab} (PUT /file)",
                    "MB/s",
                    up,
                    role="upload",
                    section=f"data_{lab}",
                )
                self.figure(
                    f"download_{lab}",
                    f"download {lab} (GET /file)",
                    "MB/s",
                    down,
                    role="download",
                    section=f"data_{lab}",
                )
                if not self.a.keep_work:
                    path.unlink(missing_ok=True)
            api.close()
        finally:
            if srv:
                srv.stop()

    def run_concurrent(self) -> None:
        s = self.s
        size = s["concurrent_size"]
        lab = data_path.size_label(size)
        path = make_data_file(self.work / f"data-{lab}.bin", size, self.block)
        top = max(s["concurrency"])
        for n in s["concurrency"]:
            srv = self.server(f"concurrent{n}")  # fresh process: its peak RSS is this section's alone
            try:
                api = Api(self.base(srv), self.a.token)
                rates, errors = [], []
                name = f"concurrent_{n}x{lab}"
                with self.section(name, srv) as sec:
                    for _ in range(s["repeats"]):
                        r = data_path.concurrent_uploads(api, path, n, timeout=300 + n * size / (20 * 1e6))
                        rates.append(r["mbps"])
                        errors.append(r["errors"])
                api.close()
            finally:
                if srv:
                    srv.stop()
            role = "concurrent_max" if n == top else "concurrent"
            self.figure(
                name, f"{n} concurrent uploads of {lab}, aggregate", "MB/s", rates, role=role, section=name
            )
            self.figure(
                name + "_errors",
                f"{n} concurrent uploads of {lab}, errors",
                "count",
                [sum(errors)],
                role=role + "_errors",
                section=name,
            )
            self.figure(
                name + "_rss",
                f"{n} concurrent uploads of {lab}, server peak RSS",
                "MiB",
                [sec.data.get("server_peak_rss_mib")],
                role=role + "_rss",
                section=name,
            )

    def pg_available(self) -> bool:
        try:
            r = subprocess.run(
                ["pg_isready", "-h", "127.0.0.1", "-p", "5432"], capture_output=True, timeout=10, check=False
            )
            return r.returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False

    def psql(self, sql: str) -> None:
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-qc",
                sql,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def run_catalog(self) -> None:
        for db in self.s["db"]:
            if db == "postgresql":
                if self.a.url or self.a.server != "daguerre":
                    self.note("catalog on PostgreSQL skipped: only for a server the bench starts (daguerre)")
                    continue
                if not self.pg_available():
                    self.note("catalog on PostgreSQL skipped: nothing answers on 127.0.0.1:5432")
                    continue
                self.pg_db = f"daguerre_bench_{os.getpid()}"
                self.psql(f"DROP DATABASE IF EXISTS {self.pg_db}")
                self.psql(f"CREATE DATABASE {self.pg_db}")
            try:
                self.catalog_for(db)
            finally:
                if db == "postgresql":
                    self.psql(f"DROP DATABASE IF EXISTS {self.pg_db} WITH (FORCE)")

    def catalog_for(self, db: str) -> None:
        s = self.s
        seeded: list[str] = []
        srv = None
        try:
            for n in s["records"]:
                if srv and self.a.server != "standin":  # the stand-in keeps its records in memory
                    srv.stop()  # restart: startup with n records, and a fresh peak RSS per section
                    srv = None
                if srv is None:
                    srv = self.server("catalog", db, fresh=not seeded)
                api = Api(self.base(srv), self.a.token)
                if n > len(seeded):
                    ctx = catalog.SeedContext(
                        self.base(srv),
                        self.a.token,
                        self.work / f"server-catalog-{db}",
                        PG_URL.format(db=self.pg_db) if db == "postgresql" else None,
                        len(seeded),
                        n - len(seeded),
                    )
                    ids, info = catalog.seed(ctx, s["seeder"])
                    info.update(db=db, total=n)
                    self.res["seeding"].append(info)
                    seeded += ids
                    if info["errors"]:
                        self.note(f"seeding {db} to {n}: {info['errors']} failed creates (retried)")
                runs = []
                name = f"catalog_{db}_{n}"
                with self.section(name, srv):
                    for rep in range(s["catalog_repeats"]):
                        runs.append(
                            catalog.measure(
                                api,
                                seeded,
                                self.scratch,
                                f"{db}-{n}-{rep}",
                                s["duration"],
                                s["single_duration"],
                                s["connections"],
                                s["load_threads"],
                                s["engine"],
                            )
                        )
                api.close()
                self.catalog_figures(db, n, runs, name)
        finally:
            if srv:
                srv.stop()
            if self.a.url and seeded:
                api = Api(self.a.url, self.a.token)
                for iid in seeded[:200_000]:
                    api.delete_image(iid)
                api.close()

    def catalog_figures(self, db: str, n: int, runs: list[dict], section: str) -> None:
        top = max(self.s["records"])
        for op in catalog.OPS:
            key = f"{db}_{n}_{op}"
            label = f"{catalog.OP_LABELS[op]} @ {n:,} images, {db}"
            loads = [r[op]["load"] for r in runs]
            singles = [r[op]["single"] for r in runs]
            lower = any(x.get("exhausted_threads") for x in loads)
            conns = self.s["connections"]
            self.figure(
                key + "_rps",
                label + f", {conns} connections",
                "req/s",
                [x["rps"] for x in loads],
                role=f"{op}_rps",
                db=db,
                records=n,
                op=op,
                section=section,
                lower_bound=lower,
                top_records=n == top,
            )
            self.figure(
                key + "_p50",
                label + ", p50 under load",
                "ms",
                [x["p50_ms"] for x in loads],
                role=f"{op}_p50",
                db=db,
                records=n,
                op=op,
                section=section,
            )
            self.figure(
                key + "_p99",
                label + ", p99 under load",
                "ms",
                [x["p99_ms"] for x in loads],
                role=f"{op}_p99",
                db=db,
                records=n,
                op=op,
                section=section,
                top_records=n == top,
            )
            self.figure(
                key + "_errors",
                label + ", errors under load",
                "count",
                [sum(x["errors"] for x in loads)],
                role=f"{op}_errors",
                db=db,
                records=n,
                op=op,
                section=section,
            )
            self.figure(
                key + "_single_p50",
                label + ", single client p50",
                "ms",
                [x["p50_ms"] for x in singles],
                role=f"{op}_single_p50",
                db=db,
                records=n,
                op=op,
                section=section,
            )
            self.figure(
                key + "_single_p99",
                label + ", single client p99",
                "ms",
                [x["p99_ms"] for x in singles],
                role=f"{op}_single_p99",
                db=db,
                records=n,
                op=op,
                section=section,
            )

    def run_import(self) -> None:
        s = self.s
        qcow2 = self.test_qcow2()
        raw_size = s["import_size"]
        srv = self.server("import")
        try:
            api = Api(self.base(srv), self.a.token)
            served = self.work / "served"
            served.mkdir(exist_ok=True)
            link = served / qcow2.name
            link.unlink(missing_ok=True)
            os.link(qcow2, link)
            imports, sums, detail = [], [], []
            with importing.FileServer(served, self.fileserver_port) as fs, self.section("import", srv):
                uri = fs.url(qcow2.name)
                timeout = 120 + raw_size / (10 * 1e6)
                for _ in range(s["repeats"]):
                    imp = importing.import_once(api, uri, raw_size, timeout)
                    hand = importing.steps_by_hand(api, uri, self.work, timeout)
                    imports.append(imp["seconds"])
                    sums.append(hand["sum_s"])
                    detail.append({"import": imp, "by_hand": hand})
            api.close()
        finally:
            if srv:
                srv.stop()
        lab = data_path.size_label(raw_size)
        self.limit(
            "import_steps_sum_s",
            f"fetch + qemu-img convert + PUT by hand ({lab} qcow2)",
            "s",
            sums,
            detail=detail,
        )
        self.figure(
            f"import_{lab}",
            f"import {lab} qcow2 by web-download, converted to raw",
            "s",
            imports,
            role="import",
            converted=all(d["import"]["converted_to_raw"] for d in detail),
            section="import",
        )

    def run_stores(self) -> None:
        stores.run_section(self)

    # ------------------------------------------------------------ whole run

    def go(self) -> int:
        if self.a.url:
            assert_loopback(self.a.url)
        wanted = [x.strip() for x in self.a.sections.split(",") if x.strip()]
        if self.a.stores and "stores" not in wanted:
            wanted.append("stores")
        for name in wanted:
            fn = getattr(self, f"run_{name}", None)
            if fn is None:
                raise SystemExit(f"unknown section {name}")
            try:
                fn()
            except importing.NotAvailable as e:
                self.note(f"section {name} skipped: {e}")
            except Exception as e:  # noqa: BLE001 - one failed section must not lose the others
                traceback.print_exc()
                self.res["errors"].append({"section": name, "error": f"{type(e).__name__}: {e}"})
        st = [x["seconds"] for x in self.res["startups"] if x["seconds"] is not None]
        if st:
            self.figure("startup_s", "startup to first answered request", "s", st, role="startup")
        self.res["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.res["checks"] = report.checks(self.res)
        stamp = (
            f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{self.res['git']['commit'][:10] or 'nocommit'}"
        )
        if self.a.out:
            out = Path(self.a.out)
        elif self.s["quick"]:  # a smoke run: kept out of bench/results/ and out of git
            out = self.work / "results" / f"{stamp}-quick.json"
        else:
            out = BENCH_DIR / "results" / f"{stamp}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.res, indent=1, sort_keys=False) + "\n")
        print(report.table(self.res))
        log(f"results: {out}")
        if not self.a.no_docs and (not self.s["quick"] or self.a.docs):
            docs = Path(self.a.docs or REPO / "docs/PERFORMANCE.md")
            kept = stores.extract_section(docs)  # a run without the stores section keeps the last one
            if wanted != ["stores"]:  # a stores-only run replaces its own section, nothing else
                report.write_docs(self.res, docs, out)
            rel = os.path.relpath(out, REPO) if out.is_absolute() else str(out)
            section = stores.docs_section(self.res, rel) or kept
            if section:
                stores.merge_section(docs, section)
            log(f"docs: {docs}")
        if not self.a.keep_work:  # keeps logs/, results/ and the source snapshot
            for p in [*self.work.glob("server-*"), self.scratch, self.work / "served"]:
                shutil.rmtree(p, ignore_errors=True)
            for pattern in (
                "data-*.bin",
                "disk-*.raw",
                "disk-*.qcow2",
                "*.part",
                "created-*.txt",
                "ids-*.txt",
            ):
                for p in self.work.glob(pattern):
                    p.unlink(missing_ok=True)
        if self.res["errors"]:
            return 1
        if self.a.strict and any(c["met"] is False for c in self.res["checks"]):
            return 2
        return 0


def main() -> int:
    a = args_parser().parse_args()
    return Run(a).go()


if __name__ == "__main__":
    sys.exit(main())
