"""Import of a qcow2 by web-download with conversion to raw, beside the sum of its steps by hand.

The qcow2 is served from the work dir by a plain ``python -m http.server`` on loopback (its own
process). The steps by hand, each timed alone and summed: fetch the same URL with curl to a
file; ``qemu-img convert -f qcow2 -O raw``; PUT the raw result to a new image with curl.
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import time
from pathlib import Path

from common import Api, free_port, log
from data_path import _parse, upload_argv


class FileServer:
    def __init__(self, directory: Path, port: int | None = None):
        self.directory = directory
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> FileServer:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                "--directory",
                str(self.directory),
                str(self.port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("HEAD", "/")
                c.getresponse()
                c.close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("file server did not start")

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def __exit__(self, *exc) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class NotAvailable(RuntimeError):
    """The endpoint does not offer web-download import (yet)."""


def import_once(api: Api, uri: str, raw_size: int, timeout: float) -> dict:
    iid = api.create_image(name="bench-import", disk_format="qcow2")
    t0 = time.perf_counter()
    status, body, _ = api.request(
        "POST", f"/v2/images/{iid}/import", {"method": {"name": "web-download", "uri": uri}}
    )
    if status != 202:
        api.delete_image(iid)
        if status in (404, 405, 501):
            raise NotAvailable(f"POST /import answered {status}: web-download import not available")
        raise RuntimeError(f"import: HTTP {status} {body!r}")
    img: dict = {}
    seen_importing = False
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        img = api.show(iid)
        if img.get("status") == "active":
            break
        seen_importing = seen_importing or img.get("status") == "importing"
        if img.get("os_glance_failed_import") or (seen_importing and img.get("status") == "queued"):
            api.delete_image(iid)
            raise RuntimeError(f"import failed: {img.get('status')} {img.get('os_glance_failed_import')!r}")
        time.sleep(0.05)
    dt = time.perf_counter() - t0
    api.delete_image(iid)
    if img.get("status") != "active":
        raise RuntimeError(f"import not active after {timeout} s: {img.get('status')}")
    converted = img.get("disk_format") == "raw" and img.get("size") == raw_size
    if not converted:
        log(f"import: image ended {img.get('disk_format')} size {img.get('size')} (expected raw {raw_size})")
    return {
        "seconds": dt,
        "converted_to_raw": converted,
        "disk_format": img.get("disk_format"),
        "size": img.get("size"),
    }


def steps_by_hand(api: Api, uri: str, work: Path, timeout: float) -> dict:
    fetched = work / "import-fetched.qcow2"
    raw = work / "import-converted.raw"
    r = subprocess.run(
        [
            "curl",
            "-sS",
            "--noproxy",
            "*",
            "-o",
            str(fetched),
            "-w",
            "%{http_code} %{time_total} %{size_upload} %{size_download}",
            uri,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    code, fetch_s, _, _ = _parse(r.stdout)
    if code != 200:
        raise RuntimeError(f"fetch by hand: HTTP {code}")
    t0 = time.perf_counter()
    subprocess.run(
        ["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(fetched), str(raw)],
        check=True,
        timeout=timeout,
    )
    convert_s = time.perf_counter() - t0
    iid = api.create_image(name="bench-import-by-hand")
    r = subprocess.run(
        upload_argv(api.base_url, api.token, iid, raw),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    code, upload_s, _, _ = _parse(r.stdout)
    api.delete_image(iid)
    fetched.unlink(missing_ok=True)
    raw.unlink(missing_ok=True)
    if code != 204:
        raise RuntimeError(f"upload by hand: HTTP {code}")
    return {
        "fetch_s": fetch_s,
        "convert_s": convert_s,
        "upload_s": upload_s,
        "sum_s": fetch_s + convert_s + upload_s,
    }
