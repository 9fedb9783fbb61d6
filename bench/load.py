"""The load generator, always in processes separate from the server.

Engine ``wrk`` (Debian's wrk, C, with bench/lua/catalog.lua) is preferred: it sustains far more
than 1,000 requests/s on one core. Engine ``py`` is a fallback for machines without wrk: a few
processes each running raw HTTP/1.1 keep-alive connections on asyncio (no client library in the
hot path). Both run a closed loop of ``connections`` clients for ``duration`` seconds and report
requests/s, error counts and latency percentiles.

Modes: show, list, list_filtered, list_property, patch, create, delete, null.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import random
import shutil
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH_DIR, assert_loopback, log, percentile

LUA = BENCH_DIR / "lua" / "catalog.lua"
PATCH_CT = "application/openstack-images-v2.1-json-patch"


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run(
    base_url: str,
    mode: str,
    duration: float,
    connections: int,
    threads: int = 1,
    ids_file: Path | None = None,
    token: str | None = None,
    name: str = "wrkcreate",
    engine: str = "auto",
) -> dict:
    assert_loopback(base_url)
    if engine == "auto":
        engine = "wrk" if have_wrk() else "py"
    if engine == "wrk":
        res = _run_wrk(base_url, mode, duration, connections, threads, ids_file, token, name)
    else:
        res = _run_py(base_url, mode, duration, connections, max(1, threads), ids_file, token, name)
    res.update(engine=engine, mode=mode, connections=connections, threads=threads, duration_s=duration)
    return res


def _finish(raw: dict) -> dict:
    dur = raw["duration_us"] / 1e6
    errs = raw["errors"]
    lat = raw["latency_us"]
    return {
        "requests": raw["requests"],
        "rps": raw["requests"] / dur if dur else None,
        "errors": sum(errs.values()),
        "errors_detail": errs,
        "p50_ms": lat["p50"] / 1000,
        "p90_ms": lat["p90"] / 1000,
        "p99_ms": lat["p99"] / 1000,
        "max_ms": lat["max"] / 1000,
        "mean_ms": lat["mean"] / 1000,
        # a delete run whose id pool ran out stopped early: its rate is a lower bound
        "exhausted_threads": raw.get("exhausted_threads", 0),
    }


def _run_wrk(base_url, mode, duration, connections, threads, ids_file, token, name) -> dict:
    u = urllib.parse.urlsplit(base_url)
    origin = f"{u.scheme}://{u.netloc}/"
    prefix = u.path.rstrip("/") or "-"
    threads = max(1, min(threads, connections))
    argv = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        origin,
        "--",
        mode,
        str(ids_file) if ids_file else "-",
        token or "-",
        prefix,
        str(threads),
        name,
    ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("BENCHJSON "):
            return _finish(json.loads(line[len("BENCHJSON ") :]))
    raise RuntimeError(f"wrk gave no result (rc={out.returncode}): {out.stdout[-800:]} {out.stderr[-800:]}")


# ---------------------------------------------------------------- python fallback engine


class _Conn:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.r = self.w = None

    async def request(self, raw: bytes) -> int:
        if self.w is None:
            self.r, self.w = await asyncio.open_connection(self.host, self.port)
        self.w.write(raw)
        head = await self.r.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        if "content-length" in hdrs:
            await self.r.readexactly(int(hdrs["content-length"]))
        elif hdrs.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await self.r.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.r.readexactly(size + 2)
                if size == 0:
                    break
        if hdrs.get("connection", "").lower() == "close":
            self.w.close()
            self.r = self.w = None
        return status


def _build(
    mode: str, host: str, prefix: str, token: str, ids: list[str], name: str, state: dict
) -> bytes | None:
    state["n"] += 1
    body = b""
    ctype = None
    if mode == "show":
        method, path = "GET", f"/v2/images/{random.choice(ids)}"
    elif mode == "list":
        method, path = "GET", "/v2/images?limit=25"
    elif mode == "list_filtered":
        method, path = (
            "GET",
            (
                "/v2/images?limit=25&status=queued&disk_format=qcow2"
                "&container_format=bare&sort_key=name&sort_dir=asc"
            ),
        )
    elif mode == "list_property":
        method, path = "GET", "/v2/images?limit=25&bench_group=g3"
    elif mode == "patch":
        method, path, ctype = "PATCH", f"/v2/images/{random.choice(ids)}", PATCH_CT
        body = json.dumps([{"op": "replace", "path": "/name", "value": f"patched-{state['n']}"}]).encode()
    elif mode == "create":
        method, path, ctype = "POST", "/v2/images", "application/json"
        body = json.dumps(
            {"name": name, "disk_format": "raw", "container_format": "bare", "bench_group": "created"}
        ).encode()
    elif mode == "delete":
        if not ids:
            state["exhausted"] = 1
            return None
        method, path = "DELETE", f"/v2/images/{ids.pop()}"
    else:
        method, path = "GET", "/"
    h = [f"{method} {prefix}{path} HTTP/1.1", f"Host: {host}", "Accept: application/json"]
    if token:
        h.append(f"X-Auth-Token: {token}")
    if ctype:
        h.append(f"Content-Type: {ctype}")
    if body or method in ("POST", "PATCH", "PUT"):
        h.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(h) + "\r\n\r\n").encode() + body


async def _client(
    conn: _Conn, args: dict, ids: list[str], deadline: float, lat: list, res: dict, state: dict
):
    u = args["u"]
    while time.monotonic() < deadline and len(lat) < 5_000_000:
        raw = _build(args["mode"], u.netloc, args["prefix"], args["token"], ids, args["name"], state)
        if raw is None:
            return
        t0 = time.perf_counter()
        try:
            status = await asyncio.wait_for(conn.request(raw), timeout=10)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            res["read"] += 1
            conn.w = conn.r = None
            continue
        lat.append(time.perf_counter() - t0)
        if status > 399:
            res["status"] += 1


def _py_worker(args: dict, ids: list[str], q) -> None:
    async def main():
        u = args["u"]
        conns = [_Conn(u.hostname, u.port or 80) for _ in range(args["conns"])]
        lat: list[float] = []
        res = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
        state = {"n": 0, "exhausted": 0}
        t0 = time.monotonic()
        deadline = t0 + args["duration"]
        await asyncio.gather(*(_client(c, args, ids, deadline, lat, res, state) for c in conns))
        for c in conns:
            if c.w:
                c.w.close()
        q.put({"lat": lat, "errors": res, "elapsed": time.monotonic() - t0, "exhausted": state["exhausted"]})

    asyncio.run(main())


def _run_py(base_url, mode, duration, connections, procs, ids_file, token, name) -> dict:
    u = urllib.parse.urlsplit(base_url)
    ids = Path(ids_file).read_text().split() if ids_file else []
    ids = [i for i in ids if i]
    args = {
        "u": u,
        "mode": mode,
        "prefix": u.path.rstrip("/"),
        "token": token or "",
        "name": name,
        "duration": duration,
    }
    procs = max(1, min(procs, connections))
    q = mp.get_context("spawn").Queue()
    ps = []
    for k in range(procs):
        a = dict(args, conns=connections // procs + (1 if k < connections % procs else 0))
        mine = ids[k::procs] if mode == "delete" else ids
        p = mp.get_context("spawn").Process(target=_py_worker, args=(a, mine, q))
        p.start()
        ps.append(p)
    results = [q.get(timeout=duration + 60) for _ in ps]
    for p in ps:
        p.join(timeout=10)
    lat = sorted(x for r in results for x in r["lat"])
    errs = {k: sum(r["errors"][k] for r in results) for k in results[0]["errors"]}
    elapsed = max(r["elapsed"] for r in results)
    us = lambda v: (v or 0) * 1e6  # noqa: E731
    return _finish(
        {
            "requests": len(lat),
            "duration_us": elapsed * 1e6,
            "errors": errs,
            "latency_us": {
                "p50": us(percentile(lat, 50)),
                "p90": us(percentile(lat, 90)),
                "p99": us(percentile(lat, 99)),
                "max": us(lat[-1] if lat else 0),
                "mean": us(sum(lat) / len(lat) if lat else 0),
            },
            "exhausted_threads": sum(r["exhausted"] for r in results),
        }
    )


# ---------------------------------------------------------------- concurrent creates (seeding)


async def _seed_worker_async(
    base_url: str, token: str, start: int, count: int, conc: int, make_body
) -> tuple[list[str], int]:
    u = urllib.parse.urlsplit(base_url)
    prefix = u.path.rstrip("/")
    ids: list[str] = []
    errors = 0
    nxt = iter(range(start, start + count))

    async def client():
        nonlocal errors
        r = w = None
        for i in nxt:
            body = json.dumps(make_body(i)).encode()
            raw = (
                f"POST {prefix}/v2/images HTTP/1.1\r\nHost: {u.netloc}\r\n"
                f"Content-Type: application/json\r\nAccept: application/json\r\n"
                + (f"X-Auth-Token: {token}\r\n" if token else "")
                + f"Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            for _attempt in range(3):
                try:
                    if w is None:
                        r, w = await asyncio.open_connection(u.hostname, u.port or 80)
                    w.write(raw)
                    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 30)
                    status = int(head.split(b" ", 2)[1])
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":", 1)[1])
                    data = await r.readexactly(length)
                    if status == 201:
                        ids.append(json.loads(data)["id"])
                        break
                    errors += 1
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                    errors += 1
                    w = r = None
        if w:
            w.close()

    await asyncio.gather(*(client() for _ in range(conc)))
    return ids, errors


def _seed_worker(base_url, token, start, count, conc, q):
    from catalog import seed_body

    q.put(asyncio.run(_seed_worker_async(base_url, token, start, count, conc, seed_body)))


def concurrent_creates(
    base_url: str,
    token: str | None,
    start: int,
    count: int,
    procs: int = 2,
    conc: int = 16,
    timeout: float = 3600,
) -> tuple[list[str], int]:
    """Creates ``count`` images through the API from ``procs`` processes; returns (ids, errors)."""
    assert_loopback(base_url)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    per = [count // procs + (1 if k < count % procs else 0) for k in range(procs)]
    ps, off = [], start
    for n in per:
        p = ctx.Process(target=_seed_worker, args=(base_url, token or "", off, n, conc, q))
        p.start()
        ps.append(p)
        off += n
    ids, errors = [], 0
    for _ in ps:
        got, err = q.get(timeout=timeout)
        ids += got
        errors += err
    for p in ps:
        p.join(timeout=10)
    return ids, errors


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("url")
    p.add_argument("mode")
    p.add_argument("--duration", type=float, default=3)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ids")
    p.add_argument("--engine", default="auto")
    a = p.parse_args()
    log(
        json.dumps(
            run(
                a.url,
                a.mode,
                a.duration,
                a.connections,
                a.threads,
                Path(a.ids) if a.ids else None,
                engine=a.engine,
                token=os.environ.get("OS_TOKEN"),
            )
        )
    )
