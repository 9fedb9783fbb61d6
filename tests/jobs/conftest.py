"""Fixtures for import tests: a loopback HTTP file server, images made by qemu-img, a server
configured with the import plugins and loopback allowed for exactly that file server."""

from __future__ import annotations

import gzip
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest_env import import_env

from actors import Actor
from daguerre.testing.server import ServerProcess
from fileserver import FileServer


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


@pytest.fixture(scope="session")
def images_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("served")
    raw = root / "disk.raw"
    with open(raw, "wb") as f:
        f.truncate(64 * 2**20)
        f.seek(2**20)
        f.write(os.urandom(3 * 2**20))
        f.seek(40 * 2**20)
        f.write(b"end of data" * 1000)
    qemu_img("convert", "-f", "raw", "-O", "qcow2", str(raw), str(root / "disk.qcow2"))
    qemu_img("convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized,adapter_type=lsilogic",
             str(raw), str(root / "disk.vmdk"))  # fmt: skip
    with open(root / "disk.qcow2", "rb") as src, gzip.open(root / "disk.qcow2.gz", "wb") as dst:
        dst.write(src.read())
    qemu_img("create", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", str(root / "backing.qcow2"), "64M")
    # A bomb: 2 GiB of zeros gzip'd, written streaming.
    with gzip.open(root / "bomb.raw.gz", "wb", compresslevel=9) as bomb:
        zeros = b"\0" * (4 * 2**20)
        for _ in range(512):
            bomb.write(zeros)
    return root


@pytest.fixture(scope="session")
def file_server(images_dir: Path) -> Iterator[FileServer]:
    server = FileServer(images_dir)
    yield server
    server.close()


@pytest.fixture(scope="session")
def import_server(
    tmp_path_factory: pytest.TempPathFactory, file_server: FileServer
) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("import"), env=import_env(file_server)).start()
    yield server
    server.stop()


@pytest.fixture
def importer(import_server: ServerProcess) -> Iterator[Actor]:
    import uuid

    with Actor(import_server.url, f"imp-{uuid.uuid4().hex[:6]}", "member,reader") as actor:
        yield actor
