"""S3 store (AWS S3, Ceph radosgw, MinIO…): one object per key in one bucket, through boto3.

A put streams with bounded memory: it fills one part while up to ``parts_in_flight`` (4) earlier
parts are sent concurrently on worker threads, so it holds at most (parts_in_flight + 1) parts.
A source that ends before the first part is full becomes a single PUT; otherwise a multipart
upload, whose part size is chosen from the announced size so that it stays under S3's 10,000
parts (never under 5 MiB); with an unknown size the part size doubles every 1,000 parts. Any
failure or cancellation waits for the parts in flight, then aborts the multipart upload (no
orphan parts are billed) or deletes what a single PUT already wrote.

``put`` refuses an existing key: it asks first (HEAD), and also sends ``If-None-Match: *`` with
the final PUT / CompleteMultipartUpload, which servers that support conditional writes (AWS since
2024, recent radosgw) enforce atomically. Older servers ignore it: two puts racing on one key may
then both succeed, the last one winning.

boto3 is blocking; every call goes through ``daguerre.stores.threads.BlockingIO``.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal, TypeVar

import boto3
import botocore.config
import botocore.exceptions

from daguerre.stores import S3_PARTS_IN_FLIGHT
from daguerre.stores.base import (
    Capabilities,
    ObjectReader,
    Store,
    Stored,
    StoreError,
    StoreFull,
    StoreNotFound,
    StoreSizeMismatch,
    StoreUnavailable,
)
from daguerre.stores.inflight import Window
from daguerre.stores.threads import BlockingIO

T = TypeVar("T")


MiB = 1024 * 1024
MIN_PART = 5 * MiB
MAX_PART = 5 * 1024 * MiB
MAX_PARTS = 10_000
DEFAULT_PART = 8 * MiB
READ_CHUNK = 1 * MiB
# Multipart parts sent at once by one put (each on its own worker thread and connection).
PARTS_IN_FLIGHT = S3_PARTS_IN_FLIGHT

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_NO_BUCKET = {"NoSuchBucket"}
_FULL = {"QuotaExceeded", "EntityTooLarge", "InsufficientCapacity"}
_EXISTS = {"412", "PreconditionFailed", "409", "ConditionalRequestConflict"}


def part_size_for(size: int | None, configured: int | None, part_number: int) -> int:
    """The size of part ``part_number`` (1-based)."""
    base = max(configured or DEFAULT_PART, MIN_PART)
    if size is not None:
        need = -(-size // MAX_PARTS)  # ceil
        need = -(-need // MiB) * MiB  # whole MiB
        return min(max(base, need), MAX_PART)
    return min(base << ((part_number - 1) // 1000), MAX_PART)


class S3Reader(ObjectReader):
    def __init__(self, store: S3Store, body: Any, size: int, start: int, end: int) -> None:
        self._store = store
        self._body = body
        self.size = size
        self.start = start
        self.end = end

    async def __aiter__(self) -> AsyncIterator[bytes]:
        remaining = self.end - self.start
        try:
            while remaining > 0:
                data = await self._store._call(self._body.read, min(READ_CHUNK, remaining))  # noqa: SLF001 - a reader is part of its store
                if not data:
                    raise StoreError(f"object ended {remaining} bytes early")
                remaining -= len(data)
                yield data
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            await self._store._io.run(body.close)  # noqa: SLF001 - a reader is part of its store


class S3Store(Store):
    type = "s3"
    capabilities = Capabilities(ranged_reads=True)

    def __init__(
        self,
        id: str,
        endpoint_url: str | None,
        bucket: str,
        access_key: str,
        secret_key: str,
        region: str = "us-east-1",
        addressing_style: Literal["path", "virtual", "auto"] = "path",
        part_size: int | None = None,
        *,
        parts_in_flight: int = PARTS_IN_FLIGHT,
        connect_timeout: float = 10,
        read_timeout: float = 60,
        io: BlockingIO | None = None,
    ) -> None:
        if part_size is not None and not MIN_PART <= part_size <= MAX_PART:
            raise ValueError(f"part_size must be between 5 MiB and 5 GiB, not {part_size}")
        self.id = id
        self.endpoint_url = endpoint_url
        self.bucket = bucket
        self.region = region
        self.part_size = part_size
        if parts_in_flight < 1:
            raise ValueError(f"parts_in_flight must be at least 1, not {parts_in_flight}")
        self.parts_in_flight = parts_in_flight
        # The suite sizes its tests around the part size.
        self.chunk_size = part_size or DEFAULT_PART
        self._io = io or BlockingIO()
        config = botocore.config.Config(
            region_name=region,
            s3={"addressing_style": addressing_style},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=32,
            # Checksums only where the API requires them: what older S3 servers accept too.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._client = _session().client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=config,
        )

    # -- plumbing ---------------------------------------------------------------------------

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            if kwargs:
                return await self._io.run(lambda: fn(*args, **kwargs))
            return await self._io.run(fn, *args)
        except botocore.exceptions.ClientError as exc:
            raise self._map_error(exc) from exc
        except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError) as exc:
            raise StoreUnavailable(f"store {self.id}: cannot reach {self.endpoint_url}: {exc}") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise StoreError(f"store {self.id}: {exc}") from exc

    def _map_error(self, exc: botocore.exceptions.ClientError) -> StoreError:
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _NO_BUCKET:
            return StoreUnavailable(f"store {self.id}: bucket {self.bucket!r} does not exist")
        if code in _NOT_FOUND or status == 404:
            return StoreNotFound(str(exc))
        if code in _FULL:
            return StoreFull(f"store {self.id}: {exc}")
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403") or status >= 500:
            return StoreUnavailable(f"store {self.id}: {exc}")
        return StoreError(f"store {self.id}: {exc}")

    # -- the interface ----------------------------------------------------------------------

    def location_url(self, key: str) -> str:
        return f"s3://{self.id}/{self.bucket}/{key}"

    async def put(self, key: str, chunks: AsyncIterator[bytes], size: int | None = None) -> Stored:
        _check_key(key)
        if await self._exists(key):
            raise StoreError(f"object {key} already exists")
        client, bucket = self._client, self.bucket
        upload_id: str | None = None
        wrote_object = False  # set inside the worker thread, so a cancelled wait still knows
        etags: dict[int, str] = {}
        part_no = 1
        limit = part_size_for(size, self.part_size, part_no)
        # The part being filled, as views of the source's chunks: joined once when it is sent.
        pieces: list[memoryview] = []
        filled = 0
        received = 0
        # Memory: at most ``parts_in_flight`` parts being sent plus the one being filled, i.e.
        # (parts_in_flight + 1) x part size per put (5 x 8 MiB = 40 MiB by default).
        window = Window(self.parts_in_flight)

        def put_object(body: bytes) -> None:
            nonlocal wrote_object
            client.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
            wrote_object = True

        def complete() -> None:
            nonlocal wrote_object
            parts = [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]
            client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}, IfNoneMatch="*"
            )
            wrote_object = True

        def create_upload() -> None:
            # Set inside the worker thread: a cancelled wait must still know what to abort.
            nonlocal upload_id
            upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]

        async def upload_part(number: int, body: bytes) -> None:
            answer = await self._call(
                client.upload_part, Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
            )
            etags[number] = answer["ETag"]

        def take_buffer() -> bytes:
            nonlocal filled
            body = b"".join(pieces)
            pieces.clear()
            filled = 0
            return body

        async def send_part() -> None:
            # Parts go out concurrently (up to parts_in_flight); the source is still read in order.
            nonlocal part_no, limit
            if upload_id is None:
                await self._call(create_upload)
            if part_no > MAX_PARTS:
                raise StoreError(f"object {key} needs more than {MAX_PARTS} parts")
            await window.submit(upload_part, part_no, take_buffer())
            part_no += 1
            limit = part_size_for(size, self.part_size, part_no)

        try:
            async for chunk in chunks:
                if not chunk:
                    continue
                received += len(chunk)
                if size is not None and received > size:
                    raise StoreSizeMismatch(size, received)
                view = memoryview(chunk)
                while view:
                    take = limit - filled
                    piece = view[:take]
                    pieces.append(piece)
                    filled += len(piece)
                    view = view[take:]
                    # Keep a full buffer until more data shows up: if the source ends now, a
                    # single PUT (no multipart) or a last part of this size is what we want.
                    if filled == limit and view:
                        await send_part()
                if filled == limit and size is not None and received < size:
                    await send_part()
            if size is not None and received != size:
                raise StoreSizeMismatch(size, received)
            if upload_id is None:
                await self._call(put_object, take_buffer())
            else:
                if filled or part_no == 1:
                    await send_part()
                await window.drain()
                await self._call(complete)
        except BaseException as exc:
            # Includes cancellation (client gone). Wait for the parts still being sent (their
            # threads cannot be stopped), then abort the upload: no orphan parts.
            await window.abandon()
            if upload_id is not None:
                await self._io.run_quietly(
                    client.abort_multipart_upload, Bucket=bucket, Key=key, UploadId=upload_id
                )
            if wrote_object:
                await self._io.run_quietly(client.delete_object, Bucket=bucket, Key=key)
            if isinstance(exc, StoreError) and isinstance(exc.__cause__, botocore.exceptions.ClientError):
                code = str(exc.__cause__.response.get("Error", {}).get("Code", ""))
                if code in _EXISTS:
                    raise StoreError(f"object {key} already exists") from exc
            raise
        return Stored(key=key, size=received, metadata={})

    async def open(self, key: str, byte_range: tuple[int, int] | None = None) -> ObjectReader:
        _check_key(key)
        head = await self._call(self._client.head_object, Bucket=self.bucket, Key=key)
        size = int(head["ContentLength"])
        start, end = byte_range if byte_range is not None else (0, size)
        if not (0 <= start <= end <= size):
            raise StoreError(f"range {start}-{end} outside object of {size} bytes")
        body = None
        if end > start:
            got = await self._call(
                self._client.get_object,
                Bucket=self.bucket,
                Key=key,
                Range=f"bytes={start}-{end - 1}",
                IfMatch=head["ETag"],  # the object we measured, not one written since
            )
            body = got["Body"]
        return S3Reader(self, body, size, start, end)

    async def stat(self, key: str) -> int:
        _check_key(key)
        head = await self._call(self._client.head_object, Bucket=self.bucket, Key=key)
        return int(head["ContentLength"])

    async def _exists(self, key: str) -> bool:
        try:
            await self.stat(key)
        except StoreNotFound:
            return False
        return True

    async def delete(self, key: str, missing_ok: bool = False) -> None:
        _check_key(key)
        if not missing_ok:
            await self.stat(key)  # S3 deletes of missing keys succeed; ours say StoreNotFound
        await self._call(self._client.delete_object, Bucket=self.bucket, Key=key)

    async def list_keys(self) -> list[str]:
        def keys() -> list[str]:
            out: list[str] = []
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
                out.extend(o["Key"] for o in page.get("Contents", []))
            return out

        return sorted(await self._call(keys))

    async def discard_partial(self, key: str) -> None:
        def abort() -> None:
            pages = self._client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=key
            )
            for page in pages:
                for u in page.get("Uploads", []):
                    if u["Key"] == key:
                        self._client.abort_multipart_upload(
                            Bucket=self.bucket, Key=key, UploadId=u["UploadId"]
                        )

        await self._call(abort)

    async def list_uploads(self) -> list[str]:
        """Multipart uploads in progress (or orphaned) in the bucket, as 'key:upload-id'."""

        def uploads() -> list[str]:
            out: list[str] = []
            for page in self._client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket):
                out.extend(f"{u['Key']}:{u['UploadId']}" for u in page.get("Uploads", []))
            return out

        return sorted(await self._call(uploads))

    async def check(self) -> None:
        try:
            await self._call(self._client.head_bucket, Bucket=self.bucket)
        except StoreNotFound as exc:
            raise StoreUnavailable(f"store {self.id}: bucket {self.bucket!r} does not exist") from exc
        probe = f".daguerre-check-{secrets.token_hex(4)}"
        try:
            await self._call(self._client.put_object, Bucket=self.bucket, Key=probe, Body=b"ok")
            await self._call(self._client.delete_object, Bucket=self.bucket, Key=probe)
        except StoreUnavailable:
            raise
        except StoreError as exc:
            raise StoreUnavailable(f"store {self.id}: bucket {self.bucket!r} is not writable: {exc}") from exc

    async def close(self) -> None:
        await self._io.run(self._client.close)


_SESSION: boto3.session.Session | None = None


def _session() -> boto3.session.Session:
    """One boto3 session per process: it caches the service models, so a client costs ~ms
    instead of ~0.3 s. Clients are made on the event loop's thread only (sessions are not
    thread-safe; clients are)."""
    global _SESSION
    if _SESSION is None:
        _SESSION = boto3.session.Session()
    return _SESSION


def _check_key(key: str) -> None:
    if not key or "\x00" in key or len(key.encode()) > 1024:
        raise StoreError(f"invalid key {key!r}")
