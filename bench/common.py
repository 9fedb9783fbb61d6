"""Shared helpers for the benchmark suite: machine facts, load, RSS sampling, servers, stats.

Everything here talks only to loopback addresses. Every loop is bounded in count and time.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
MiB = 1024 * 1024
GiB = 1024 * MiB


def log(*args) -> None:
    print("[bench]", *args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- machine


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def loadavg() -> list[float]:
    parts = _read("/proc/loadavg").split()
    return [float(p) for p in parts[:3]] if parts else []


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies over all CPUs, for a utilisation figure between two reads."""
    line = _read("/proc/stat").splitlines()[0].split()
    vals = [float(v) for v in line[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0.0)
    return sum(vals) - idle, sum(vals)


def cpu_work() -> float:
    """Core-seconds of work over all CPUs since boot: user + nice + system + irq + softirq (what
    this machine's processes, client, server and Ceph alike, cost). Steal, time the hypervisor
    gave to other guests, is left out: it is not ours."""
    vals = [float(v) for v in _read("/proc/stat").splitlines()[0].split()[1:]]
    vals += [0.0] * (7 - len(vals))
    user, nice, system, _idle, _iowait, irq, softirq = vals[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Machine-wide CPU spent while a block runs: ``core_s`` (core-seconds of work), ``wall_s``;
    ``per_gb(n)`` is core-seconds per 10^9 bytes moved. A transfer that keeps every CPU busy is
    CPU-bound: its rate is then the CPU count divided by its cost per byte."""

    def __enter__(self) -> CpuMeter:
        self._t0 = time.perf_counter()
        self._w0 = cpu_work()
        return self

    def __exit__(self, *exc) -> None:
        self.core_s = cpu_work() - self._w0
        self.wall_s = time.perf_counter() - self._t0

    def per_gb(self, nbytes: int) -> float:
        return self.core_s / (nbytes / 1e9)


def _disk_for(path: Path) -> dict:
    info: dict = {"path": str(path)}
    try:
        out = subprocess.run(
            ["df", "-hT", str(path)], capture_output=True, text=True, timeout=10, check=False
        ).stdout.splitlines()
        if len(out) >= 2:
            f = out[1].split()
            info.update(device=f[0], fstype=f[1], size=f[2], avail=f[4])
            dev = os.path.basename(f[0])
            base = dev.rstrip("0123456789") if not dev.startswith("nvme") else dev.split("p")[0]
            for name in (dev, base):
                rot = _read(f"/sys/block/{name}/queue/rotational").strip()
                if rot:
                    info["rotational"] = rot == "1"
                    model = _read(f"/sys/block/{name}/device/model").strip()
                    if model:
                        info["model"] = model
                    break
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def machine_info(work_dir: Path) -> dict:
    cpu_model = ""
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    flags = ""
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("flags"):
            flags = line
            break
    mem_kib = 0
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return {
        "hostname": socket.gethostname(),
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "cpu_sha_ni": " sha_ni" in flags,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "disk": _disk_for(work_dir),
    }


def git_info() -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "commit": git("rev-parse", "HEAD"),
        "subject": git("log", "-1", "--format=%s"),
        "dirty": bool(git("status", "--porcelain", "--", "src")),
    }


# ---------------------------------------------------------------- stats


def summarize(values: list[float]) -> dict:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"median": None, "min": None, "max": None, "n": 0, "values": []}
    return {
        "median": statistics.median(vals),
        "min": min(vals),
        "max": max(vals),
        "n": len(vals),
        "values": vals,
    }


def percentile(sorted_vals: list[float], p: float) -> float | None:
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


# ---------------------------------------------------------------- processes and memory


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        stat = _read(f"/proc/{entry.name}/stat")
        if not stat:
            continue
        try:
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def process_tree(pid: int) -> list[int]:
    kids = _children_map()
    out, todo = [], [pid]
    while todo and len(out) < 1000:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def _status_kib(pid: int, key: str) -> int:
    for line in _read(f"/proc/{pid}/status").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def tree_rss_kib(pid: int) -> int:
    return sum(_status_kib(p, "VmRSS") for p in process_tree(pid))


def tree_hwm_kib(pid: int) -> int:
    return sum(_status_kib(p, "VmHWM") for p in process_tree(pid))


class RSSSampler:
    """Samples the summed VmRSS of a process tree at ~10 Hz; ``peak_mib`` per section."""

    def __init__(self, pid: int | None, interval: float = 0.1):
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tree: list[int] = []
        self._tree_at = 0.0

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            if now - self._tree_at > 1.0:  # the tree changes rarely: rescan once a second
                self._tree = process_tree(self.pid)
                self._tree_at = now
            rss = sum(_status_kib(p, "VmRSS") for p in self._tree)
            self.peak_kib = max(self.peak_kib, rss)
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RSSSampler:
        if self.pid:
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)

    @property
    def peak_mib(self) -> float | None:
        return round(self.peak_kib / 1024, 1) if self.pid and self.samples else None


@dataclass
class Section:
    """Machine load and server memory around one section of the run."""

    name: str
    pid: int | None = None
    data: dict = field(default_factory=dict)

    def __enter__(self) -> Section:
        log(f"section {self.name}: start")
        self._t0 = time.time()
        self._cpu0 = cpu_times()
        self.data["loadavg_before"] = loadavg()
        self.data["started_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._t0))
        self._sampler = RSSSampler(self.pid).__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._sampler.__exit__(*exc)
        busy0, tot0 = self._cpu0
        busy1, tot1 = cpu_times()
        self.data["loadavg_after"] = loadavg()
        self.data["seconds"] = round(time.time() - self._t0, 2)
        self.data["cpu_busy_pct"] = round(100.0 * (busy1 - busy0) / max(1.0, tot1 - tot0), 1)
        self.data["server_peak_rss_mib"] = self._sampler.peak_mib
        if self.pid:
            self.data["server_vmhwm_mib"] = round(tree_hwm_kib(self.pid) / 1024, 1)
        log(f"section {self.name}: done in {self.data['seconds']} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_loopback(url: str) -> None:
    """Refuses any target that is not on this machine: load tests only go to loopback."""
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        addrs = {ai[4][0] for ai in socket.getaddrinfo(host, None)}
    except socket.gaierror as e:
        raise SystemExit(f"cannot resolve {host!r}: {e}") from e
    bad = [a for a in addrs if not (a.startswith("127.") or a == "::1")]
    if bad:
        raise SystemExit(f"refusing non-loopback target {url} ({', '.join(sorted(bad))})")


# ---------------------------------------------------------------- tiny HTTP helper


class Api:
    """Minimal blocking JSON client over one keep-alive connection (loopback only)."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 60.0):
        assert_loopback(base_url)
        u = urllib.parse.urlsplit(base_url)
        self.base_url = base_url.rstrip("/")
        self.host, self.port = u.hostname, u.port or 80
        self.prefix = u.path.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def headers(self, extra: dict | None = None) -> dict:
        h = {"Accept": "application/json"}
        if self.token:
            h["X-Auth-Token"] = self.token
        if extra:
            h.update(extra)
        return h

    def request(self, method: str, path: str, body=None, headers: dict | None = None):
        data = None
        hdrs = self.headers(headers)
        if body is not None and not isinstance(body, bytes | bytearray):
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif body is not None:
            data = body
        for attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request(method, self.prefix + path, body=data, headers=hdrs)
                resp = self._conn.getresponse()
                raw = resp.read()
                break
            except (ConnectionError, http.client.HTTPException, OSError):
                self.close()
                if attempt:
                    raise
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw
        return resp.status, parsed, dict(resp.getheaders())

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def create_image(self, **props) -> str:
        body = {"disk_format": "raw", "container_format": "bare", **props}
        status, data, _ = self.request("POST", "/v2/images", body)
        if status != 201:
            raise RuntimeError(f"create image: {status} {data!r}")
        return data["id"]

    def delete_image(self, image_id: str) -> int:
        return self.request("DELETE", f"/v2/images/{image_id}")[0]

    def show(self, image_id: str) -> dict:
        status, data, _ = self.request("GET", f"/v2/images/{image_id}")
        if status != 200:
            raise RuntimeError(f"show image: {status} {data!r}")
        return data


# ---------------------------------------------------------------- servers


class ServerProcess:
    """A server started by the bench (Daguerre, the stand-in, or the null app).

    ``startup_s`` is the time from spawning the process to the first answered request.
    """

    def __init__(
        self,
        argv: list[str],
        port: int,
        log_path: Path,
        env: dict | None = None,
        probe: str = "/v2/images?limit=1",
    ):
        self.argv = argv
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.env = env
        self.probe = probe
        self.proc: subprocess.Popen | None = None
        self.startup_s: float | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, timeout: float = 60.0) -> ServerProcess:
        env = dict(os.environ)
        env.update(self.env or {})
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - held for the server's life, closed in stop()
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            self.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
            start_new_session=True,
        )
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}: see {self.log_path}\n" + self.log_tail()
                )
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", self.probe)
                status = conn.getresponse().status
                conn.close()
                if status < 500:
                    self.startup_s = time.monotonic() - t0
                    return self
            except OSError:
                pass
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"server did not answer within {timeout} s: see {self.log_path}")

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        self._log.close()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def python() -> str:
    return sys.executable


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_data_file(path: Path, size: int, block: bytes | None = None) -> Path:
    """A file of incompressible bytes (a random 16 MiB block repeated), made once and reused."""
    if path.exists() and path.stat().st_size == size:
        return path
    block = block or os.urandom(16 * MiB)
    tmp = path.with_suffix(path.suffix + ".part")
    with open(tmp, "wb") as f:
        left = size
        while left > 0:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n
    tmp.rename(path)
    return path
