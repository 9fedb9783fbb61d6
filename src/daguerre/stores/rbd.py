"""Ceph RBD store: one RBD image per object, with a protected snapshot ``snap`` to clone from.

A put creates the image ``<key>`` (RBD's create is exclusive: of two racing puts on one key
exactly one wins), at the announced size or growing as data arrives when the size is unknown,
writes it in object-size chunks (a few in flight on worker threads while the next ones arrive,
so memory stays at ``writes_in_flight + 1`` chunks), then creates and protects the snapshot
``snap``. Reads, ``stat`` and ``delete`` go through that snapshot, so an image without it (a put
in flight) is not an object yet: they say StoreNotFound. Any failure or cancellation waits for
the writes in flight, then removes the partial image (snapshot first). A crash can leave an
image without its snapshot: ``discard_partial(key)`` removes it for one key (the server calls it
where an upload guard or import lock makes the key its own); ``reap_orphans()`` removes every
such image, and is only safe when no Daguerre process is writing to the pool.

The location is Glance's ``rbd://<fsid>/<pool>/<key>/snap``, which Nova and Cinder understand:
they clone the protected snapshot copy-on-write. While such clones exist, ``delete`` raises
:class:`StoreInUse`.

The Python bindings (``rados``, ``rbd``) come from Debian's python3-rados/python3-rbd: PyPI has
none. ``scripts/ceph/install.sh`` links the two extension modules into the venv (a ``.pth``
file); when that was not done, :func:`load_bindings` loads those two modules straight from
Debian's dist-packages without putting the rest of dist-packages on ``sys.path``.
"""

from __future__ import annotations

import asyncio
import collections
import configparser
import glob
import importlib.machinery
import importlib.util
import secrets
import sys
import sysconfig
import types
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from daguerre.stores.base import (
    Capabilities,
    ObjectReader,
    Store,
    Stored,
    StoreError,
    StoreFull,
    StoreInUse,
    StoreNotFound,
    StoreSizeMismatch,
    StoreUnavailable,
)
from daguerre.stores.inflight import Window, settle
from daguerre.stores.threads import BlockingIO

T = TypeVar("T")


SNAP = "snap"
DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
DEBIAN_DIST_PACKAGES = "/usr/lib/python3/dist-packages"


def load_bindings() -> tuple[types.ModuleType, types.ModuleType]:
    """Import ``rados`` and ``rbd``; fall back to Debian's two extension modules only."""
    try:
        # rados and rbd are optional (Debian's python3-rados/python3-rbd); only an rbd store needs them.
        import rados  # noqa: PLC0415
        import rbd  # noqa: PLC0415

        return rados, rbd
    except ImportError:
        pass
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"  # e.g. .cpython-311-x86_64-linux-gnu.so
    mods = []
    for name in ("rados", "rbd"):  # rbd imports rados: load rados first
        if name in sys.modules:
            mods.append(sys.modules[name])
            continue
        paths = glob.glob(f"{DEBIAN_DIST_PACKAGES}/{name}{suffix}")
        if not paths:
            raise ImportError(
                f"no {name} module for this Python ({suffix}); install Debian's python3-{name} "
                "(scripts/ceph/install.sh) and use a CPython of the same minor version"
            )
        loader = importlib.machinery.ExtensionFileLoader(name, paths[0])
        spec = importlib.util.spec_from_file_location(name, paths[0], loader=loader)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        mods.append(module)
    return mods[0], mods[1]


def _check_key(key: str) -> None:
    if not key or "/" in key or "@" in key or "\x00" in key:
        raise StoreError(f"invalid key {key!r}")


def _chunk_order(chunk_size: int) -> int:
    order = chunk_size.bit_length() - 1
    if chunk_size != 1 << order or not 12 <= order <= 25:
        raise ValueError(f"chunk_size must be a power of two from 4 KiB to 32 MiB, not {chunk_size}")
    return order


# A download reads READ_SIZE bytes at a time (at most one object), READ_AHEAD reads in flight:
# 4 MiB x 8 streamed ~30% faster through GET /file than 8 MiB x 4 (the same 32 MiB in flight)
# on the 2-CPU test machine, with less server CPU per byte (smaller writes to the socket); 4 MiB
# x 4 then streamed as fast as x 8 (1,300-1,390 MB/s, 1.2 core-s/GB either way) and the
# server's peak RSS was 70 MiB lower (librados holds its own copy of every read in flight).
# x 2 lost ~10%. Operators can set rbd_store_read_ahead.
READ_SIZE = 4 * 1024 * 1024
READ_AHEAD = 4
# Writes in flight while an upload receives (each one object, chunk_size bytes).
WRITES_IN_FLIGHT = 4
# librados waits for an OSD or monitor without end by default, so a cluster that stops answering
# (an OSD host hung, a network partition) would hold every upload and download, and the threads
# they run on, until it comes back. A bound turns that into StoreUnavailable (503) and frees the
# request; healthy operations take milliseconds, and a peering pause after an OSD failure
# stays well under a minute, so 60 s fails only what would have hung.
OP_TIMEOUT = 60
# An image of unknown size starts at this many chunks and grows by doubling, by at most
# GROW_MAX at a time (thin: the size costs nothing); it is cut to the bytes received at the end.
GROW_MIN_CHUNKS = 8
GROW_MAX = 1024 * 1024 * 1024


class RbdReader(ObjectReader):
    def __init__(self, store: RbdStore, image: Any, size: int, start: int, end: int) -> None:
        self._store = store
        self._image = image
        self.size = size
        self.start = start
        self.end = end

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # Read ahead: keep the next reads in flight while this one goes to the client (librbd
        # serves concurrent reads on one handle). Memory: read_ahead reads done or running plus
        # the one the consumer is sending, (read_ahead + 1) x read_size per reader (5 x 4 MiB =
        # 20 MiB by default), and librados as much again while the reads run.
        pos = self.start
        pending: collections.deque[tuple[int, int, asyncio.Future]] = collections.deque()
        try:
            while pos < self.end or pending:
                while pos < self.end and len(pending) < self._store.read_ahead:
                    step = self._store.read_size
                    n = min(step - pos % step, self.end - pos)
                    pending.append(
                        (
                            pos,
                            n,
                            asyncio.ensure_future(self._store._call(self._store._read, self._image, pos, n)),  # noqa: SLF001 - a reader is part of its store
                        )
                    )
                    pos += n
                at, n, fut = pending[0]
                data = await fut  # still in pending: a cancelled wait is waited for below
                pending.popleft()
                if len(data) != n:
                    raise StoreError(f"short read from rbd image at {at}: {len(data)} of {n} bytes")
                yield data
        finally:
            # Reads still running finish before the image is closed under them.
            await settle(fut for _, _, fut in pending)
            await self.aclose()

    async def aclose(self) -> None:
        image, self._image = self._image, None
        if image is not None:
            self._store._readers.discard(self)  # noqa: SLF001 - a reader is part of its store
            await self._store._io.run(image.close)  # noqa: SLF001


class RbdStore(Store):
    """Objects as RBD images in ``pool``; see the module docstring."""

    type = "rbd"
    capabilities = Capabilities(ranged_reads=True, cow_clone=True)

    def __init__(
        self,
        id: str,
        pool: str,
        conffile: str,
        user: str = "admin",
        keyring: str | None = None,
        chunk_size: int | None = None,
        *,
        writes_in_flight: int = WRITES_IN_FLIGHT,
        read_ahead: int = READ_AHEAD,
        read_size: int | None = None,
        connect_timeout: int = 10,
        op_timeout: int = OP_TIMEOUT,
        io: BlockingIO | None = None,
    ) -> None:
        self.id = id
        self.pool = pool
        self.conffile = conffile
        self.user = user
        self.keyring = keyring
        self.chunk_size = chunk_size or DEFAULT_CHUNK_SIZE
        self.order = _chunk_order(self.chunk_size)
        if writes_in_flight < 1 or read_ahead < 1:
            raise ValueError("writes_in_flight and read_ahead must be at least 1")
        self.writes_in_flight = writes_in_flight
        self.read_ahead = read_ahead
        if read_size is not None and (read_size < 4096 or read_size & (read_size - 1)):
            raise ValueError(f"read_size must be a power of two of at least 4 KiB, not {read_size}")
        # A power of two no larger than an object: a read never straddles two objects.
        self.read_size = min(read_size or READ_SIZE, self.chunk_size)
        self.connect_timeout = connect_timeout
        if op_timeout < 1:
            raise ValueError("op_timeout must be at least 1 second")
        self.op_timeout = op_timeout
        self._io = io or BlockingIO()
        self._rados, self._rbd = load_bindings()
        self._cluster: Any = None
        self._ioctx: Any = None
        self._fsid = _fsid_from_conf(conffile)
        self._connect_lock = asyncio.Lock()
        # Readers still open: close() closes their images before the cluster handle goes (an
        # rbd.Image outliving its cluster crashes the interpreter when collected).
        self._readers: weakref.WeakSet[RbdReader] = weakref.WeakSet()

    # -- plumbing ---------------------------------------------------------------------------

    async def _connect(self) -> Any:
        if self._ioctx is not None:
            return self._ioctx
        async with self._connect_lock:
            if self._ioctx is None:
                await self._io.run(self._connect_blocking)
        return self._ioctx

    def _connect_blocking(self) -> None:
        rados = self._rados
        conf = {
            "client_mount_timeout": str(self.connect_timeout),
            "rados_osd_op_timeout": str(self.op_timeout),
            "rados_mon_op_timeout": str(self.op_timeout),
        }
        if self.keyring:
            conf["keyring"] = self.keyring
        cluster = rados.Rados(conffile=self.conffile, rados_id=self.user, conf=conf)
        try:
            cluster.connect(timeout=self.connect_timeout)
            if not cluster.pool_exists(self.pool):
                raise StoreUnavailable(f"store {self.id}: rbd pool {self.pool!r} does not exist")
            ioctx = cluster.open_ioctx(self.pool)
            self._fsid = cluster.get_fsid()
        except StoreError:
            cluster.shutdown()
            raise
        except rados.Error as exc:
            cluster.shutdown()
            raise StoreUnavailable(f"store {self.id}: cannot reach ceph ({self.conffile}): {exc}") from exc
        self._cluster, self._ioctx = cluster, ioctx

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking librbd/librados call on a worker thread, mapping its errors."""
        try:
            return await self._io.run(fn, *args)
        except (self._rbd.Error, self._rados.Error) as exc:
            raise self._map_error(exc) from exc

    def _map_error(self, exc: Exception) -> StoreError:
        rbd, rados = self._rbd, self._rados
        if isinstance(exc, (rbd.ImageNotFound, rados.ObjectNotFound)):
            return StoreNotFound(str(exc))
        if isinstance(exc, (rbd.NoSpace, rbd.DiskQuotaExceeded, rados.NoSpace)):
            return StoreFull(f"store {self.id}: {exc}")
        if isinstance(exc, (rbd.ConnectionShutdown, rbd.Timeout, rados.TimedOut, rados.ConnectionShutdown)):
            return StoreUnavailable(f"store {self.id}: {exc}")
        return StoreError(f"store {self.id}: {exc}")

    # The data path's two blocking calls (one seam each, for the tests' instrumentation).
    def _write(self, image: Any, data: bytes, offset: int) -> None:
        image.write(data, offset)

    def _read(self, image: Any, offset: int, length: int) -> bytes:
        return image.read(offset, length)

    # -- the interface ----------------------------------------------------------------------

    def location_url(self, key: str) -> str:
        return f"rbd://{self._fsid}/{self.pool}/{key}/{SNAP}"

    async def put(self, key: str, chunks: AsyncIterator[bytes], size: int | None = None) -> Stored:
        _check_key(key)
        ioctx = await self._connect()
        rbd = self._rbd
        # Both are set inside the worker thread: a caller cancelled while create() runs must
        # still know what to close and remove.
        created = False
        image: Any = None

        def create() -> None:
            # RBD's create is an exclusive create: of two racing puts on one key, one wins.
            nonlocal created, image
            try:
                rbd.RBD().create(
                    ioctx,
                    key,
                    size or 0,
                    order=self.order,
                    old_format=False,
                    features=rbd.RBD_FEATURE_LAYERING,
                )
            except rbd.ImageExists:
                raise StoreError(f"object {key} already exists") from None
            created = True
            image = rbd.Image(ioctx, key)

        written = 0  # bytes handed to writes so far: the offset of the next write
        # Memory: at most ``writes_in_flight`` chunks being written plus the one being filled,
        # i.e. (writes_in_flight + 1) x chunk_size per put (5 x 8 MiB = 40 MiB by default).
        window = Window(self.writes_in_flight)
        try:
            await self._call(create)
            capacity = size or 0
            # The chunk being filled, as views of the source's pieces: joined once when written.
            pieces: list[memoryview] = []
            filled = 0

            async def flush() -> None:
                nonlocal written, capacity, filled
                data = b"".join(pieces)
                pieces.clear()
                filled = 0
                end = written + len(data)
                if end > capacity:
                    # Size unknown: grow as data arrives, geometrically (few resizes; the final
                    # size is set at the end), and never under writes still in flight.
                    await window.drain()
                    grown = max(
                        end, GROW_MIN_CHUNKS * self.chunk_size, min(2 * capacity, capacity + GROW_MAX)
                    )
                    await self._call(image.resize, grown)
                    capacity = grown
                # The write runs on a worker thread while the next chunk is received.
                await window.submit(self._call, self._write, image, data, written)
                written = end

            async for chunk in chunks:
                if not chunk:
                    continue
                if size is not None and written + filled + len(chunk) > size:
                    raise StoreSizeMismatch(size, written + filled + len(chunk))
                view = memoryview(chunk)
                while view:
                    piece = view[: self.chunk_size - filled]
                    pieces.append(piece)
                    filled += len(piece)
                    view = view[len(piece) :]
                    if filled == self.chunk_size:
                        await flush()
            if filled:
                await flush()
            await window.drain()
            if size is not None and written != size:
                raise StoreSizeMismatch(size, written)
            if capacity != written:
                await self._call(image.resize, written)
            await self._call(image.flush)
            await self._call(image.create_snap, SNAP)
            await self._call(image.protect_snap, SNAP)
            await self._call(image.close)
            image = None
        except BaseException:
            # Includes cancellation (client gone): the writes still running finish first (an
            # image closed under a write crashes the process), then the partial image goes,
            # snapshot first.
            await window.abandon()
            if image is not None:
                await self._io.run_quietly(image.close)
            if created:
                await self._io.run_quietly(self._remove_blocking, key, True)
            raise
        return Stored(key=key, size=written, metadata={"url": self.location_url(key)})

    async def open(self, key: str, byte_range: tuple[int, int] | None = None) -> ObjectReader:
        _check_key(key)
        ioctx = await self._connect()
        image: Any = None

        def open_image() -> None:
            nonlocal image  # set in the thread, so a cancelled caller still closes it
            image = self._open_for_read(ioctx, key)

        try:
            await self._call(open_image)
            size = await self._call(image.size)
            start, end = byte_range if byte_range is not None else (0, size)
            if not (0 <= start <= end <= size):
                raise StoreError(f"range {start}-{end} outside object of {size} bytes")
        except BaseException:
            if image is not None:
                await self._io.run_quietly(image.close)
            raise
        reader = RbdReader(self, image, size, start, end)
        self._readers.add(reader)
        return reader

    def _open_for_read(self, ioctx: Any, key: str) -> Any:
        # Reads go to the protected snapshot. An image without it is a put in flight (or a
        # crash's debris, see reap_orphans): not an object yet, so ImageNotFound -> StoreNotFound.
        return self._rbd.Image(ioctx, key, snapshot=SNAP, read_only=True)

    async def in_use(self, key: str) -> str | None:
        _check_key(key)
        ioctx = await self._connect()

        def clones() -> list[str]:
            try:
                with self._rbd.Image(ioctx, key, read_only=True) as image:
                    return _children(image, SNAP)
            except self._rbd.ImageNotFound:
                return []

        kids = await self._call(clones)
        if kids:
            return f"rbd image {self.pool}/{key} has {len(kids)} clone(s) ({', '.join(kids[:5])})"
        return None

    async def stat(self, key: str) -> int:
        _check_key(key)
        ioctx = await self._connect()

        def size() -> int:
            with self._open_for_read(ioctx, key) as image:
                return image.size()

        return await self._call(size)

    async def _exists(self, key: str) -> bool:
        try:
            await self.stat(key)
        except StoreNotFound:
            return False
        return True

    async def delete(self, key: str, missing_ok: bool = False) -> None:
        _check_key(key)
        await self._connect()
        try:
            await self._call(self._delete_blocking, key)  # runs to its end even if we are cancelled
        except StoreNotFound:
            if not missing_ok:
                raise

    def _delete_blocking(self, key: str) -> None:
        # A put in flight has no snapshot yet: it is not an object, and is not ours to remove.
        self._open_for_read(self._ioctx, key).close()
        self._remove_blocking(key, False)

    def _remove_blocking(self, name: str, force: bool) -> None:
        """Unprotect and remove ``snap``, then remove the image. ``force`` (our own partial
        images) also removes any other snapshot."""
        rbd = self._rbd
        ioctx = self._ioctx
        with rbd.Image(ioctx, name) as image:
            for snap in list(image.list_snaps()):
                if snap["name"] != SNAP and not force:
                    continue
                if image.is_protected_snap(snap["name"]):
                    children = _children(image, snap["name"])
                    if children:
                        raise StoreInUse(
                            f"rbd image {self.pool}/{name} has {len(children)} clone(s) of its "
                            f"snapshot {snap['name']!r} ({', '.join(children[:5])}); flatten or "
                            "remove them first"
                        )
                    try:
                        image.unprotect_snap(snap["name"])
                    except rbd.ImageBusy as exc:
                        raise StoreInUse(
                            f"rbd image {self.pool}/{name}: snapshot {snap['name']!r} has clones"
                        ) from exc
                image.remove_snap(snap["name"])
        try:
            rbd.RBD().remove(ioctx, name)
        except rbd.ImageBusy as exc:
            raise StoreInUse(f"rbd image {self.pool}/{name} is open elsewhere (watchers)") from exc
        except rbd.ImageHasSnapshots as exc:
            raise StoreInUse(f"rbd image {self.pool}/{name} has snapshots other than {SNAP!r}") from exc

    async def list_keys(self) -> list[str]:
        """Every image in the pool, puts in flight included (they hold their key already)."""
        ioctx = await self._connect()
        names = await self._call(self._rbd.RBD().list, ioctx)
        return sorted(names)

    async def list_partials(self) -> list[str]:
        """Images without a protected ``snap``: puts in flight, or debris left by a crash."""
        ioctx = await self._connect()
        rbd = self._rbd

        def partials() -> list[str]:
            found = []
            for name in rbd.RBD().list(ioctx):
                try:
                    with rbd.Image(ioctx, name, read_only=True) as image:
                        if not any(
                            s["name"] == SNAP for s in image.list_snaps()
                        ) or not image.is_protected_snap(SNAP):
                            found.append(name)
                except rbd.ImageNotFound:
                    continue
            return sorted(found)

        return await self._call(partials)

    async def discard_partial(self, key: str) -> None:
        _check_key(key)
        ioctx = await self._connect()
        rbd = self._rbd

        def partial() -> bool:
            try:
                with rbd.Image(ioctx, key, read_only=True) as image:
                    return not any(
                        s["name"] == SNAP for s in image.list_snaps()
                    ) or not image.is_protected_snap(SNAP)
            except rbd.ImageNotFound:
                return False

        if await self._call(partial):
            await self._call(self._remove_blocking, key, True)

    async def reap_orphans(self) -> list[str]:
        """Remove images a crashed put left (no protected snapshot). Only safe when no put is in
        flight (start-up)."""
        removed = []
        for name in await self.list_partials():
            await self._call(self._remove_blocking, name, True)
            removed.append(name)
        return removed

    async def check(self) -> None:
        try:
            ioctx = await self._connect()
            probe = f".daguerre-check.{secrets.token_hex(4)}"
            await self._call(ioctx.write_full, probe, b"ok")
            await self._call(ioctx.remove_object, probe)
        except StoreUnavailable:
            raise
        except StoreError as exc:
            raise StoreUnavailable(f"store {self.id}: pool {self.pool!r} is not writable: {exc}") from exc

    async def close(self) -> None:
        for reader in list(self._readers):
            await reader.aclose()
        ioctx, cluster = self._ioctx, self._cluster
        self._ioctx = self._cluster = None
        if cluster is not None:

            def shutdown() -> None:
                ioctx.close()
                cluster.shutdown()

            await self._io.run(shutdown)

    @property
    def fsid(self) -> str:
        """The cluster's fsid (known once connected)."""
        return self._fsid


def _fsid_from_conf(conffile: str) -> str:
    """The fsid named in ceph.conf, so ``location_url`` works before the first connection."""
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read(conffile)
        for section in ("global", "client"):
            for option in ("fsid",):
                if parser.has_option(section, option):
                    return parser.get(section, option).strip()
    except (OSError, configparser.Error):
        pass
    return ""


def _children(image: Any, snap: str) -> list[str]:
    image.set_snap(snap)
    try:
        try:
            kids = [f"{c['pool']}/{c['image']}" for c in image.list_children2()]
        except AttributeError:  # older bindings
            kids = [f"{p}/{i}" for p, i in image.list_children()]
    finally:
        image.set_snap(None)
    return kids
