"""The configured stores: ``[DEFAULT] enabled_backends`` and each store's section, read into one
frozen config per driver, checked at start-up, and built into stores.

Options keep Glance's names (``[fast] rbd_store_pool = images``) and are read as oslo.config
reads them: surrounding blanks are ignored, integers are whole numbers, booleans are
true/false, yes/no, on/off or 1/0 in any case, and an empty value means the default. Options a
driver does not take are ignored, as oslo.config ignores options nobody registered. A value
that cannot be used is a :class:`~daguerre.settings.SettingsError` naming the section and the
option, at start-up, never a traceback on the first request.

Without ``enabled_backends`` (Glance's single-store mode) there is one filesystem store,
``file``, under ``[glance_store] filesystem_store_datadir``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from daguerre.fetch.client import FetchLimits
from daguerre.settings import ImportFilteringSection, Settings, SettingsError
from daguerre.stores import RESERVED_PREFIX, S3_PARTS_IN_FLIGHT, STAGING_KEY_PREFIX, STAGING_STORE
from daguerre.stores import rbd as rbd_driver
from daguerre.stores.base import Store
from daguerre.stores.filesystem import FilesystemStore
from daguerre.stores.http import HttpStore
from daguerre.stores.prefixed import PrefixedStore

_TRUE = ("true", "1", "on", "yes")  # oslo.config's Boolean spellings
_FALSE = ("false", "0", "off", "no")


def _opt(default: typing.Any = dataclasses.MISSING, *, min: int | None = None, unit: str = "",
         choices: tuple[str, ...] = (), check: typing.Callable[[typing.Any], str | None] | None = None,
         ) -> typing.Any:  # fmt: skip
    """A store option: its default (none: required), and what a usable value is."""
    return field(default=default, metadata={"min": min, "unit": unit, "choices": choices, "check": check})


@dataclass(frozen=True, kw_only=True)
class StoreConfig:
    """What every store section has. ``name`` is the store's id; ``section`` the config section
    its options come from (the id, or ``glance_store`` for the single store)."""

    name: str
    section: str
    # Reads and direct_url prefer heavier stores (Glance's weight).
    weight: int = _opt(0)

    type: typing.ClassVar[str]


@dataclass(frozen=True, kw_only=True)
class FilesystemConfig(StoreConfig):
    type = "file"
    filesystem_store_datadir: Path


def _rbd_chunk(mib: int) -> str | None:
    if mib & (mib - 1) or mib > 32:
        return f"must be a power of two from 1 to 32 (MiB), not {mib}"
    return None


@dataclass(frozen=True, kw_only=True)
class RbdConfig(StoreConfig):
    type = "rbd"
    rbd_store_pool: str = _opt("images")
    rbd_store_ceph_conf: str = _opt("/etc/ceph/ceph.conf")
    rbd_store_user: str = _opt("admin")
    rbd_store_keyring: str | None = _opt(None)
    # The RBD object size, in MiB (as Glance's): the write unit.
    rbd_store_chunk_size: int = _opt(rbd_driver.DEFAULT_CHUNK_SIZE // 2**20, min=1, unit="MiB",
                                     check=_rbd_chunk)  # fmt: skip
    rbd_store_writes_in_flight: int = _opt(rbd_driver.WRITES_IN_FLIGHT, min=1)
    rbd_store_read_ahead: int = _opt(rbd_driver.READ_AHEAD, min=1)
    rbd_store_op_timeout: int = _opt(rbd_driver.OP_TIMEOUT, min=1, unit="seconds")


def _endpoint(url: str) -> str | None:
    if not url.lower().startswith(("http://", "https://")) or len(url.split("://", 1)[1]) == 0:
        return f"must be a URL such as http://radosgw.example:7480, not {url!r}"
    return None


@dataclass(frozen=True, kw_only=True)
class S3Config(StoreConfig):
    type = "s3"
    s3_store_host: str = _opt(check=_endpoint)
    s3_store_bucket: str = _opt()
    s3_store_access_key: str = _opt()
    s3_store_secret_key: str = _opt()
    s3_store_region_name: str = _opt("us-east-1")
    s3_store_bucket_url_format: str = _opt("path", choices=("path", "virtual", "auto"))
    s3_store_parts_in_flight: int = _opt(S3_PARTS_IN_FLIGHT, min=1)
    s3_store_connect_timeout: int = _opt(10, min=1, unit="seconds")
    s3_store_read_timeout: int = _opt(60, min=1, unit="seconds")


@dataclass(frozen=True, kw_only=True)
class HttpConfig(StoreConfig):
    """The http store reads ``[import_filtering_opts]`` (an http location may only point where a
    web-download could) and ``[DEFAULT] image_size_cap``; its own section holds only weight."""

    type = "http"
    # Not options of the store's section: read_config is given them.
    filtering: ImportFilteringSection = field(metadata={"option": False})
    image_size_cap: int = field(metadata={"option": False})


CONFIGS: dict[str, type[StoreConfig]] = {
    c.type: c for c in (FilesystemConfig, RbdConfig, S3Config, HttpConfig)
}


# --- reading sections --------------------------------------------------------------------------


def _value(text: str, tp: typing.Any, meta: Mapping[str, typing.Any]) -> typing.Any:
    """One option's value from its text, or ValueError saying what a usable value is."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if tp is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"must be true or false, not {text!r}")
    if tp is int:
        unit = f" of {meta['unit']}" if meta.get("unit") else ""
        bound = f" ≥ {meta['min']}" if meta.get("min") is not None else ""
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or (meta.get("min") is not None and value < meta["min"]):
            raise ValueError(f"must be a whole number{unit}{bound}, not {text!r}")
        return value
    if tp is Path:
        return Path(text)
    if meta.get("choices") and text not in meta["choices"]:
        raise ValueError(f"must be one of {', '.join(meta['choices'])}, not {text!r}")
    return text


def read_config(kind: str, name: str, options: Mapping[str, str], **given: typing.Any) -> StoreConfig:
    """The config of store ``name`` of type ``kind`` from its section's raw ``options``; ``given``
    fills fields that come from elsewhere (and their defaults)."""
    try:
        cls = CONFIGS[kind]
    except KeyError:
        raise SettingsError(
            f"[DEFAULT] enabled_backends: unknown store type {kind!r} for {name} "
            f"(one of {', '.join(CONFIGS)})"
        ) from None
    section = given.pop("section", name)
    hints = typing.get_type_hints(cls)
    values: dict[str, typing.Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in ("name", "section"):
            continue
        if f.metadata.get("option") is False:
            values[f.name] = given[f.name]
            continue
        text = (options.get(f.name) or "").strip()
        if not text:
            if f.name in given:
                values[f.name] = given[f.name]
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SettingsError(f"[{section}] {f.name}: required for a store of type {kind}")
            continue
        try:
            value = _value(text, hints[f.name], f.metadata)
            problem = f.metadata["check"](value) if f.metadata.get("check") else None
        except ValueError as exc:
            problem = str(exc)
        if problem:
            raise SettingsError(f"[{section}] {f.name}: {problem}")
        values[f.name] = value
    return cls(name=name, section=section, **values)


def read_configs(settings: Settings) -> dict[str, StoreConfig]:
    """Every configured store's config, in enabled_backends order."""
    if not settings.DEFAULT.enabled_backends:
        cfg = FilesystemConfig(
            name="file", section="glance_store", filesystem_store_datadir=settings.images_dir
        )
        return {"file": cfg}
    configs: dict[str, StoreConfig] = {}
    for name, kind in settings.DEFAULT.enabled_backends.items():
        if name.startswith(RESERVED_PREFIX):
            raise SettingsError(f"[DEFAULT] enabled_backends: store identifiers starting with "
                                f"{RESERVED_PREFIX!r} are reserved, not {name!r}")  # fmt: skip
        options = settings.backends.get(name, {})
        given: dict[str, typing.Any]
        if kind == "file":
            given = {"filesystem_store_datadir": settings.data_dir / "stores" / name}
        elif kind == "http":
            given = {"filtering": settings.import_filtering_opts,
                     "image_size_cap": settings.DEFAULT.image_size_cap}  # fmt: skip
        else:
            given = {}
        configs[name] = read_config(kind, name, options, **given)
    return configs


# --- building stores ---------------------------------------------------------------------------


def build_store(cfg: StoreConfig) -> Store:
    """The store a config describes. What only shows when the driver starts (a directory that
    cannot be made, missing Ceph bindings) is a SettingsError naming the section too."""
    try:
        if isinstance(cfg, FilesystemConfig):
            return FilesystemStore(cfg.name, cfg.filesystem_store_datadir)
        if isinstance(cfg, RbdConfig):
            return rbd_driver.RbdStore(
                cfg.name,
                pool=cfg.rbd_store_pool,
                conffile=cfg.rbd_store_ceph_conf,
                user=cfg.rbd_store_user,
                keyring=cfg.rbd_store_keyring,
                chunk_size=cfg.rbd_store_chunk_size * 2**20,
                writes_in_flight=cfg.rbd_store_writes_in_flight,
                read_ahead=cfg.rbd_store_read_ahead,
                op_timeout=cfg.rbd_store_op_timeout,
            )
        if isinstance(cfg, S3Config):
            # boto3 costs ~0.15 s to import: only a process with an s3 store loads it.
            from daguerre.stores import s3 as s3_driver  # noqa: PLC0415

            return s3_driver.S3Store(
                cfg.name,
                endpoint_url=cfg.s3_store_host,
                bucket=cfg.s3_store_bucket,
                access_key=cfg.s3_store_access_key,
                secret_key=cfg.s3_store_secret_key,
                region=cfg.s3_store_region_name,
                addressing_style=cfg.s3_store_bucket_url_format,  # type: ignore[arg-type]
                parts_in_flight=cfg.s3_store_parts_in_flight,
                connect_timeout=cfg.s3_store_connect_timeout,
                read_timeout=cfg.s3_store_read_timeout,
            )
        if isinstance(cfg, HttpConfig):
            return HttpStore(
                cfg.name, cfg.filtering, FetchLimits.from_section(cfg.filtering, cfg.image_size_cap)
            )
    except OSError as exc:
        if isinstance(cfg, FilesystemConfig):
            raise SettingsError(f"[{cfg.section}] filesystem_store_datadir: cannot use "
                                f"{cfg.filesystem_store_datadir}: {exc.strerror or exc}") from None  # fmt: skip
        raise SettingsError(f"[{cfg.section}] {exc}") from None
    except ImportError as exc:
        raise SettingsError(f"[{cfg.section}] is an {cfg.type} store, but {exc}") from None
    except ValueError as exc:
        raise SettingsError(f"[{cfg.section}] {exc}") from None
    raise SettingsError(f"[{cfg.section}] no driver for store type {cfg.type!r}")


def default_store(settings: Settings, stores: Mapping[str, Store]) -> str:
    default = settings.glance_store.default_backend or settings.glance_store.default_store
    option = "default_backend" if settings.DEFAULT.enabled_backends else "default_store"
    if default not in stores:
        raise SettingsError(f"[glance_store] {option}: {default!r} is not one of enabled_backends")
    if not stores[default].capabilities.writable:
        raise SettingsError(
            f"[glance_store] {option}: {default!r} is a read-only ({stores[default].type}) store"
        )
    return default


def build_stores(settings: Settings) -> tuple[dict[str, Store], str]:
    """Every configured store, and the id of the default one."""
    stores = {name: build_store(cfg) for name, cfg in read_configs(settings).items()}
    return stores, default_store(settings, stores)


def store_weights(settings: Settings) -> dict[str, int]:
    return {name: cfg.weight for name, cfg in read_configs(settings).items()}


def build_staging(settings: Settings, stores: Mapping[str, Store]) -> Store:
    """Staged data: ``<data_dir>/staging`` on this host, or ``[DEFAULT] staging_backend``'s store
    under a key prefix, so every host can import what any host staged."""
    name = settings.DEFAULT.staging_backend
    if not name:
        return FilesystemStore(STAGING_STORE, settings.staging_dir)
    if name not in stores:
        raise SettingsError(f"[DEFAULT] staging_backend: {name!r} is not one of enabled_backends")
    if not stores[name].capabilities.writable:
        raise SettingsError(f"[DEFAULT] staging_backend: {name!r} is a read-only ({stores[name].type}) store")
    return PrefixedStore(stores[name], STAGING_KEY_PREFIX, STAGING_STORE)
