"""Image data path: PUT /file and GET /file of large images, and many concurrent uploads.

The client is curl in its own process (streams the file from the page cache, discards what it
downloads), so the client costs little CPU and is never the Python process of the harness.
Times are curl's own time_total; concurrent uploads are timed from the first spawn to the last
exit.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from common import Api, MiB, log


def _curl_base(token: str | None) -> list[str]:
    argv = [
        "curl",
        "-sS",
        "--noproxy",
        "*",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{time_total} %{size_upload} %{size_download}",
    ]
    if token:
        argv += ["-H", f"X-Auth-Token: {token}"]
    return argv


def upload_argv(base_url: str, token: str | None, image_id: str, path: Path) -> list[str]:
    return _curl_base(token) + [
        "-H",
        "Content-Type: application/octet-stream",
        "-H",
        "Expect:",
        "-T",
        str(path),
        f"{base_url}/v2/images/{image_id}/file",
    ]


def download_argv(base_url: str, token: str | None, image_id: str) -> list[str]:
    return _curl_base(token) + [f"{base_url}/v2/images/{image_id}/file"]


def _parse(out: str) -> tuple[int, float, int, int]:
    code, total, up, down = out.split()
    return int(code), float(total), int(float(up)), int(float(down))


def upload(api: Api, path: Path, timeout: float) -> tuple[str, float]:
    """One upload; returns (image id, MB/s)."""
    size = path.stat().st_size
    iid = api.create_image(name=f"bench-upload-{size}")
    r = subprocess.run(
        upload_argv(api.base_url, api.token, iid, path),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    code, total, sent, _ = _parse(r.stdout)
    if code != 204 or sent != size:
        raise RuntimeError(f"upload {size} B: HTTP {code}, sent {sent}: {r.stderr[-300:]}")
    img = api.show(iid)
    if img.get("status") != "active" or img.get("size") != size:
        raise RuntimeError(f"after upload: status {img.get('status')}, size {img.get('size')}")
    return iid, size / total / 1e6


def download(api: Api, iid: str, size: int, timeout: float) -> float:
    r = subprocess.run(
        download_argv(api.base_url, api.token, iid),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    code, total, _, got = _parse(r.stdout)
    if code != 200 or got != size:
        raise RuntimeError(f"download {size} B: HTTP {code}, got {got}: {r.stderr[-300:]}")
    return size / total / 1e6


def concurrent_uploads(api: Api, path: Path, n: int, timeout: float) -> dict:
    """n uploads of the same file to n new images at once; aggregate MB/s and errors."""
    size = path.stat().st_size
    ids = [api.create_image(name=f"bench-conc-{n}-{k}") for k in range(n)]
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            upload_argv(api.base_url, api.token, iid, path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for iid in ids
    ]
    errors = 0
    deadline = t0 + timeout
    for p in procs:
        try:
            out, err = p.communicate(timeout=max(1.0, deadline - time.perf_counter()))
            code, _, sent, _ = _parse(out)
            if code != 204 or sent != size:
                errors += 1
                log(f"concurrent upload error: HTTP {code} sent {sent} {err[-200:]}")
        except (subprocess.TimeoutExpired, ValueError):
            p.kill()
            p.wait()
            errors += 1
    dt = time.perf_counter() - t0
    for iid in ids:
        try:
            img = api.show(iid)
            if img.get("status") != "active" or img.get("size") != size:
                errors += 1
        except RuntimeError:
            errors += 1
    for iid in ids:
        api.delete_image(iid)
    return {"mbps": n * size / dt / 1e6, "errors": errors, "seconds": dt}


def size_label(size: int) -> str:
    return f"{size // 1024 // MiB}GiB" if size >= 1024 * MiB else f"{size // MiB}MiB"
