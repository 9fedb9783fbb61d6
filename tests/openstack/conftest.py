"""Fixtures that run a real Keystone (scripts/openstack/keystone-up.sh) for the auth tests.

Needs .venv-openstack (scripts/openstack/setup.sh); without it these tests are skipped with that reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts" / "openstack"
VENV = Path(os.environ.get("OPENSTACK_VENV", REPO / ".venv-openstack"))
ADMIN_PASSWORD = "admin-secret"
SERVICE_PASSWORD = "daguerre-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Keystone:
    workdir: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v3"

    def authtoken_options(self, **overrides: str) -> dict[str, str]:
        """A [keystone_authtoken] section for the daguerre service user."""
        opts = {
            "www_authenticate_uri": self.url,
            "auth_url": self.url,
            "auth_type": "password",
            "username": "daguerre",
            "password": SERVICE_PASSWORD,
            "project_name": "service",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
            "region_name": "RegionOne",
            "interface": "public",
            "memcached_servers": "127.0.0.1:11211",  # must be ignored
        }
        opts.update(overrides)
        return opts


def _up(workdir: Path, port: int, **env: str) -> Keystone:
    full_env = {
        **os.environ,
        "KEYSTONE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "DAGUERRE_SERVICE_PASSWORD": SERVICE_PASSWORD,
        "DAGUERRE_URL": "http://127.0.0.1:19292",
        "OPENSTACK_VENV": str(VENV),
        **env,
    }
    proc = subprocess.run(
        [str(SCRIPTS / "keystone-up.sh"), str(workdir), str(port)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if proc.returncode != 0:
        subprocess.run([str(SCRIPTS / "keystone-down.sh"), str(workdir)], capture_output=True)
        pytest.fail(f"keystone-up.sh failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return Keystone(workdir, port)


def _down(ks: Keystone) -> None:
    subprocess.run([str(SCRIPTS / "keystone-down.sh"), str(ks.workdir)], capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def keystone(tmp_path_factory: pytest.TempPathFactory):
    if not (VENV / "bin" / "keystone-manage").exists():
        pytest.skip(f"{VENV} is absent: run scripts/openstack/setup.sh to install Keystone")
    ks = _up(tmp_path_factory.mktemp("keystone"), free_port())
    yield ks
    _down(ks)


@pytest.fixture(scope="session")
def short_lived_keystone(keystone: Keystone, tmp_path_factory: pytest.TempPathFactory):
    """A second Keystone whose tokens live 10 s: a consistent copy of the first one's DB and keys
    (so no fresh db_sync), with its own port and [token] expiration = 10."""
    src, dst = keystone.workdir, tmp_path_factory.mktemp("keystone-short")
    a, b = sqlite3.connect(src / "keystone.db"), sqlite3.connect(dst / "keystone.db")
    try:
        a.backup(b)
    finally:
        a.close()
        b.close()
    for name in ("fernet-keys", "credential-keys"):
        shutil.copytree(src / name, dst / name)
    shutil.copy(src / ".bootstrapped", dst / ".bootstrapped")
    ks = _up(dst, free_port(), KEYSTONE_TOKEN_EXPIRATION="10")
    yield ks
    _down(ks)
