"""Typed settings.

Read from an INI file that uses Glance's section and option names wherever the concept is the
same (so an operator's glance-api.conf carries over), then overridden by environment variables
``DAGUERRE_<SECTION>__<OPTION>`` (e.g. ``DAGUERRE_AUTH__STRATEGY=trusted-headers``). Unknown
options are ignored, as oslo.config does for options a service does not register.
"""

from __future__ import annotations

import configparser
import dataclasses
import ipaddress
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
DEFAULT_CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")


class SettingsError(ValueError):
    pass


@dataclass
class DefaultSection:
    bind_host: str = "127.0.0.1"
    bind_port: int = 9292
    data_dir: str = "./data"
    image_size_cap: int = 1099511627776
    user_storage_quota: str = "0"
    image_member_quota: int = 128
    image_property_quota: int = 128
    image_tag_quota: int = 128
    image_location_quota: int = 10
    limit_param_default: int = 25
    api_limit_max: int = 1000
    hashing_algorithm: str = "sha512"
    enabled_import_methods: tuple[str, ...] = ("glance-direct", "web-download")
    show_image_direct_url: bool = False
    show_multiple_locations: bool = False
    # Locations API (POST /v2/images/{id}/locations): hash the data at the URL, retrying reads.
    do_secure_hash: bool = True
    http_retries: int = 3
    public_endpoint: str = ""
    enabled_backends: dict[str, str] = field(default_factory=dict)
    worker_self_reference_url: str = ""
    max_request_id_length: int = 64
    # Multi-host: a store from enabled_backends that holds staged data, so any host can import it.
    staging_backend: str = ""
    # A local cache of image data on this node; enables the /v2/cache API. Empty: no cache.
    image_cache_dir: str = ""
    # In-process import/conversion workers; `daguerre worker` adds more elsewhere.
    workers: int = 2


@dataclass
class DatabaseSection:
    # Empty means SQLite under data_dir.
    connection: str = ""
    pool_size: int = 10


@dataclass
class AuthSection:
    strategy: str = "noauth"  # noauth | trusted-headers | keystone


@dataclass
class ImageFormatSection:
    disk_formats: tuple[str, ...] = DEFAULT_DISK_FORMATS
    container_formats: tuple[str, ...] = DEFAULT_CONTAINER_FORMATS
    max_virtual_size: int = 16 * 2**40
    # Named safety checks an operator chooses to relax; each firing is logged.
    relaxed_checks: tuple[str, ...] = ()
    vmdk_allowed_types: tuple[str, ...] = ("streamOptimized", "monolithicSparse")
    # Off: refuse nothing on format grounds (Glance's require_image_format_match=False);
    # intrinsic safety failures are still refused.
    require_image_format_match: bool = True


@dataclass
class GlanceStoreSection:
    default_store: str = "file"
    # Multi-store: the backend that receives data when the request names none.
    default_backend: str = ""
    filesystem_store_datadir: str = ""


@dataclass
class OsloPolicySection:
    policy_file: str = ""
    enforce_scope: bool = True
    enforce_new_defaults: bool = True


@dataclass
class ImageImportSection:
    image_import_plugins: tuple[str, ...] = ()


@dataclass
class ImageConversionSection:
    output_format: str = "raw"


@dataclass
class InjectMetadataSection:
    inject: dict[str, str] = field(default_factory=dict)
    ignore_user_roles: tuple[str, ...] = ("admin",)


@dataclass
class ImportFilteringSection:
    """Glance's web-download URL filter; ``daguerre.fetch.filter`` reads this section as it is."""

    allowed_schemes: tuple[str, ...] = ("http", "https")
    disallowed_schemes: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    disallowed_hosts: tuple[str, ...] = ()
    allowed_ports: tuple[int, ...] = (80, 443)
    disallowed_ports: tuple[int, ...] = ()
    # Daguerre extension: CIDRs whose addresses may be fetched from even though they are
    # loopback, private, link-local ...
    allowed_networks: tuple[str, ...] = ()
    max_download_size: int = 0  # 0: image_size_cap
    connect_timeout: float = 10.0
    idle_timeout: float = 60.0
    # URL imports per project per minute; 0 disables the limit.
    rate_limit_per_minute: int = 30


@dataclass
class GlanceDownloadSection:
    # Remote image properties copied by glance-download, by name prefix.
    extra_properties: tuple[str, ...] = ("hw_", "trait:", "os_distro", "os_secure_boot", "os_type")


@dataclass
class TaskSection:
    task_time_to_live: int = 48


@dataclass
class Settings:
    DEFAULT: DefaultSection = field(default_factory=DefaultSection)
    database: DatabaseSection = field(default_factory=DatabaseSection)
    auth: AuthSection = field(default_factory=AuthSection)
    image_format: ImageFormatSection = field(default_factory=ImageFormatSection)
    glance_store: GlanceStoreSection = field(default_factory=GlanceStoreSection)
    oslo_policy: OsloPolicySection = field(default_factory=OsloPolicySection)
    image_import_opts: ImageImportSection = field(default_factory=ImageImportSection)
    image_conversion: ImageConversionSection = field(default_factory=ImageConversionSection)
    inject_metadata_properties: InjectMetadataSection = field(default_factory=InjectMetadataSection)
    import_filtering_opts: ImportFilteringSection = field(default_factory=ImportFilteringSection)
    task: TaskSection = field(default_factory=TaskSection)
    glance_download_properties: GlanceDownloadSection = field(default_factory=GlanceDownloadSection)
    # Free-form sections handed to components that own them (keystonemiddleware names, stores).
    keystone_authtoken: dict[str, str] = field(default_factory=dict)
    backends: dict[str, dict[str, str]] = field(default_factory=dict)
    config_file: str | None = None

    # --- derived values -------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return Path(self.DEFAULT.data_dir).resolve()

    @property
    def database_url(self) -> str:
        return self.database.connection or f"sqlite+aiosqlite:///{self.data_dir / 'daguerre.db'}"

    @property
    def images_dir(self) -> Path:
        return Path(self.glance_store.filesystem_store_datadir or self.data_dir / "images").resolve()

    @property
    def staging_dir(self) -> Path:
        return self.data_dir / "staging"

    @property
    def storage_quota_bytes(self) -> int:
        return parse_byte_size(self.DEFAULT.user_storage_quota)


def parse_byte_size(text: str) -> int:
    text = text.strip().upper()
    units = {"TB": 2**40, "GB": 2**30, "MB": 2**20, "KB": 2**10, "B": 1}
    for suffix, mult in units.items():
        if text.endswith(suffix):
            return int(text[: -len(suffix)].strip() or 0) * mult
    return int(text or 0)


def _convert(raw: str, tp: typing.Any, where: str) -> typing.Any:
    origin = typing.get_origin(tp)
    try:
        if tp is bool:
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if tp is int:
            return int(raw.strip())
        if tp is float:
            return float(raw.strip())
        if tp is str:
            return raw.strip()
        if origin is tuple:
            inner = typing.get_args(tp)[0]
            items = [p.strip() for p in raw.split(",") if p.strip()]
            return tuple(_convert(p, inner, where) for p in items)
        if origin is dict:
            out = {}
            for part in raw.split(","):
                if not part.strip():
                    continue
                k, sep, v = part.partition(":")
                if not sep:
                    raise ValueError(part)
                out[k.strip()] = v.strip()
            return out
    except ValueError as exc:
        raise SettingsError(f"{where}: cannot read {raw!r} as {tp}") from exc
    raise SettingsError(f"{where}: unsupported option type {tp}")


def _apply(section_obj: typing.Any, section_name: str, values: dict[str, str]) -> None:
    hints = typing.get_type_hints(type(section_obj))
    for f in dataclasses.fields(section_obj):
        if f.name in values:
            setattr(
                section_obj, f.name, _convert(values[f.name], hints[f.name], f"[{section_name}] {f.name}")
            )


def load_settings(
    config_file: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None
) -> Settings:
    env = dict(os.environ if env is None else env)
    raw: dict[str, dict[str, str]] = {}
    if config_file:
        # strict=False: a section may appear more than once (later options win), as oslo.config allows.
        parser = configparser.ConfigParser(interpolation=None, default_section="__none__", strict=False)
        parser.optionxform = str.lower  # type: ignore[assignment,method-assign]
        if not parser.read(config_file):
            raise SettingsError(f"cannot read config file {config_file}")
        for sect in parser.sections():
            raw.setdefault(sect, {}).update(parser[sect])
    for key, value in env.items():
        if key.startswith("DAGUERRE_") and "__" in key:
            sect, _, opt = key[len("DAGUERRE_") :].partition("__")
            sect = "DEFAULT" if sect.upper() == "DEFAULT" else sect.lower()
            raw.setdefault(sect, {})[opt.lower()] = value

    settings = Settings(config_file=str(config_file) if config_file else None)
    hints = typing.get_type_hints(Settings)
    for f in dataclasses.fields(Settings):
        if f.name not in raw:
            continue
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            _apply(getattr(settings, f.name), f.name, raw[f.name])
        elif f.name == "keystone_authtoken":
            settings.keystone_authtoken = dict(raw[f.name])
    # Per-backend sections named after enabled_backends keys, e.g. [fast] rbd_store_pool = images.
    for name in settings.DEFAULT.enabled_backends:
        settings.backends[name] = dict(raw.get(name, {}))
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    fmt = settings.image_format
    if not fmt.disk_formats or not fmt.container_formats:
        raise SettingsError("[image_format] disk_formats and container_formats may not be empty")
    if settings.auth.strategy not in ("noauth", "trusted-headers", "keystone"):
        raise SettingsError(
            f"[auth] strategy must be noauth, trusted-headers or keystone, not {settings.auth.strategy!r}"
        )
    if settings.DEFAULT.hashing_algorithm not in (
        "sha512",
        "sha384",
        "sha256",
        "sha1",
        "md5",
        "sha3_512",
        "blake2b",
    ):
        raise SettingsError(
            f"[DEFAULT] hashing_algorithm {settings.DEFAULT.hashing_algorithm!r} is not supported"
        )
    if settings.image_conversion.output_format not in ("raw", "qcow2", "vmdk"):
        raise SettingsError("[image_conversion] output_format must be raw, qcow2 or vmdk")
    for cidr in settings.import_filtering_opts.allowed_networks:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise SettingsError(
                f"[import_filtering_opts] allowed_networks: {cidr!r} is not a network (e.g. 10.0.0.0/8)"
            ) from None
    for method in settings.DEFAULT.enabled_import_methods:
        if method not in ("glance-direct", "web-download", "copy-image", "glance-download"):
            raise SettingsError(f"[DEFAULT] enabled_import_methods: unknown method {method!r}")
