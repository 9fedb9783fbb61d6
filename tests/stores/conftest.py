"""A real single-node Ceph for the RBD and S3 store tests, brought up once per session.

The fixture runs scripts/ceph/up.sh (which installs the Debian packages when missing, and is a
no-op when the cluster already answers) and, if it brought the cluster up itself, runs down.sh at
the end of the session. Environment:

  DAGUERRE_SKIP_CEPH=1   skip every test marked ``ceph`` instead of bringing Ceph up
  DAGUERRE_CEPH_DIR      the cluster's folder (default <repo>/data/ceph-tests)
  DAGUERRE_KEEP_CEPH=1   leave the cluster running after the session (faster reruns)
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts" / "ceph"


def pytest_collection_modifyitems(config, items):
    if os.environ.get("DAGUERRE_SKIP_CEPH") == "1":
        skip = pytest.mark.skip(reason="DAGUERRE_SKIP_CEPH=1")
        for item in items:
            if "ceph" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def ceph_cluster():
    """The facts up.sh wrote (cluster.json): conf, keyring, fsid, pool, S3 endpoint and keys."""
    if os.environ.get("DAGUERRE_SKIP_CEPH") == "1":
        pytest.skip("DAGUERRE_SKIP_CEPH=1")
    folder = Path(os.environ.get("DAGUERRE_CEPH_DIR", ROOT / "data" / "ceph-tests"))
    was_up = subprocess.run([SCRIPTS / "up.sh", "--check", folder], capture_output=True).returncode == 0
    t0 = time.monotonic()
    done = subprocess.run([SCRIPTS / "up.sh", folder], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        pytest.fail(f"scripts/ceph/up.sh failed:\n{done.stderr[-4000:]}")
    facts = json.loads((folder / "cluster.json").read_text())
    facts["bring_up_seconds"] = time.monotonic() - t0
    yield facts
    if not was_up and os.environ.get("DAGUERRE_KEEP_CEPH") != "1":
        subprocess.run([SCRIPTS / "down.sh", folder], capture_output=True, timeout=120)


from pg_fixtures import pg_url  # noqa: E402,F401 - the multi-process test shares one PostgreSQL
