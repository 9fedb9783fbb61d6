"""The import job: bring the bytes in, check them, convert, learn what they are, store, activate.

Steps, in order (each safe to run again after a crash: a retried job starts over from the bytes
it still has, and every temporary lives under work/<job id>.*):
  1. acquire  web-download (SSRF-hardened fetch) or the staged file of glance-direct, decompressed
              on the way when the plugin is on, and inspected as the bytes flow;
  2. judge    the inspector's verdict against the claimed disk_format (format-safety rules);
  3. convert  qemu-img info re-check, then qemu-img convert to [image_conversion] output_format,
              and the output inspected again;
  4. describe introspection facts and injected metadata become properties;
  5. store    hashed while streaming into the store; the image becomes active in one transaction
              that also drops the lock, completes the task and removes the staged data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from daguerre.db import images as image_repo
from daguerre.db import tasks as task_repo
from daguerre.decompress import DecompressionRefused, DecompressLimits, decompress, sniff
from daguerre.domain import image as img
from daguerre.domain.image import Image, Location
from daguerre.domain.task import FAILURE, PROCESSING, SUCCESS
from daguerre.fetch.client import AuditInfo, FetchError, FetchLimits, open_url
from daguerre.fetch.filter import URLRefused
from daguerre.fetch.resolver import SystemResolver
from daguerre.formats import FormatRefused, Inspector, Verdict, inspect_file, judge
from daguerre.formats.qemu import QemuError, QemuLimits, qemu_img_convert, qemu_img_info, recheck_info
from daguerre.jobs import queue as job_queue
from daguerre.jobs.queue import Job
from daguerre.jobs.runner import Permanent, handler
from daguerre.runtime import Runtime
from daguerre.services import import_lock
from daguerre.services.data import safety_policy
from daguerre.services.import_lock import LOCK
from daguerre.services.imports import FAILED_IMPORT, IMPORTING_TO
from daguerre.stores.base import StoreNotFound
from daguerre.stores.streams import CHUNK, DigestingStream, Fanout, LimitExceeded

log = logging.getLogger(__name__)
MiB = 2**20

# Formats qemu-img can read and convert from; others (iso, ami/aki/ari) pass through unconverted.
CONVERTIBLE = {"qcow2", "vmdk", "vhd", "vhdx", "vdi", "raw", "ploop"}


def work_dir(rt: Runtime) -> Path:
    path = rt.settings.data_dir / "work"
    path.mkdir(parents=True, exist_ok=True)
    return path


def clean_work(rt: Runtime, job_id: str) -> None:
    for p in work_dir(rt).glob(f"{job_id}.*"):
        p.unlink(missing_ok=True)


@dataclass
class Progress:
    rt: Runtime
    task_id: str
    last_mib: int = -1
    notes: list[str] = field(default_factory=list)

    async def report(self, message: str) -> None:
        async with self.rt.db.write() as conn:
            await task_repo.update(conn, self.task_id, message=message)


async def _file_chunks(path: Path, size: int = CHUNK) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    with open(path, "rb", buffering=0) as f:
        while True:
            data = await loop.run_in_executor(None, f.read, size)
            if not data:
                return
            yield data


async def _maybe_decompress(rt: Runtime, chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """Decompress when the plugin is on and the first bytes say so; never recursively."""
    first = b""
    async for first in chunks:
        if first:
            break
    if not first:
        return

    async def replay() -> AsyncIterator[bytes]:
        yield first
        async for c in chunks:
            yield c

    kind = (
        sniff(first[:512])
        if "image_decompression" in rt.settings.image_import_opts.image_import_plugins
        else None
    )
    if kind is None:
        async for c in replay():
            yield c
        return
    log.info("decompressing %s input", kind)
    async for c in decompress(replay(), kind, DecompressLimits(max_output=limit)):
        yield c


async def _write(path: Path, chunks: AsyncIterator[bytes], inspector: Inspector, limit: int) -> int:
    loop = asyncio.get_running_loop()
    written = 0
    with open(path, "wb", buffering=0) as f:
        async for chunk in chunks:
            written += len(chunk)
            if written > limit:
                raise Permanent(f"Image exceeds image_size_cap of {limit} bytes")
            inspector.feed(chunk)
            await loop.run_in_executor(None, f.write, chunk)
        await loop.run_in_executor(None, os.fsync, f.fileno())
    return written


async def acquire(rt: Runtime, job: Job, image_id: str | None, dest: Path, progress: Progress) -> Verdict:
    """Step 1: the source bytes into ``dest``, decompressed if asked, inspected on the way."""
    p = job.payload
    cap = rt.settings.DEFAULT.image_size_cap
    inspector = Inspector(safety_policy(rt))
    if p["method"] == "web-download":
        f = rt.settings.import_filtering_opts
        audit = AuditInfo(
            user=p.get("user_id"), project=p.get("project_id"), image=image_id, request_id=p.get("request_id")
        )
        limits = FetchLimits.from_section(f, cap)
        resolver = SystemResolver()
        try:
            async with open_url(p["uri"], f, limits, resolver, audit) as download:
                await progress.report(f"Downloading from {download.final_url}")
                await _write(dest, _maybe_decompress(rt, download.chunks(), cap), inspector, cap)
        except URLRefused as exc:
            raise Permanent(f"URI for web-download does not pass filtering: {exc}") from exc
        except FetchError as exc:
            raise RuntimeError(f"Download failed: {exc}") from exc
    elif p["method"] == "glance-download":
        await _download_remote(rt, p, dest, inspector, cap, progress)
    elif p["method"] == "glance-direct":
        if image_id is None:
            raise Permanent("glance-direct needs the image the data was staged for")
        try:
            staged = await rt.staging.open(image_id)
        except StoreNotFound:
            raise Permanent(f"No staged data found for image {image_id}; stage it again") from None
        try:
            await _write(dest, _maybe_decompress(rt, staged.__aiter__(), cap), inspector, cap)
        finally:
            await staged.aclose()
    else:
        raise Permanent(f"Import method {p['method']} is not supported here")
    return inspector.finish()


async def _remote_endpoint(rt: Runtime, p: dict) -> str:
    """The image service of another region, from the Keystone catalog, as the caller sees it."""
    # keystoneauth1 costs ~0.1 s to import: only glance-download loads it.
    from keystoneauth1 import exceptions as ks_exc  # noqa: PLC0415
    from keystoneauth1 import session as ks_session  # noqa: PLC0415
    from keystoneauth1.identity import v3  # noqa: PLC0415

    opts = rt.settings.keystone_authtoken
    auth_url = opts.get("auth_url") or opts.get("www_authenticate_uri")
    if not auth_url or not p.get("auth_token"):
        raise Permanent(
            "glance-download needs Keystone ([keystone_authtoken] auth_url) and the caller's token"
        )
    remote = p["remote"]

    def lookup() -> str | None:
        auth = v3.Token(auth_url=auth_url, token=p["auth_token"], project_id=p.get("project_id"))
        sess = ks_session.Session(auth=auth)
        return sess.get_endpoint(
            service_type="image", region_name=remote["region"], interface=remote["interface"]
        )

    try:
        endpoint = await asyncio.get_running_loop().run_in_executor(None, lookup)
    except ks_exc.ClientException as exc:
        raise Permanent(f"Cannot find the remote image service: {exc}") from exc
    if not endpoint:
        raise Permanent(f"No image service in region {remote['region']} ({remote['interface']})")
    return endpoint.rstrip("/")


async def _download_remote(rt: Runtime, p: dict, dest: Path, inspector: Inspector, cap: int,
                           progress: Progress) -> None:  # fmt: skip
    """glance-download: copy formats and chosen properties from the remote image, then its data.

    The remote endpoint comes from the operator's service catalog, not from the caller, so it is
    not subject to the web-download URL filters.
    """
    import httpx  # noqa: PLC0415 - ~0.1 s to import; only glance-download uses it

    endpoint = await _remote_endpoint(rt, p)
    remote_id = p["remote"]["image_id"]
    headers = {"X-Auth-Token": p["auth_token"], "Accept": "application/json"}
    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0)) as client:
        r = await client.get(f"{endpoint}/v2/images/{remote_id}", headers=headers)
        if r.status_code != 200:
            raise Permanent(f"Remote image {remote_id} not available: HTTP {r.status_code}")
        remote = r.json()
        if remote.get("status") != "active":
            raise Permanent(f"Remote image {remote_id} is {remote.get('status')}, not active")
        prefixes = rt.settings.glance_download_properties.extra_properties
        props = {k: str(v) for k, v in remote.items()
                 if isinstance(k, str) and k.startswith(prefixes) and not k.startswith(img.RESERVED_PREFIX)}  # fmt: skip
        async with rt.db.write() as conn:
            current = await image_repo.get(conn, p["image_id"])
            if current is None or current.status != img.IMPORTING:
                raise Permanent(f"Image {p['image_id']} was deleted or changed during the import")
            await image_repo.update_fields(conn, p["image_id"], img.IMPORTING,
                                           disk_format=remote.get("disk_format"),
                                           container_format=remote.get("container_format"))  # fmt: skip
            await image_repo.set_properties(conn, p["image_id"], props)
        await progress.report(f"Downloading image {remote_id} from {endpoint}")
        async with client.stream("GET", f"{endpoint}/v2/images/{remote_id}/file", headers=headers) as resp:
            if resp.status_code != 200:
                raise Permanent(f"Remote image data not available: HTTP {resp.status_code}")
            written = await _write(dest, _maybe_decompress(rt, resp.aiter_raw(CHUNK), cap), inspector, cap)
    if remote.get("size") is not None and written != remote["size"]:
        raise RuntimeError(f"Remote image data was {written} bytes, expected {remote['size']}")


def refuse(exc: FormatRefused) -> Permanent:
    return Permanent(f"Image content refused by format inspection: {exc}")


async def convert(rt: Runtime, src: Path, src_fmt: str, dst: Path, progress: Progress) -> Verdict:
    """Step 3: qemu-img, always pinned with -f, under limits; the output is inspected again."""
    target = rt.settings.image_conversion.output_format
    policy = safety_policy(rt)
    try:
        info = await qemu_img_info(
            src, src_fmt, QemuLimits(cpu_seconds=10, address_space=1 << 30, wall_seconds=60)
        )
        recheck_info(info, src_fmt, policy)
        loop = asyncio.get_running_loop()
        last = [-1]

        def on_progress(fraction: float) -> None:
            pct = int(fraction * 100)
            if pct >= last[0] + 10:
                last[0] = pct
                loop.create_task(progress.report(f"Converting {src_fmt} to {target}: {pct}%"))

        await qemu_img_convert(src, src_fmt, dst, target,
                               QemuLimits(cpu_seconds=3600, address_space=2 << 30, wall_seconds=3600), on_progress)  # fmt: skip
    except FormatRefused as exc:
        raise refuse(exc) from exc
    except QemuError as exc:
        raise Permanent(f"Image conversion failed: {exc}") from exc
    verdict = await asyncio.get_running_loop().run_in_executor(None, inspect_file, dst, policy)
    try:
        return judge(verdict, target, policy)
    except FormatRefused as exc:
        raise refuse(exc) from exc


def introspection(verdict: Verdict) -> dict[str, str]:
    """Step 4a: what the image's own bytes say, as properties (admins may override them later)."""
    props = {f"{img.INTROSPECTED_PREFIX}format": verdict.format}
    if verdict.virtual_size is not None:
        props[f"{img.INTROSPECTED_PREFIX}virtual_size"] = str(verdict.virtual_size)
    for key, value in verdict.facts.items():
        props[f"{img.INTROSPECTED_PREFIX}{key}"] = str(value)
    return props


def injected(rt: Runtime, roles: list[str]) -> dict[str, str]:
    """Step 4b: operator-configured properties, unless the caller holds an ignored role."""
    opts = rt.settings.inject_metadata_properties
    if "inject_image_metadata" not in rt.settings.image_import_opts.image_import_plugins:
        return {}
    if set(roles) & set(opts.ignore_user_roles):
        return {}
    return {k: v for k, v in opts.inject.items() if not k.startswith(img.RESERVED_PREFIX)}


async def _load(rt: Runtime, image_id: str) -> Image:
    async with rt.db.read() as conn:
        image = await image_repo.get(conn, image_id)
    if image is None or image.status != img.IMPORTING:
        raise Permanent(f"Image {image_id} was deleted or is no longer importing")
    return image


async def _legacy_image(rt: Runtime, job: Job) -> str:
    """The old /v2/tasks import creates its image first (qcow2/bare unless told otherwise)."""
    p = job.payload
    if p.get("image_id"):
        return p["image_id"]
    async with rt.db.read() as conn:
        task = await task_repo.get(conn, p["task_id"])
    if task is None:
        raise Permanent(f"Task {p['task_id']} no longer exists")
    props = dict((task.input or {}).get("image_properties") or {})
    now = image_repo.utcnow()
    # The image's own attributes set its columns (tags its tags, not a property named "tags"); the
    # rest are custom properties, which POST /v2/tasks has checked are strings.
    tags = props.pop("tags", None)
    image = Image(
        id=str(uuid.uuid4()), owner=props.pop("owner", None) or p.get("project_id"), name=props.pop("name", None),
        disk_format=props.pop("disk_format", None) or "qcow2",
        container_format=props.pop("container_format", None) or "bare",
        visibility=props.pop("visibility", None) or "shared", protected=bool(props.pop("protected", False)),
        os_hidden=bool(props.pop("os_hidden", False)), min_disk=props.pop("min_disk", None) or 0,
        min_ram=props.pop("min_ram", None) or 0, tags=sorted(set(tags)) if isinstance(tags, list) else [],
        created_at=now, updated_at=now,
        properties={k: v for k, v in props.items() if isinstance(v, str) and k not in img.READ_ONLY and not k.startswith(img.RESERVED_PREFIX)},
    )  # fmt: skip
    image.properties[LOCK] = p["task_id"]
    async with rt.db.write() as conn:
        await image_repo.insert(conn, image)  # created queued, and imported at once
        await image_repo.transition(conn, image.id, [img.QUEUED], img.IMPORTING)
        await task_repo.update(conn, p["task_id"], image_id=image.id)
        await job_queue.renew(conn, job.id, rt.process_id, 60)
        await job_queue.attach_image(conn, job.id, {**p, "image_id": image.id}, image.id)
    job.payload["image_id"] = image.id
    return image.id


async def _run_import(rt: Runtime, job: Job) -> None:
    p = job.payload
    task_id = p["task_id"]
    progress = Progress(rt, task_id)
    async with rt.db.write() as conn:
        await task_repo.update(conn, task_id, status=PROCESSING)
    image_id = await _legacy_image(rt, job) if p.get("legacy") else p["image_id"]
    if p["method"] == "copy-image":
        await _copy_image(rt, job, image_id, progress)
        return
    clean_work(rt, job.id)
    src = work_dir(rt) / f"{job.id}.src"
    converted = work_dir(rt) / f"{job.id}.converted"
    try:
        image = await _load(rt, image_id)
        verdict = await acquire(rt, job, image_id, src, progress)
        image = await _load(rt, image_id)  # glance-download took the remote image's formats
        claimed = image.disk_format or "raw"
        try:
            verdict = judge(verdict, claimed, safety_policy(rt))
        except FormatRefused as exc:
            raise refuse(exc) from exc
        final_path, final_fmt, container = src, claimed, image.container_format
        target = rt.settings.image_conversion.output_format
        wants_conversion = "image_conversion" in rt.settings.image_import_opts.image_import_plugins
        if wants_conversion and claimed != target and claimed in CONVERTIBLE:
            await progress.report(f"Converting {claimed} to {target}")
            verdict = await convert(rt, src, claimed, converted, progress)
            src.unlink(missing_ok=True)
            final_path, final_fmt, container = converted, target, "bare"
        props = {**introspection(verdict), **injected(rt, p.get("roles", []))}
        await _store_and_activate(
            rt, job, image_id, final_path, final_fmt, container, verdict, props, progress
        )
    finally:
        clean_work(rt, job.id)


async def _put_everywhere(rt: Runtime, store_ids: list[str], key: str, source: AsyncIterator[bytes],
                          size: int | None) -> tuple[list[str], dict[str, str]]:  # fmt: skip
    """Write one stream to several stores in parallel, reading it once. Returns (ok, failed)."""
    fan = Fanout(source, len(store_ids))

    async def one(i: int, store_id: str) -> None:
        store = rt.store(store_id)
        # An earlier attempt that died (kill -9) may have left a finished object it never recorded,
        # or an unfinished one (multipart upload, RBD image without snapshot): both go first.
        await store.delete(key, missing_ok=True)
        await store.discard_partial(key)
        # Closed however the put ends: a store that fails mid-stream stops reading, and until its
        # consumer is closed the pump would wait on its full queue, and the copy hang with it.
        async with contextlib.aclosing(fan.consumer(i)) as chunks:
            await store.put(key, chunks, size=size)

    results = await asyncio.gather(
        fan.pump(), *(one(i, s) for i, s in enumerate(store_ids)), return_exceptions=True
    )
    ok = [s for s, r in zip(store_ids, results[1:], strict=True) if not isinstance(r, BaseException)]
    failed = {s: str(r) or type(r).__name__ for s, r in zip(store_ids, results[1:], strict=True)
              if isinstance(r, BaseException)}  # fmt: skip
    if isinstance(results[0], BaseException):
        await _remove(rt, ok, key)
        if isinstance(results[0], LimitExceeded):
            raise Permanent(f"Image exceeds {results[0].what}") from results[0]
        raise results[0]
    for store_id, why in failed.items():
        log.warning("import of %s into store %s failed: %s", key, store_id, why)
    return ok, failed


async def _remove(rt: Runtime, store_ids: list[str], key: str) -> None:
    for store_id in store_ids:
        await rt.store(store_id).delete(key, missing_ok=True)


def _outcome(job: Job, ok: list[str], failed: dict[str, str]) -> None:
    """all_stores_must_succeed: any failed store fails the import; otherwise one success is enough."""
    if failed and (job.payload.get("all_stores_must_succeed", True) or not ok):
        detail = "; ".join(f"{s}: {why}" for s, why in sorted(failed.items()))
        raise Permanent(f"Import to store(s) failed: {detail}")


async def _record_stores(conn: AsyncConnection, rt: Runtime, job: Job, image: Image, ok: list[str], failed: dict[str, str],
                         props: dict[str, str], message: str) -> None:  # fmt: skip
    """The last step of an import or copy, inside its transaction: a location per store written,
    the failed stores recorded, the lock released, the task done."""
    for store_id in ok:
        url = rt.store(store_id).location_url(image.id)
        await image_repo.add_location(
            conn, image.id, Location(store_id, image.id, url, metadata={"store": store_id})
        )
    earlier = {x for x in image.properties.get(FAILED_IMPORT, "").split(",") if x and x not in ok}
    await image_repo.set_properties(conn, image.id, {
        **props, LOCK: None, IMPORTING_TO: "", FAILED_IMPORT: ",".join(sorted(earlier | set(failed))),
    })  # fmt: skip
    await task_repo.update(conn, job.payload["task_id"], status=SUCCESS, result={"image_id": image.id},
                           message=message, expires_at=task_repo.expiry(rt.settings.task.task_time_to_live))  # fmt: skip


async def _store_and_activate(rt: Runtime, job: Job, image_id: str, path: Path, disk_format: str,
                              container: str | None, verdict: Verdict, props: dict[str, str],
                              progress: Progress) -> None:  # fmt: skip
    """Step 5: hash while streaming into the store(s); one transaction makes it all visible."""
    store_ids = list(job.payload["stores"])
    key = image_id
    stream = DigestingStream(_file_chunks(path), rt.settings.DEFAULT.hashing_algorithm,
                             limits=[(rt.settings.DEFAULT.image_size_cap, "image_size_cap")])  # fmt: skip
    await progress.report(f"Copying to store(s) {', '.join(store_ids)}")
    ok, failed = await _put_everywhere(rt, store_ids, key, stream.__aiter__(), path.stat().st_size)
    try:
        _outcome(job, ok, failed)
        d = stream.digests()
        async with rt.db.write() as conn:
            current = await _still_ours(conn, job, image_id, img.IMPORTING, "import")
            ok_status = await image_repo.transition(
                conn, image_id, [img.IMPORTING], img.ACTIVE, size=d.size, checksum=d.md5, os_hash_algo=d.algo,
                os_hash_value=d.value, virtual_size=verdict.virtual_size, disk_format=disk_format,
                container_format=container,
            )  # fmt: skip
            if not ok_status:
                raise Permanent(f"Image {image_id} changed status during the import")
            await _record_stores(conn, rt, job, current, ok, failed, props, f"Copied {d.size // MiB} MiB")
    except BaseException:
        await _remove(rt, ok, key)
        raise
    await rt.staging.delete(image_id, missing_ok=True)


async def _still_ours(conn: AsyncConnection, job: Job, image_id: str, status: str, what: str) -> Image:
    """In the finishing transaction: the image, locked, still in ``status`` and still held by this
    job's task; otherwise the job ends (the image was deleted, or the lock taken over)."""
    current = await image_repo.get(conn, image_id, for_update=True)
    if (
        current is None
        or current.status != status
        or not import_lock.held_by(current, job.payload["task_id"])
    ):
        raise Permanent(f"Image {image_id} was deleted or changed during the {what}")
    return current


async def _copy_image(rt: Runtime, job: Job, image_id: str, progress: Progress) -> None:
    """copy-image: stream the active image from its best store into the new ones, in parallel."""
    async with rt.db.read() as conn:
        image = await image_repo.get(conn, image_id)
    if image is None or image.status != img.ACTIVE:
        raise Permanent(f"Image {image_id} is not active any more")
    sources = [loc for loc in image.locations if loc.store in rt.stores]
    if not sources:
        raise Permanent(f"Image {image_id} has no data in any configured store")
    best = rt.by_weight([loc.store for loc in sources])[0]
    source_loc = next(loc for loc in sources if loc.store == best)
    targets = [s for s in job.payload["stores"] if s not in {loc.store for loc in image.locations}]
    await progress.report(f"Copying from {best} to {', '.join(targets)}")
    reader = await rt.store(best).open(source_loc.key)
    try:
        ok, failed = await _put_everywhere(rt, targets, image_id, reader.__aiter__(), image.size)
    finally:
        await reader.aclose()
    try:
        _outcome(job, ok, failed)
        async with rt.db.write() as conn:
            current = await _still_ours(conn, job, image_id, img.ACTIVE, "copy")
            message = f"Copied {(image.size or 0) // MiB} MiB to {', '.join(ok)}"
            await _record_stores(conn, rt, job, current, ok, failed, {}, message)
    except BaseException:
        await _remove(rt, ok, image_id)
        raise


async def import_failed(rt: Runtime, job: Job, message: str) -> None:
    """The job will not be retried: image back to queued, failure recorded, nothing left behind."""
    p = job.payload
    image_id = p.get("image_id")
    clean_work(rt, job.id)
    async with rt.db.write() as conn:
        if image_id:
            image = await image_repo.get(conn, image_id)
            if import_lock.held_by(image, p["task_id"]):
                if p.get("method") != "copy-image":
                    await image_repo.transition(
                        conn, image_id, [img.IMPORTING], img.QUEUED, size=None, virtual_size=None
                    )
                failed = {s for s in image.properties.get(FAILED_IMPORT, "").split(",") if s}
                failed.update(p.get("stores", []))
                await image_repo.set_properties(conn, image_id, {
                    LOCK: None, IMPORTING_TO: "", FAILED_IMPORT: ",".join(sorted(failed)),
                })  # fmt: skip
        await task_repo.update(conn, p["task_id"], status=FAILURE, message=message,
                               expires_at=task_repo.expiry(rt.settings.task.task_time_to_live))  # fmt: skip
    if image_id and p.get("method") != "copy-image":
        await rt.staging.delete(image_id, missing_ok=True)


@handler("import", on_failure=import_failed)
async def run_import(rt: Runtime, job: Job) -> None:
    try:
        await _run_import(rt, job)
    except (DecompressionRefused, FormatRefused) as exc:
        raise Permanent(str(exc)) from exc
