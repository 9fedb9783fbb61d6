"""A store that goes away gives 503 with a clear message, and comes back without a restart."""

from __future__ import annotations

import contextlib
import os
import time

from actors import Actor
from daguerre.testing.server import ServerProcess


def test_filesystem_store_outage_and_recovery(closing: contextlib.ExitStack, tmp_path) -> None:
    images = tmp_path / "images"
    server = ServerProcess(tmp_path / "d", env={"DAGUERRE_AUTH__STRATEGY": "trusted-headers",
                                                "DAGUERRE_GLANCE_STORE__FILESYSTEM_STORE_DATADIR": str(images)}).start()  # fmt: skip
    try:
        actor = closing.enter_context(Actor(server.url, "outage", "member,reader"))
        kept = actor.create(name="kept")
        assert actor.upload(kept["id"], b"k" * 5000).status_code == 204
        # The store's directory goes away (an unmounted share looks like this to us).
        os.rename(images, tmp_path / "images.away")
        images.write_text("not a directory")
        image = actor.create(name="during")
        r = actor.upload(image["id"], b"x" * 5000)
        assert r.status_code == 503 and "store" in r.json()["message"].lower()
        # The failed upload's clean-up could not reach the store either: the image stays in
        # saving (no new upload may write under its key) until housekeeping has cleaned up.
        assert actor.get(f"/v2/images/{image['id']}").json()["status"] == "saving"
        r = actor.get(f"/v2/images/{kept['id']}/file")
        assert r.status_code == 503
        # It comes back: no restart needed.
        images.unlink()
        os.rename(tmp_path / "images.away", images)
        deadline = time.monotonic() + 30
        while actor.get(f"/v2/images/{image['id']}").json()["status"] != "queued":
            assert time.monotonic() < deadline, "housekeeping did not put the image back in queued"
            time.sleep(0.2)
        assert actor.upload(image["id"], b"x" * 5000).status_code == 204
        assert actor.get(f"/v2/images/{kept['id']}/file").content == b"k" * 5000
    finally:
        server.stop()
