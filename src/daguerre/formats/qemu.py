"""Running qemu-img safely: format always pinned with ``-f``, resource limits
(RLIMIT_CPU / RLIMIT_AS set in the child, which also dies with its parent), wall-clock timeout,
and a re-check of qemu's JSON against our rule."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import json
import logging
import os
import re
import resource
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass

from .model import FormatRefused, SafetyFailure, SafetyPolicy

log = logging.getLogger("daguerre.formats")

QEMU_IMG = "qemu-img"
MAX_OUTPUT = 4 * 1024 * 1024
_PROGRESS = re.compile(rb"\((\d+(?:\.\d+)?)/100%\)")
# our disk_format names -> qemu driver names
QEMU_FORMATS = {
    "raw": "raw",
    "ami": "raw",
    "aki": "raw",
    "ari": "raw",
    "iso": "raw",
    "gpt": "raw",
    "qcow2": "qcow2",
    "vmdk": "vmdk",
    "vhd": "vpc",
    "vpc": "vpc",
    "vhdx": "vhdx",
    "vdi": "vdi",
    "ploop": "parallels",
    "parallels": "parallels",
    "qed": "qed",
    "luks": "luks",
}


class QemuError(Exception):
    """qemu-img failed, timed out or produced unusable output."""


@dataclass(frozen=True)
class QemuLimits:
    cpu_seconds: int = 30
    address_space: int = 1 << 30
    wall_seconds: float = 120


def qemu_format(fmt: str) -> str:
    try:
        return QEMU_FORMATS[fmt.lower()]
    except KeyError:
        raise QemuError(f"no qemu driver for disk format {fmt!r}") from None


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask the kernel to SIGKILL the child when its parent dies (a server killed with kill -9
    must not leave a conversion running and writing into a file that start-up removes)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:  # pragma: no cover - not Linux
        pass


def _command(args: list[str], limits: QemuLimits) -> tuple[list[str], Callable[[], None] | None]:
    exe = shutil.which(QEMU_IMG) or QEMU_IMG

    def preexec() -> None:
        _die_with_parent()
        resource.setrlimit(resource.RLIMIT_CPU, (int(limits.cpu_seconds), int(limits.cpu_seconds)))
        resource.setrlimit(resource.RLIMIT_AS, (int(limits.address_space), int(limits.address_space)))

    return [exe, *args], preexec


async def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, 9)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()


async def _run(
    args: list[str],
    limits: QemuLimits,
    on_stdout: Callable[[bytes], None] | None = None,
) -> bytes:
    cmd, preexec = _command(args, limits)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=preexec,
            start_new_session=True,
            env=env,
        )
    except OSError as exc:
        raise QemuError(f"cannot run qemu-img: {exc}") from exc

    out = bytearray()
    err = bytearray()

    async def read_stdout() -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(65536):
            if on_stdout is not None:
                on_stdout(chunk)
            if len(out) < MAX_OUTPUT:
                out.extend(chunk[: MAX_OUTPUT - len(out)])

    async def read_stderr() -> None:
        assert proc.stderr is not None
        while chunk := await proc.stderr.read(65536):
            if len(err) < 65536:
                err.extend(chunk[: 65536 - len(err)])

    try:
        await asyncio.wait_for(asyncio.gather(read_stdout(), read_stderr(), proc.wait()), limits.wall_seconds)
    except TimeoutError:
        await _kill(proc)
        raise QemuError(f"qemu-img {args[0]} exceeded its {limits.wall_seconds}s wall-clock limit") from None
    except BaseException:
        await _kill(proc)
        raise
    if proc.returncode != 0:
        msg = err.decode("utf-8", "replace").strip().splitlines()
        detail = msg[-1] if msg else f"exit status {proc.returncode}"
        if proc.returncode in (-9, -24, 137, 152):  # SIGKILL / SIGXCPU
            detail += " (killed: resource limit)"
        raise QemuError(f"qemu-img {args[0]} failed: {detail}")
    return bytes(out)


async def qemu_img_info(path: str | os.PathLike[str], fmt: str, limits: QemuLimits = QemuLimits()) -> dict:
    """``qemu-img info -f <fmt> --output=json`` under limits; never probes."""
    out = await _run(["info", "-f", qemu_format(fmt), "--output=json", os.fspath(path)], limits)
    try:
        info = json.loads(out)
    except ValueError as exc:
        raise QemuError("qemu-img info printed invalid JSON") from exc
    if not isinstance(info, dict):
        raise QemuError("qemu-img info printed unexpected JSON")
    return info


def recheck_info(info: dict, claimed: str, policy: SafetyPolicy) -> None:
    """Refuse what qemu's own view of the image shows to be unsafe."""
    failures: list[SafetyFailure] = []
    want = QEMU_FORMATS.get((claimed or "").lower())
    got = info.get("format")
    if want is None or got != want:
        failures.append(SafetyFailure("format_mismatch", f"qemu reads the image as {got}, not {claimed}"))
    if info.get("backing-filename") or info.get("full-backing-filename") or info.get("backing-image"):
        failures.append(SafetyFailure("qemu.backing_file", "qemu reports a backing file"))
    fs = info.get("format-specific") or {}
    data = fs.get("data") if isinstance(fs, dict) else None
    data = data if isinstance(data, dict) else {}
    if data.get("data-file") or data.get("data-file-raw"):
        failures.append(SafetyFailure("qemu.data_file", "qemu reports an external data file"))
    if info.get("encrypted"):
        failures.append(SafetyFailure("qemu.encrypted", "qemu reports an encrypted image"))
    if got == "vmdk":
        ctype = data.get("create-type")
        allowed = {t.lower() for t in policy.vmdk_allowed_types}
        if not isinstance(ctype, str) or ctype.lower() not in allowed:
            failures.append(SafetyFailure("vmdk.create_type", f"VMDK create type {ctype!r} is not allowed"))
        extents = data.get("extents") or []
        if len(extents) > 1 or any(
            isinstance(e, dict) and e.get("filename") not in (None, info.get("filename")) for e in extents
        ):
            failures.append(SafetyFailure("qemu.vmdk_extent", "qemu reports VMDK extents in other files"))
        if data.get("parent-cid") not in (None, 0xFFFFFFFF):
            failures.append(SafetyFailure("vmdk.parent", "qemu reports a VMDK parent"))
    vsize = info.get("virtual-size")
    if isinstance(vsize, int) and vsize > policy.max_virtual_size:
        failures.append(
            SafetyFailure(
                "virtual_size_limit", f"virtual size {vsize} exceeds {policy.max_virtual_size} bytes"
            )
        )
    fatal = []
    for f in failures:
        if f.check in policy.relaxed_checks:
            log.warning("relaxed qemu check %s fired (claimed %s): %s", f.check, claimed, f.message)
        else:
            fatal.append(f)
    if fatal:
        raise FormatRefused(tuple(fatal), got if isinstance(got, str) else None)


async def qemu_img_convert(
    src: str | os.PathLike[str],
    src_fmt: str,
    dst: str | os.PathLike[str],
    dst_fmt: str,
    limits: QemuLimits,
    progress: Callable[[float], None] | None = None,
) -> None:
    """``qemu-img convert -f src_fmt -O dst_fmt`` under limits.

    ``progress`` (if given) receives fractions 0.0..1.0 parsed from ``-p``.
    Zero regions stay sparse (qemu's default). ``dst`` is removed on failure.
    """
    args = ["convert", "-f", qemu_format(src_fmt), "-O", qemu_format(dst_fmt)]
    if progress is not None:
        args.append("-p")
    args += [os.fspath(src), os.fspath(dst)]
    pending = bytearray()

    def on_stdout(chunk: bytes) -> None:
        if progress is None:
            return
        pending.extend(chunk)
        text = bytes(pending)
        matches = list(_PROGRESS.finditer(text))
        if not matches:
            if len(pending) > 4096:
                del pending[:-64]
            return
        del pending[: matches[-1].end()]
        value = min(1.0, float(matches[-1].group(1)) / 100.0)
        try:
            progress(value)
        except Exception:  # a broken callback must not leave qemu-img running unattended
            log.exception("qemu-img convert progress callback failed")

    try:
        await _run(args, limits, on_stdout)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(dst)
        raise


__all__ = ["QemuError", "QemuLimits", "qemu_img_convert", "qemu_img_info", "recheck_info", "qemu_format"]
