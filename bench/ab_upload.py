"""Upload A/B between two server builds on one machine, interleaved so that drift hits both alike.

    .venv/bin/python bench/ab_upload.py --a CMD_A --b CMD_B [--rounds 2] [--size-mib 1024]

CMD_A and CMD_B are executables that take ``daguerre``'s arguments (``serve --host … --port …
--data-dir …``), e.g. a two-line script running ``python -m daguerre.cli`` with ``PYTHONPATH`` set to
another checkout's ``src``. Each round starts each server once and times three PUTs of the same
file with ``curl -T`` (streamed from disk), and reads the server's own CPU time from /proc: it
prints MB/s and server core-seconds per GB for every PUT. Nothing is asserted; it reports.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_server(cmd: str, image: Path, puts: int, work: Path) -> list[tuple[float, float]]:
    port, data = free_port(), work / f"data-{os.getpid()}-{time.monotonic_ns()}"
    proc = subprocess.Popen([cmd, "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(400):
            try:
                urllib.request.urlopen(base + "/versions").close()
                break
            except OSError:
                time.sleep(0.05)
        gb = image.stat().st_size / 1e9
        out = []
        for _ in range(puts):
            body = json.dumps({"disk_format": "raw", "container_format": "bare"}).encode()
            req = urllib.request.Request(base + "/v2/images", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})  # fmt: skip
            with urllib.request.urlopen(req) as r:
                image_id = json.load(r)["id"]
            c0, t0 = server_cpu(proc.pid), time.perf_counter()
            subprocess.run(["curl", "-sf", "-o", "/dev/null", "-H", "Content-Type: application/octet-stream",
                            "-T", str(image), f"{base}/v2/images/{image_id}/file"], check=True)  # fmt: skip
            seconds, cpu = time.perf_counter() - t0, server_cpu(proc.pid) - c0
            out.append((gb * 1000 / seconds, cpu / gb))
            urllib.request.urlopen(
                urllib.request.Request(f"{base}/v2/images/{image_id}", method="DELETE")
            ).close()
        return out
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", required=True, help="server executable A")
    p.add_argument("--b", required=True, help="server executable B")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--puts", type=int, default=3, help="PUTs per server start")
    p.add_argument("--size-mib", type=int, default=1024)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="ab-upload-") as tmp:
        work = Path(tmp)
        image = work / "image.raw"
        with image.open("wb") as f:
            for _ in range(a.size_mib):
                f.write(os.urandom(1 << 20))
        for _ in range(a.rounds):
            for name, cmd in (("A", a.a), ("B", a.b)):
                runs = one_server(cmd, image, a.puts, work)
                print(name, "  ".join(f"{mbs:.0f} MB/s {cps:.2f} core-s/GB" for mbs, cps in runs), flush=True)


if __name__ == "__main__":
    main()
