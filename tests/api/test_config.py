"""Operator configuration seen through the API, and the secure-by-default bind rules."""

from __future__ import annotations

import contextlib
import subprocess
import sys

from actors import Actor
from daguerre.testing.server import ServerProcess


def test_disk_formats_restricted(closing: contextlib.ExitStack, tmp_path) -> None:
    conf = tmp_path / "daguerre.conf"
    conf.write_text("[image_format]\ndisk_formats = raw,iso\n[auth]\nstrategy = trusted-headers\n")
    server = ServerProcess(tmp_path / "d", config=conf).start()
    try:
        actor = closing.enter_context(Actor(server.url, "fmt", "member,reader"))
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


def test_unauthenticated_modes_refuse_non_loopback(tmp_path) -> None:
    for strategy in ("noauth", "trusted-headers"):
        out = subprocess.run(
            [sys.executable, "-m", "daguerre.cli", "serve", "--host", "0.0.0.0", "--port", "1", "--data-dir", str(tmp_path)],
            env={"DAGUERRE_AUTH__STRATEGY": strategy, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 2 and "only listens on loopback" in out.stderr


def test_bad_config_is_a_clear_error(tmp_path) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text("[DEFAULT]\nimage_size_cap = lots\n")
    out = subprocess.run([sys.executable, "-m", "daguerre.cli", "--config", str(conf), "serve"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 2 and "image_size_cap" in out.stderr


def test_store_tuning_options(tmp_path) -> None:
    """Reads/writes/parts in flight are operator options; a bad one is a clear exit 2."""
    from daguerre.settings import load_settings
    from daguerre.stores.registry import build_stores

    s3 = ("s3_store_host = http://127.0.0.1:1\ns3_store_bucket = b\n"
          "s3_store_access_key = a\ns3_store_secret_key = s\n")  # fmt: skip
    conf = tmp_path / "ok.conf"
    conf.write_text(f"[DEFAULT]\nenabled_backends = objects:s3\n[glance_store]\ndefault_backend = objects\n"
                    f"[objects]\n{s3}s3_store_parts_in_flight = 2\n"
                    "s3_store_connect_timeout = 3\ns3_store_read_timeout = 20\n")  # fmt: skip
    stores, default = build_stores(load_settings(conf, env={}))
    assert default == "objects" and stores["objects"].parts_in_flight == 2
    client_config = stores["objects"]._client.meta.config  # what botocore will use
    assert (client_config.connect_timeout, client_config.read_timeout) == (3, 20)

    bad = tmp_path / "bad.conf"
    bad.write_text(conf.read_text().replace("= 2\n", "= many\n"))
    out = subprocess.run([sys.executable, "-m", "daguerre.cli", "--config", str(bad), "serve"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 2
    assert "[objects] s3_store_parts_in_flight: must be a whole number ≥ 1, not 'many'" in out.stderr
