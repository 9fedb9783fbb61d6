"""The machine's own limits, measured in the same run as the service figures.

Each function returns one number (MB/s = 10^6 bytes/s, or requests/s, or seconds) for one
repeat; run.py repeats them and keeps median/min/max.

Run alone: python bench/limits.py [--size-mib 256]
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import MiB, log

CHUNK = 1 * MiB


def _hash_all(algo: str, buf: memoryview, chunk: int = CHUNK) -> None:
    h = hashlib.new(algo)
    for off in range(0, len(buf), chunk):
        h.update(buf[off : off + chunk])
    h.digest()


def hash_single(algo: str, buf: memoryview) -> float:
    """One thread hashing ``buf`` in 1 MiB pieces."""
    t0 = time.perf_counter()
    _hash_all(algo, buf)
    return len(buf) / (time.perf_counter() - t0) / 1e6


def _threads(targets: list) -> float:
    ts = [threading.Thread(target=fn, args=args) for fn, args in targets]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.perf_counter() - t0


def hash_md5_sha512_parallel(buf: memoryview) -> float:
    """md5 and sha512 of the same stream on two threads at once (hashlib drops the GIL):
    the rate at which one upload can be hashed, = min of the two if two cores are free."""
    dt = _threads([(_hash_all, ("md5", buf)), (_hash_all, ("sha512", buf))])
    return len(buf) / dt / 1e6


def _both(buf: memoryview) -> None:
    m, s = hashlib.md5(), hashlib.sha512()
    for off in range(0, len(buf), CHUNK):
        piece = buf[off : off + CHUNK]
        m.update(piece)
        s.update(piece)


def hash_two_core(buf: memoryview, threads: int | None = None) -> float:
    """Aggregate bytes/s when every core hashes its own stream with md5 and sha512:
    the ceiling for many concurrent uploads."""
    n = threads or os.cpu_count() or 2
    dt = _threads([(_both, (buf,)) for _ in range(n)])
    return n * len(buf) / dt / 1e6


def disk_write(path: Path, size: int, block: bytes) -> float:
    """Sequential write in 1 MiB pieces, fdatasync at the end, timed to the end of the sync."""
    with open(path, "wb", buffering=0) as f:
        t0 = time.perf_counter()
        left = size
        mv = memoryview(block)
        while left > 0:
            n = min(left, CHUNK)
            off = (size - left) % (len(block) - CHUNK + 1)
            f.write(mv[off : off + n])
            left -= n
        os.fdatasync(f.fileno())
        dt = time.perf_counter() - t0
    return size / dt / 1e6


def page_cache_read(path: Path) -> float:
    """Read a file that is in the page cache (warmed first) in 1 MiB pieces."""
    buf = bytearray(CHUNK)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):  # warm
            pass
        f.seek(0)
        total = 0
        t0 = time.perf_counter()
        while n := f.readinto(buf):
            total += n
        dt = time.perf_counter() - t0
    return total / dt / 1e6


_RECEIVER = r"""
import socket, sys
port, size = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
buf = bytearray(1 << 20)
got = 0
while got < size:
    n = s.recv_into(buf)
    if not n:
        break
    got += n
s.sendall(b"k")
s.close()
"""


def sendfile_loopback(path: Path, timeout: float = 300.0) -> float:
    """os.sendfile of a cached file over a loopback TCP connection to a receiver in another
    process that reads into a 1 MiB buffer and discards: the ceiling for GET /file."""
    size = path.stat().st_size
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.settimeout(30)
    port = lsock.getsockname()[1]
    recv = subprocess.Popen([sys.executable, "-c", _RECEIVER, str(port), str(size)])
    try:
        conn, _ = lsock.accept()
        conn.setblocking(True)
        watchdog = threading.Timer(timeout, recv.kill)  # bounds the blocking sendfile below
        watchdog.start()
        with open(path, "rb") as f:
            t0 = time.perf_counter()
            sent = 0
            while sent < size:
                n = os.sendfile(conn.fileno(), f.fileno(), sent, size - sent)
                if n == 0:
                    break
                sent += n
            ack = conn.recv(1)
            dt = time.perf_counter() - t0
        watchdog.cancel()
        conn.close()
        if ack != b"k":
            raise RuntimeError("sendfile receiver did not confirm")
        return size / dt / 1e6
    finally:
        lsock.close()
        try:
            recv.wait(timeout=30)
        except subprocess.TimeoutExpired:
            recv.kill()
            recv.wait()


def make_qcow2(raw: Path, qcow2: Path) -> Path:
    if not qcow2.exists():
        tmp = qcow2.with_suffix(".part")
        subprocess.run(
            ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(tmp)], check=True, timeout=900
        )
        tmp.rename(qcow2)
    return qcow2


def qemu_img_convert(qcow2: Path, out: Path, timeout: float = 900.0) -> float:
    """Seconds for ``qemu-img convert -f qcow2 -O raw`` of the test qcow2 with qemu-img's
    defaults (for convert the destination cache mode is ``unsafe``: no flush at the end)."""
    out.unlink(missing_ok=True)
    t0 = time.perf_counter()
    subprocess.run(
        ["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(qcow2), str(out)], check=True, timeout=timeout
    )
    dt = time.perf_counter() - t0
    out.unlink(missing_ok=True)
    return dt


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size-mib", type=int, default=256)
    p.add_argument("--dir", default=str(Path(__file__).resolve().parent / ".work"))
    a = p.parse_args()
    d = Path(a.dir)
    d.mkdir(parents=True, exist_ok=True)
    size = a.size_mib * MiB
    block = os.urandom(16 * MiB)
    buf = memoryview(bytearray(block * (size // len(block) or 1))[:size])
    print(f"md5            {hash_single('md5', buf):9.0f} MB/s")
    print(f"sha512         {hash_single('sha512', buf):9.0f} MB/s")
    print(f"md5||sha512    {hash_md5_sha512_parallel(buf):9.0f} MB/s")
    print(f"2-core hashing {hash_two_core(buf):9.0f} MB/s")
    f = d / "limits-disk.bin"
    print(f"disk write     {disk_write(f, size, block):9.0f} MB/s")
    print(f"page-cache read{page_cache_read(f):9.0f} MB/s")
    print(f"sendfile lo    {sendfile_loopback(f):9.0f} MB/s")
    f.unlink()
    log("done")


if __name__ == "__main__":
    main()
