"""Operator configuration seen through the API, and the secure-by-default bind rules."""

from __future__ import annotations

import subprocess
import sys

from actors import Actor
from daguerre.testing.server import ServerProcess


def test_disk_formats_restricted(tmp_path) -> None:  # noqa: ANN001
    conf = tmp_path / "daguerre.conf"
    conf.write_text("[image_format]\ndisk_formats = raw,iso\n[auth]\nstrategy = trusted-headers\n")
    server = ServerProcess(tmp_path / "d", config=conf).start()
    try:
        actor = Actor(server.url, "fmt", "member,reader")
        assert (
            actor.post("/v2/images", json={"disk_format": "qcow2", "container_format": "bare"}).status_code
            == 400
        )
        image = actor.create(disk_format="iso")
        r = actor.patch(image["id"], [{"op": "replace", "path": "/disk_format", "value": "vmdk"}])
        assert r.status_code == 400 and "disk_format" in r.text
        assert (
            actor.patch(image["id"], [{"op": "replace", "path": "/disk_format", "value": "raw"}]).status_code
            == 200
        )
        schema = actor.get("/v2/schemas/image").json()
        assert schema["properties"]["disk_format"]["enum"] == [None, "raw", "iso"]
    finally:
        server.stop()


def test_unauthenticated_modes_refuse_non_loopback(tmp_path) -> None:  # noqa: ANN001
    for strategy in ("noauth", "trusted-headers"):
        out = subprocess.run(
            [sys.executable, "-m", "daguerre.cli", "serve", "--host", "0.0.0.0", "--port", "1", "--data-dir", str(tmp_path)],
            env={"DAGUERRE_AUTH__STRATEGY": strategy, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 2 and "only listens on loopback" in out.stderr


def test_bad_config_is_a_clear_error(tmp_path) -> None:  # noqa: ANN001
    conf = tmp_path / "bad.conf"
    conf.write_text("[DEFAULT]\nimage_size_cap = lots\n")
    out = subprocess.run([sys.executable, "-m", "daguerre.cli", "--config", str(conf), "serve"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 2 and "image_size_cap" in out.stderr
