"""The store conformance suite on FilesystemStore, plus what only a filesystem has."""

import os

import pytest

from daguerre.stores.filesystem import FilesystemStore
from daguerre.testing.store_suite import StoreSuite, make_bytes, source


class TestFilesystemStore(StoreSuite):
    chunk_size = 1024 * 1024  # the reader's pread size

    @pytest.fixture
    async def store(self, tmp_path):
        s = FilesystemStore("local", tmp_path / "images")
        yield s
        await s.close()

    async def leftovers(self, store):
        return sorted(p.name for p in (store.root / ".tmp").iterdir())


async def test_reap_orphans(tmp_path):
    store = FilesystemStore("local", tmp_path)
    await store.put("kept", source(b"abc"), size=3)
    (tmp_path / ".tmp" / "crashed.0123456789ab").write_bytes(b"half")
    (tmp_path / ".tmp" / "crashed.ba9876543210").write_bytes(b"")
    assert sorted(store.reap_orphans()) == ["crashed.0123456789ab", "crashed.ba9876543210"]
    assert list((tmp_path / ".tmp").iterdir()) == []
    assert store.reap_orphans() == []
    assert await store.list_keys() == ["kept"]
    assert await store.stat("kept") == 3


async def test_reader_exposes_local_path(tmp_path):
    store = FilesystemStore("local", tmp_path)
    data = make_bytes(4096)
    await store.put("img", source(data))
    reader = await store.open("img")
    assert reader.local_path() == os.fspath(tmp_path / "img")
    await reader.aclose()
    assert store.location_url("img") == f"file://{tmp_path / 'img'}"


@pytest.mark.parametrize("key", ["", "../x", "a/b", ".tmp", ".hidden", "nul\x00"])
async def test_path_walking_keys_refused(tmp_path, key):
    from daguerre.stores.base import StoreError

    store = FilesystemStore("local", tmp_path)
    with pytest.raises(StoreError):
        await store.put(key, source(b"x"), size=1)
    assert list((tmp_path / ".tmp").iterdir()) == []


async def test_unwritable_root_fails_check(tmp_path):
    from daguerre.stores.base import StoreUnavailable

    store = FilesystemStore("local", tmp_path)
    os.rmdir(tmp_path / ".tmp")
    with pytest.raises(StoreUnavailable):
        await store.check()


async def test_reap_orphans_spares_temporaries_of_live_writers(tmp_path):
    store = FilesystemStore("local", tmp_path)
    dead = _dead_pid()
    tmp = tmp_path / ".tmp"
    (tmp / f"img.{os.getpid()}.aaaaaaaaaaaa").write_bytes(b"mine, in flight")
    (tmp / f"img.{os.getppid()}.bbbbbbbbbbbb").write_bytes(b"a live process's")
    (tmp / f"img.{dead}.cccccccccccc").write_bytes(b"a crashed process's")
    assert store.reap_orphans() == [f"img.{dead}.cccccccccccc"]
    assert sorted(p.name for p in tmp.iterdir()) == sorted(
        [f"img.{os.getpid()}.aaaaaaaaaaaa", f"img.{os.getppid()}.bbbbbbbbbbbb"]
    )


def _dead_pid() -> int:
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid
