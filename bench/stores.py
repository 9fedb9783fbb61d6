"""Ceph stores: PUT/GET /file into RBD and S3 (RADOS Gateway) beside the cluster's own raw speed.

One run brings up a single-node Ceph (memstore OSD, radosgw) on loopback with
`scripts/ceph/up.sh bench/.work/ceph` on bench-only ports (so a test cluster on the default
ports is not disturbed), measures in the same run:

- raw limits: `rados bench write` (--no-cleanup, 4 MiB objects, 4 in flight, bounded to the
  image size by --max-objects) then `rados bench seq`; `rbd bench` write and read (4 MiB, 4
  threads, sequential, the image size) on a scratch RBD image; boto3 multipart upload and
  download of the same file straight to RGW (8 MiB parts, 4 threads) in a separate process;
- Daguerre with `enabled_backends = ceph:rbd, objects:s3`: `curl -T` PUT /file of the image
  into each store (`X-Image-Meta-Store`), GET /file back, each repeat deleted at once;
- the stores alone (not judged): `RbdStore`/`S3Store` as the server configures them, driven
  straight from memory in 1 MiB chunks in a separate process running the server's source (no
  HTTP, no hashing), put then read back, to tell the stores' own speed from the server's;

each repeat measures every raw limit and then Daguerre (both under the same machine load), and
tears the cluster down at the end (unless --keep-ceph). Everything it creates (RBD images,
bench objects, S3 objects and the bucket) is deleted, and the pool and bucket are checked empty.
Memory: memstore holds data in RAM; at most about two copies of the image exist at a time.

    .venv/bin/python bench/stores.py s3raw FACTS BUCKET FILE REPEATS   # (internal) the S3 raw client
    .venv/bin/python bench/stores.py direct FACTS BUCKET SIZE REPEATS  # (internal) the stores alone
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import data_path
import limits
from common import REPO, Api, CpuMeter, MiB, log, make_data_file

from daguerre.testing.ceph_config import ceph_store_sections

SCRIPTS = REPO / "scripts" / "ceph"
# bench-only ports (the test suite's cluster uses up.sh's defaults 13300/16789/17480/16800-16899)
PORTS = {
    "CEPH_MON_PORT": "13310",
    "CEPH_MON_V1_PORT": "16799",
    "CEPH_RGW_PORT": "17490",
    "CEPH_OSD_PORTS": "16900-16999",
}
RAW_THREADS = 4
IO_SIZE = 4 * MiB
S3_PART = 8 * MiB
STORE_IDS = {"rbd": "ceph", "s3": "objects"}
SECTION_TITLE = "## Ceph stores"


class Ceph:
    """The bench's own cluster under ``folder``: up on enter, down on exit unless ``keep``."""

    def __init__(self, folder: Path, keep: bool = False, memstore_bytes: int | None = None):
        self.folder = folder
        self.keep = keep
        self.env = {k: os.environ.get(k, v) for k, v in PORTS.items()}
        self.env["CEPH_STORE"] = "memstore"
        if memstore_bytes:
            self.env["CEPH_MEMSTORE_BYTES"] = str(memstore_bytes)
        self.facts: dict = {}

    def __enter__(self) -> Ceph:
        t0 = time.monotonic()
        r = subprocess.run(
            [str(SCRIPTS / "up.sh"), str(self.folder)],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if r.returncode != 0:
            raise RuntimeError(f"scripts/ceph/up.sh failed: {r.stderr[-2000:]}")
        self.facts = json.loads((self.folder / "cluster.json").read_text())
        self.facts["bring_up_s"] = round(time.monotonic() - t0, 2)
        log(f"ceph up in {self.facts['bring_up_s']} s under {self.folder}")
        return self

    def __exit__(self, *exc) -> None:
        if self.keep:
            log(f"ceph kept under {self.folder} (stop it with scripts/ceph/down.sh {self.folder})")
            return
        subprocess.run(
            [str(SCRIPTS / "down.sh"), str(self.folder)], capture_output=True, timeout=180, check=False
        )
        log("ceph down")

    # ---------------------------------------------------------------- CLI helpers (bounded)

    def cli(self, tool: str, *args: str, timeout: float = 300) -> str:
        r = subprocess.run(
            [tool, "-c", self.facts["conf"], *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if r.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)}: rc {r.returncode}: {r.stderr[-500:]}")
        return r.stdout + r.stderr

    def pool_objects(self) -> list[str]:
        return sorted(self.cli("rados", "-p", self.facts["pool"], "ls", timeout=120).split())

    def rbd_images(self) -> list[str]:
        return self.cli("rbd", "ls", self.facts["pool"], timeout=120).split()

    def gc(self) -> None:
        """Let RGW free deleted objects now (memstore memory), not after its GC period."""
        try:
            self.cli("radosgw-admin", "gc", "process", "--include-all", timeout=300)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            log(f"radosgw-admin gc process: {e}")


# -------------------------------------------------------------------- raw limits


def _num(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    if not m:
        raise RuntimeError(f"no {pattern!r} in: {text[-800:]}")
    return float(m.group(1))


def rados_bench(ceph: Ceph, size: int, cpu: dict[str, list]) -> tuple[float, float]:
    """rados bench write (objects kept) then seq over them; (write MB/s, read MB/s), decimal MB
    from the tool's own counts and time; the bench objects are removed after. The machine's CPU
    per GB of each goes to ``cpu["rados_write"]`` / ``cpu["rados_seq"]``."""
    pool = ceph.facts["pool"]
    run_name = f"daguerre-bench-{os.getpid()}"
    objs = max(1, size // IO_SIZE)
    try:
        with CpuMeter() as m:
            w = ceph.cli(
                "rados", "-p", pool, "bench", "10", "write", "--no-cleanup", "-b", str(IO_SIZE),
                "-t", str(RAW_THREADS), "--max-objects", str(objs), "--run-name", run_name, timeout=120,
            )  # fmt: skip
        moved = _num(r"Total writes made:\s+(\d+)", w) * IO_SIZE
        cpu["rados_write"].append(m.per_gb(moved))
        write = moved / _num(r"Total time run:\s+([\d.]+)", w) / 1e6
        with CpuMeter() as m:
            s = ceph.cli(
                "rados", "-p", pool, "bench", "10", "seq", "-t", str(RAW_THREADS), "--run-name", run_name,
                timeout=120,
            )  # fmt: skip
        moved = _num(r"Total reads made:\s+(\d+)", s) * IO_SIZE
        cpu["rados_seq"].append(m.per_gb(moved))
        read = moved / _num(r"Total time run:\s+([\d.]+)", s) / 1e6
    finally:
        ceph.cli("rados", "-p", pool, "cleanup", "--run-name", run_name, timeout=300)
    return write, read


def rbd_bench(ceph: Ceph, size: int, cpu: dict[str, list], threads: int = RAW_THREADS) -> tuple[float, float]:
    """rbd bench write then read (sequential, 4 MiB, ``threads``, ``size`` bytes) on a scratch
    image that is removed after; MB/s from the tool's ops/sec. CPU per GB to
    ``cpu["rbd_write"]``/``cpu["rbd_read"]`` (with ``_t1`` for one thread)."""
    suffix = "" if threads == RAW_THREADS else f"_t{threads}"
    spec = f"{ceph.facts['pool']}/bench-raw-{uuid.uuid4().hex[:8]}"
    common = ["--io-size", str(IO_SIZE), "--io-threads", str(threads), "--io-total", str(size)]
    ceph.cli("rbd", "create", "--size", f"{size // MiB}M", spec, timeout=120)
    try:
        out = []
        for kind in ("write", "read"):
            with CpuMeter() as m:
                o = ceph.cli(
                    "rbd", "bench", "--io-type", kind, *common, "--io-pattern", "seq", spec, timeout=300
                )
            cpu[f"rbd_{kind}{suffix}"].append(m.per_gb(size))
            out.append(_num(r"ops/sec:\s+([\d.]+)\s+bytes/sec", o) * IO_SIZE / 1e6)
    finally:
        ceph.cli("rbd", "rm", "--no-progress", spec, timeout=300)
    return out[0], out[1]


def s3_curl(
    ceph: Ceph, client, bucket: str, path: Path, timeout: float, cpu: dict[str, list]
) -> tuple[float, float]:
    """One PUT and one GET of the whole file with curl on presigned URLs (no Python in the data
    path: the ceiling of a single stream to RGW); the object is deleted after."""
    key = f"bench-curl-{uuid.uuid4().hex[:8]}"
    size = path.stat().st_size
    put = client.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600)
    get = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600)
    base = ["curl", "-sS", "--noproxy", "*", "-o", "/dev/null", "-w", "%{http_code} %{time_total}"]
    try:
        out = []
        for name, argv in (
            ("s3_curl_put", base + ["-H", "Expect:", "-T", str(path), put]),
            ("s3_curl_get", base + [get]),
        ):
            with CpuMeter() as m:
                r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
            cpu[name].append(m.per_gb(size))
            code, total = (r.stdout.split() + ["0", "0"])[:2]
            if code != "200":
                raise RuntimeError(f"curl to RGW: HTTP {code}: {r.stderr[-300:]}")
            out.append(size / float(total) / 1e6)
    finally:
        client.delete_object(Bucket=bucket, Key=key)
    return out[0], out[1]


def s3_client(facts: dict):
    import boto3
    from botocore.config import Config

    s3 = facts["s3"]
    return boto3.client(
        "s3",
        endpoint_url=s3["endpoint_url"],
        aws_access_key_id=s3["access_key"],
        aws_secret_access_key=s3["secret_key"],
        region_name=s3["region"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )


def s3raw_main(facts_path: str, bucket: str, path: str, repeats: str) -> int:
    """The S3 raw client (its own process): boto3 multipart upload_file / download_file of
    ``path``, timed around the transfer only; each object deleted after. Prints JSON."""
    from boto3.s3.transfer import TransferConfig

    client = s3_client(json.loads(Path(facts_path).read_text()))
    tc = TransferConfig(
        multipart_threshold=S3_PART,
        multipart_chunksize=S3_PART,
        max_concurrency=RAW_THREADS,
        use_threads=True,
    )
    size = os.path.getsize(path)
    up, down, cpu_up, cpu_down = [], [], [], []
    for k in range(int(repeats)):
        key = f"bench-raw-{os.getpid()}-{k}"
        try:
            with CpuMeter() as m:
                client.upload_file(path, bucket, key, Config=tc)
            up.append(size / m.wall_s / 1e6)
            cpu_up.append(m.per_gb(size))
            with CpuMeter() as m:
                client.download_file(bucket, key, os.devnull, Config=tc)
            down.append(size / m.wall_s / 1e6)
            cpu_down.append(m.per_gb(size))
        finally:
            client.delete_object(Bucket=bucket, Key=key)
    print(json.dumps({"upload": up, "download": down, "cpu_upload": cpu_up, "cpu_download": cpu_down}))
    return 0


def s3_raw(
    ceph: Ceph, bucket: str, path: Path, repeats: int, timeout: float, cpu: dict[str, list]
) -> tuple[list, list]:
    facts = path.parent / "stores-cluster.json"
    facts.write_text(json.dumps(ceph.facts))
    try:
        r = subprocess.run(
            [sys.executable, str(Path(__file__)), "s3raw", str(facts), bucket, str(path), str(repeats)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    finally:
        facts.unlink(missing_ok=True)
    if r.returncode != 0:
        raise RuntimeError(f"S3 raw client: {r.stderr[-1500:]}")
    d = json.loads(r.stdout.strip().splitlines()[-1])
    cpu["s3_raw_upload"] += d["cpu_upload"]
    cpu["s3_raw_download"] += d["cpu_download"]
    return d["upload"], d["download"]


def direct_main(facts_path: str, bucket: str, size: str, repeats: str) -> int:
    """(internal, its own process, daguerre from the server's source) Daguerre's RbdStore and
    S3Store driven straight, as the server configures them: put ``size`` bytes from memory in
    1 MiB chunks (what the server's upload pipeline hands a store), then read it back; no HTTP,
    no hashing. Each object deleted after. Prints JSON."""
    import asyncio

    from daguerre.stores.rbd import RbdStore
    from daguerre.stores.s3 import S3Store

    facts = json.loads(Path(facts_path).read_text())
    n, block = int(size), os.urandom(16 * MiB)

    async def chunks():
        for pos in range(0, n, MiB):
            off = pos % len(block)
            yield block[off : off + min(MiB, n - pos)]

    async def main() -> dict:
        s3 = facts["s3"]
        stores = {
            "rbd": RbdStore(
                "ceph", facts["pool"], facts["conf"], user=facts["user"], keyring=facts["keyring"]
            ),
            "s3": S3Store("objects", s3["endpoint_url"], bucket, s3["access_key"], s3["secret_key"]),
        }
        out: dict = {f"{c}{k}_{d}": [] for c in ("", "cpu_") for k in stores for d in ("upload", "download")}
        try:
            for _ in range(int(repeats)):
                for kind, store in stores.items():
                    key = f"bench-direct-{os.getpid()}-{uuid.uuid4().hex[:8]}"
                    with CpuMeter() as m:
                        await store.put(key, chunks(), size=n)
                    out[f"{kind}_upload"].append(n / m.wall_s / 1e6)
                    out[f"cpu_{kind}_upload"].append(m.per_gb(n))
                    try:
                        got = 0
                        with CpuMeter() as m:
                            async for c in await store.open(key):
                                got += len(c)
                        if got != n:
                            raise RuntimeError(f"{kind}: read {got} of {n} bytes")
                        out[f"{kind}_download"].append(n / m.wall_s / 1e6)
                        out[f"cpu_{kind}_download"].append(m.per_gb(n))
                    finally:
                        await store.delete(key)
        finally:
            for store in stores.values():
                await store.close()
        return out

    print(json.dumps(asyncio.run(main())))
    return 0


def store_direct(run, ceph: Ceph, bucket: str, size: int, timeout: float) -> dict:
    facts = run.work / f"stores-direct-{os.getpid()}.json"
    facts.write_text(json.dumps(ceph.facts))
    env = {**os.environ, **run.server_env}  # the server's daguerre (a --snapshot's src/)
    try:
        r = subprocess.run(
            [sys.executable, str(Path(__file__)), "direct", str(facts), bucket, str(size), "1"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
        )
    finally:
        facts.unlink(missing_ok=True)
    if r.returncode != 0:
        raise RuntimeError(f"store-direct client: {r.stderr[-1500:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# -------------------------------------------------------------------- Daguerre


def config_text(facts: dict, bucket: str, local_dir: Path) -> str:
    """The shape of tests/stores/test_ceph_service.py's config (no auth section: as the bench's)."""
    return f"""[DEFAULT]
enabled_backends = ceph:rbd, objects:s3, local:file
[glance_store]
default_backend = ceph
{ceph_store_sections(facts, bucket)}[local]
filesystem_store_datadir = {local_dir}
"""


def upload_to(api: Api, path: Path, store: str, timeout: float) -> tuple[str, float]:
    """PUT /file with ``X-Image-Meta-Store: store`` (curl -T, as data_path.upload); (id, MB/s)."""
    size = path.stat().st_size
    iid = api.create_image(name=f"bench-store-{store}-{size}")
    argv = data_path.upload_argv(api.base_url, api.token, iid, path)
    argv[-1:-1] = ["-H", f"X-Image-Meta-Store: {store}"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    try:
        code, total, sent, _ = data_path._parse(r.stdout)
    except ValueError:
        api.delete_image(iid)
        raise RuntimeError(f"upload to {store}: curl said {r.stdout!r} {r.stderr[-300:]}") from None
    img = api.show(iid)
    if code != 204 or sent != size or img.get("status") != "active" or img.get("stores") != store:
        api.delete_image(iid)
        raise RuntimeError(
            f"upload {size} B to {store}: HTTP {code}, sent {sent}, status {img.get('status')}, "
            f"stores {img.get('stores')}: {r.stderr[-300:]}"
        )
    return iid, size / total / 1e6


# -------------------------------------------------------------------- the section


def run_section(run) -> None:
    """Called by bench/run.py as the `stores` section."""
    if run.a.url or run.a.server != "daguerre":
        run.note("stores section skipped: it needs a Daguerre server the bench starts (not --url/standin)")
        return
    s = run.s
    size, reps = s["stores_size"], s["repeats"]
    lab = data_path.size_label(size)
    folder = Path(run.a.ceph_dir).resolve()
    timeout = 300 + size / (20 * 1e6)
    # not data-*.bin: another bench run sharing the work dir removes those when it ends
    path = make_data_file(run.work / f"stores-{os.getpid()}-{lab}.bin", size, run.block)
    bucket = f"daguerre-bench-{uuid.uuid4().hex[:10]}"
    raw: dict[str, list] = {k: [] for k in RAW_KEYS}
    ours = {f"{k}_{d}": [] for k in [*STORE_IDS, "local"] for d in ("upload", "download")}
    # machine-wide core-seconds per GB of each measurement (client, server and Ceph together)
    cpu: dict[str, list] = {k: [] for k in [*RAW_KEYS, *ours]}
    leftovers: dict = {}
    try:
        with Ceph(folder, keep=run.a.keep_ceph, memstore_bytes=run.a.memstore_bytes) as ceph:
            client = s3_client(ceph.facts)
            client.create_bucket(Bucket=bucket)
            before = [o for o in ceph.pool_objects() if not o.startswith("rbd_")]
            srv = None
            try:
                conf = run.work / "daguerre-bench-stores.conf"
                conf.write_text(config_text(ceph.facts, bucket, run.work / "server-stores-local"))
                srv = run.server("stores", config=conf)
                api = Api(run.base(srv), run.a.token, timeout=timeout)
                hsize = min(size, 256 * MiB)
                buf = memoryview(bytearray((run.block * (hsize // len(run.block) + 1))[:hsize]))
                # Interleaved: each repeat measures every raw limit and then Daguerre, so both see
                # the same machine load (the machine is shared; load drifts over minutes).
                with run.section(f"stores_{lab}", srv):
                    for rep in range(reps):
                        log(f"stores: repeat {rep + 1}/{reps}")
                        w, r_ = rados_bench(ceph, size, cpu)
                        raw["rados_write"].append(w)
                        raw["rados_seq"].append(r_)
                        w, r_ = rbd_bench(ceph, size, cpu)
                        raw["rbd_write"].append(w)
                        raw["rbd_read"].append(r_)
                        w, r_ = rbd_bench(ceph, size, cpu, threads=1)
                        raw["rbd_write_t1"].append(w)
                        raw["rbd_read_t1"].append(r_)
                        w, r_ = s3_curl(ceph, client, bucket, path, timeout, cpu)
                        raw["s3_curl_put"].append(w)
                        raw["s3_curl_get"].append(r_)
                        ceph.gc()
                        w, r_ = s3_raw(ceph, bucket, path, 1, timeout, cpu)
                        raw["s3_raw_upload"] += w
                        raw["s3_raw_download"] += r_
                        ceph.gc()
                        for k, v in store_direct(run, ceph, bucket, size, 2 * timeout).items():
                            if k.startswith("cpu_"):
                                cpu[f"direct_{k[4:]}"] += v
                            else:
                                raw[f"direct_{k}"] += v
                        ceph.gc()
                        with CpuMeter() as m:
                            raw["stores_hash"].append(limits.hash_md5_sha512_parallel(buf))
                        cpu["stores_hash"].append(m.per_gb(len(buf)))
                        for kind, store in [*STORE_IDS.items(), ("local", "local")]:
                            with CpuMeter() as m:
                                iid, mbps = upload_to(api, path, store, timeout)
                            cpu[f"{kind}_upload"].append(m.per_gb(size))
                            try:
                                ours[f"{kind}_upload"].append(mbps)
                                with CpuMeter() as m:
                                    ours[f"{kind}_download"].append(
                                        data_path.download(api, iid, size, timeout)
                                    )
                                cpu[f"{kind}_download"].append(m.per_gb(size))
                            finally:
                                status = api.delete_image(iid)
                                if status not in (200, 204):
                                    raise RuntimeError(f"delete {iid} from {store}: HTTP {status}")
                            if kind == "s3":
                                ceph.gc()
                del buf
                api.close()
            finally:
                if srv:
                    srv.stop()
                (run.work / "daguerre-bench-stores.conf").unlink(missing_ok=True)  # holds the S3 keys
                # nothing of ours may be left: RBD images, bench objects, S3 objects/uploads, the bucket
                leftovers["rbd_images"] = ceph.rbd_images()
                leftovers["pool_objects"] = [
                    o for o in ceph.pool_objects() if not o.startswith("rbd_") and o not in before
                ] + [o for o in ceph.pool_objects() if o.startswith(("rbd_data.", "rbd_header.", "rbd_id."))]
                keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
                uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
                local = run.work / "server-stores-local"
                leftovers["local_files"] = (
                    [str(f) for f in local.rglob("*") if f.is_file()] if local.exists() else []
                )
                leftovers["s3_objects"] = keys
                leftovers["s3_multipart_uploads"] = [u["Key"] for u in uploads]
                for key in keys:
                    client.delete_object(Bucket=bucket, Key=key)
                for u in uploads:
                    client.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
                client.delete_bucket(Bucket=bucket)
                ceph.gc()
                facts = {k: ceph.facts.get(k) for k in ("store", "pool", "bring_up_s")}
    finally:
        if not run.a.keep_work:
            path.unlink(missing_ok=True)
    run.res.setdefault("stores", {}).update(
        ceph=facts,
        ceph_dir=str(folder),
        kept=bool(run.a.keep_ceph),
        size=size,
        leftovers=leftovers,
        settings={"io_size": IO_SIZE, "threads": RAW_THREADS, "s3_part": S3_PART},
        cpu_core_s_per_gb={k: [round(x, 3) for x in v] for k, v in cpu.items() if v},
    )
    if any(leftovers.values()):
        run.note(f"stores: left behind after the run (then removed): {leftovers}")
    else:
        run.note(
            "stores: nothing left behind (RBD images, pool objects, S3 objects and uploads, bucket, local files)"
        )
    sec = f"stores_{lab}"
    run.limit("rados_write", f"rados bench write {lab}, 4 MiB × 4", "MB/s", raw["rados_write"], section=sec)
    run.limit("rados_seq", f"rados bench seq {lab}, 4 MiB × 4", "MB/s", raw["rados_seq"], section=sec)
    run.limit("rbd_write", f"rbd bench write {lab}, 4 MiB × 4 seq", "MB/s", raw["rbd_write"], section=sec)
    run.limit("rbd_read", f"rbd bench read {lab}, 4 MiB × 4 seq", "MB/s", raw["rbd_read"], section=sec)
    run.limit(
        "s3_raw_upload",
        f"boto3 multipart upload {lab} to RGW, 8 MiB × 4",
        "MB/s",
        raw["s3_raw_upload"],
        section=sec,
    )
    run.limit(
        "s3_raw_download",
        f"boto3 download {lab} from RGW, 8 MiB × 4",
        "MB/s",
        raw["s3_raw_download"],
        section=sec,
    )
    # not judged against: where the gaps come from
    run.limit(
        "rbd_write_t1", f"rbd bench write {lab}, 4 MiB × 1 seq", "MB/s", raw["rbd_write_t1"], section=sec
    )
    run.limit("rbd_read_t1", f"rbd bench read {lab}, 4 MiB × 1 seq", "MB/s", raw["rbd_read_t1"], section=sec)
    run.limit("s3_curl_put", f"curl PUT {lab} to RGW, one stream", "MB/s", raw["s3_curl_put"], section=sec)
    run.limit(
        "stores_hash",
        "md5 ‖ sha512 of one stream (the server hashes every upload)",
        "MB/s",
        raw["stores_hash"],
        section=sec,
    )
    run.limit(
        "local_upload",
        f"Daguerre PUT /file {lab}, local file store",
        "MB/s",
        ours["local_upload"],
        section=sec,
    )
    run.limit(
        "local_download",
        f"Daguerre GET /file {lab}, local file store",
        "MB/s",
        ours["local_download"],
        section=sec,
    )
    run.limit("s3_curl_get", f"curl GET {lab} from RGW, one stream", "MB/s", raw["s3_curl_get"], section=sec)
    for kind, what in (("rbd", "RbdStore"), ("s3", "S3Store")):
        for d, call in (("upload", "put"), ("download", "open+read")):
            run.limit(
                f"direct_{kind}_{d}",
                f"{what}.{call} {lab} straight (no HTTP, no hashing)",
                "MB/s",
                raw[f"direct_{kind}_{d}"],
                section=sec,
            )
    for kind in STORE_IDS:
        for d, verb in (("upload", "PUT"), ("download", "GET")):
            run.figure(
                f"{kind}_{d}_{lab}",
                f"{d} {lab} {verb} /file, {kind} store",
                "MB/s",
                ours[f"{kind}_{d}"],
                role=f"{kind}_{d}",
                section=sec,
            )


# -------------------------------------------------------------------- docs/PERFORMANCE.md


def extract_section(path: Path) -> str | None:
    """The `## Ceph stores` section of ``path`` (to the next `## ` heading), or None."""
    if not path.exists():
        return None
    text = path.read_text()
    i = text.find("\n" + SECTION_TITLE + "\n")
    if i < 0:
        return None
    j = text.find("\n## ", i + 1)
    return text[i + 1 : j + 1 if j >= 0 else len(text)].rstrip() + "\n"


def merge_section(path: Path, section: str) -> None:
    """Replace (or append) the `## Ceph stores` section of ``path``; the rest is untouched."""
    text = path.read_text() if path.exists() else "# Performance\n"
    old = extract_section(path)
    if old:
        text = text.replace(old, section.rstrip() + "\n", 1)
    else:
        text = text.rstrip() + "\n\n" + section.rstrip() + "\n"
    path.write_text(text)


def docs_section(res: dict, json_rel: str) -> str:
    import report

    st = res.get("stores")
    if not st:
        return ""
    F, L = res["figures"], res["limits"]
    cks = [
        c
        for c in (res.get("checks") or report.checks(res))
        if c["figure"] in F and F[c["figure"]]["role"] in ROLES
    ]
    lab = data_path.size_label(st["size"])
    lines = [
        SECTION_TITLE,
        "",
        f"Daguerre's RBD and S3 stores beside the same Ceph's own raw speed, one run "
        f"(`{res['command']}`, {res['started_at']}, commit `{res['git']['commit'][:12]}`"
        + (f", server from `{res['git']['server_source']}`" if res["git"].get("server_source") else "")
        + f", JSON `{json_rel}`).",
        "",
        f"- Cluster: `scripts/ceph/up.sh` — 1 mon, 1 OSD ({st['ceph'].get('store')}, data in RAM), radosgw, "
        f"all on 127.0.0.1 on this {res['machine']['nproc']}-CPU machine (client, server and Ceph share "
        f"the CPUs); up in {st['ceph'].get('bring_up_s')} s, "
        + ("kept after the run." if st["kept"] else "torn down after the run."),
        f"- Figures: `curl -T` PUT /file of a {lab} image with `X-Image-Meta-Store: ceph` (rbd) or "
        f"`objects` (s3), then GET /file, {res['settings']['repeats']} repeats, median [min–max]; "
        f"each image deleted at once. Each repeat measures every raw limit and then Daguerre, so "
        f"both see the same load of this shared machine.",
        "- Raw limits, same run: `rados bench` write (`--no-cleanup -b 4194304 -t 4`, bounded to "
        f"{lab} by `--max-objects`) then `seq`; `rbd bench --io-size 4M --io-threads 4 --io-total <size> "
        "--io-pattern seq`, write then read, on a scratch image; boto3 `upload_file`/`download_file` "
        "(multipart, 8 MiB parts, 4 threads) straight to RGW from a separate process. MB = 10⁶ bytes.",
        "",
        report._md_table(report.FIG_HEAD, [report._check_row(c, F, L) for c in cks]),
        "",
        "Raw, same run: the judged limits, RADOS beside them, and (not judged) one-stream ceilings that "
        "show where gaps come from — `rbd bench` with one thread, curl PUT/GET of the whole file on "
        "presigned URLs (no Python in the data path), the md5 ‖ sha512 hashing every upload goes "
        "through in the server, and the same server's PUT/GET /file to its local file store "
        "(`local:file`), measured in the same repeats:",
        "",
        report._md_table(
            report.LIM_HEAD,
            [[L[k]["label"], report.fmt_stats(L[k])] for k in RAW_KEYS if k in L],
        ),
        "",
        "Beside the one-stream ceilings (not judged; what limits one upload or download):",
        "",
        report._md_table(["figure", "value (median)", "ceiling (median)", "ratio"], ceiling_rows(F, L)),
        "",
        "The stores alone (`RbdStore`/`S3Store` driven straight from memory in 1 MiB chunks, in a "
        "separate process with the server's source: no HTTP, no hashing) beside the raw limits:",
        "",
        report._md_table(["store alone", "value (median)", "raw limit (median)", "ratio"], direct_rows(L)),
        "",
        "How to read it: every upload goes through the server's md5 ‖ sha512 (Glance's `checksum` "
        "and `os_hash_value`) and the server's own request path, whose rate the local file store "
        "shows; an upload into a Ceph store cannot beat that whatever Ceph does. The "
        "judged raw limits run 4 I/Os in flight (and `rbd bench` writes into librbd's write-back "
        "cache), while a PUT/GET /file is one stream. The boto3 limits are Python clients too "
        "(a single curl GET from RGW is faster than boto3's threaded download). On this 2-CPU "
        "machine the client, the server and every Ceph daemon share the CPUs, and other work on the "
        "machine shows in the load averages below: the spread between repeats is mostly that. "
        "Where a transfer keeps the CPUs nearly busy (the CPU table below), its rate is the CPU "
        "count over its cost per byte, and its ratio to a raw limit is at most the ratio of their "
        "costs: an upload pays the hashing row's cost on top of what the raw tool pays.",
        "",
        "CPU per byte, same run: the whole machine's core-seconds (user + system, all processes: "
        "client, server and Ceph alike) per 10⁹ bytes moved, median; the CPU-bound ceiling is what "
        f"this {res['machine']['nproc']}-CPU machine could move at that cost with every core busy "
        "(cores ÷ cost), and a rate near it is CPU-bound — faster needs less work per byte, not "
        "more parallelism. The last column is about the share of the CPUs the transfer kept busy; "
        "for the `rados`/`rbd` command-line tools the cost includes their start-up and cluster "
        "connection, which their own timing leaves out, so it can pass 1 there:",
        "",
        report._md_table(
            ["transfer", "MB/s (median)", "core-s per GB", "CPU-bound ceiling", "rate ÷ ceiling"],
            cpu_rows(res),
        ),
        "",
        "Machine load and server memory during the sections:",
        "",
        report._md_table(
            report.SEC_HEAD, [r for r in report.rows(res)["sections"] if r[0].startswith("stores_")]
        ),
        "",
        "Left behind: "
        + (
            "nothing (RBD images, pool objects, S3 objects and multipart uploads, local store files checked; bucket deleted)."
            if not any(st["leftovers"].values())
            else f"{st['leftovers']} (removed after the check)."
        ),  # fmt: skip
        "",
    ]
    return "\n".join(lines)


CEILINGS = {  # figure role -> the one-stream ceilings it is shown beside
    "rbd_upload": ["local_upload", "stores_hash", "rbd_write_t1", "direct_rbd_upload"],
    "rbd_download": ["local_download", "rbd_read_t1", "direct_rbd_download"],
    "s3_upload": ["local_upload", "stores_hash", "s3_curl_put", "direct_s3_upload"],
    "s3_download": ["local_download", "s3_curl_get", "direct_s3_download"],
}
# the store alone (no HTTP, no hashing) beside the raw limit the PUT/GET /file is judged against
DIRECT = {
    "direct_rbd_upload": "rbd_write",
    "direct_rbd_download": "rbd_read",
    "direct_s3_upload": "s3_raw_upload",
    "direct_s3_download": "s3_raw_download",
}


def ceiling_rows(F: dict, L: dict) -> list[list[str]]:
    import report

    out = []
    for f in F.values():
        for k in CEILINGS.get(f.get("role"), []):
            v, c = report._med(f), report._med(L.get(k))
            if v is not None and c:
                out.append(
                    [f["label"], f"{report.fmt(v)} MB/s", f"{L[k]['label']}: {report.fmt(c)}", f"{v / c:.2f}"]
                )
    return out


def cpu_rows(res: dict) -> list[list[str]]:
    """Each measurement's MB/s beside its machine-wide CPU cost and the rate that cost allows."""
    import statistics

    import report

    st, F, L = res["stores"], res["figures"], res["limits"]
    costs = st.get("cpu_core_s_per_gb") or {}
    lab = data_path.size_label(st["size"])
    nproc = res["machine"]["nproc"]
    out = []
    ours = [f"{s}_{d}" for s in STORE_IDS for d in ("upload", "download")]
    for k in [*ours, *RAW_KEYS]:
        src = F.get(f"{k}_{lab}") if k in ours else L.get(k)
        rate, cost = report._med(src), costs.get(k)
        if rate is None or not cost:
            continue
        c = statistics.median(cost)
        ceiling = nproc / c * 1e3
        out.append(
            [
                src["label"],
                report.fmt(rate),
                f"{c:.2f}",
                f"{report.fmt(ceiling)} MB/s",
                f"{rate / ceiling:.2f}",
            ]
        )
    return out


def direct_rows(L: dict) -> list[list[str]]:
    import report

    out = []
    for k, raw in DIRECT.items():
        v, c = report._med(L.get(k)), report._med(L.get(raw))
        if v is not None and c:
            out.append(
                [
                    L[k]["label"],
                    f"{report.fmt(v)} MB/s",
                    f"{L[raw]['label']}: {report.fmt(c)}",
                    f"{v / c:.2f}",
                ]
            )
    return out


ROLES = {"rbd_upload", "rbd_download", "s3_upload", "s3_download"}
RAW_KEYS = [
    "rados_write",
    "rados_seq",
    "rbd_write",
    "rbd_read",
    "s3_raw_upload",
    "s3_raw_download",
    "rbd_write_t1",
    "rbd_read_t1",
    "s3_curl_put",
    "s3_curl_get",
    "stores_hash",
    "local_upload",
    "local_download",
    "direct_rbd_upload",
    "direct_rbd_download",
    "direct_s3_upload",
    "direct_s3_download",
]


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "s3raw":
        sys.exit(s3raw_main(*sys.argv[2:]))
    if len(sys.argv) == 6 and sys.argv[1] == "direct":
        sys.exit(direct_main(*sys.argv[2:]))
    sys.exit(__doc__)
