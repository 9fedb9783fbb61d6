"""The store registry: store sections read into typed configs, checked at start-up, built into stores."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from daguerre.settings import SettingsError, load_settings
from daguerre.stores import STAGING_KEY_PREFIX, STAGING_STORE
from daguerre.stores.filesystem import FilesystemStore
from daguerre.stores.http import HttpStore
from daguerre.stores.prefixed import PrefixedStore
from daguerre.stores.rbd import RbdStore, load_bindings
from daguerre.stores.registry import (
    RbdConfig,
    _value,
    build_staging,
    build_stores,
    read_configs,
    store_weights,
)
from daguerre.stores.s3 import S3Store
from daguerre.testing.store_suite import StoreSuite

S3_OPTIONS = {
    "s3_store_host": "http://127.0.0.1:1",
    "s3_store_bucket": "images",
    "s3_store_access_key": "ak",
    "s3_store_secret_key": "sk",
}


def write_conf(tmp_path: Path, backends: dict[str, str], sections: dict[str, dict[str, str]],
               default: str | None = None, extra: str = "") -> Path:  # fmt: skip
    lines = ["[DEFAULT]", f"data_dir = {tmp_path / 'data'}"]
    if backends:
        lines.append("enabled_backends = " + ", ".join(f"{n}:{k}" for n, k in backends.items()))
        lines += ["[glance_store]", f"default_backend = {default or next(iter(backends))}"]
    for name, options in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {v}" for k, v in options.items()]
    conf = tmp_path / "daguerre.conf"
    conf.write_text("\n".join(lines) + "\n" + extra)
    return conf


def settings_for(tmp_path: Path, backends: dict[str, str], sections: dict[str, dict[str, str]],
                 default: str | None = None, extra: str = ""):  # fmt: skip
    return load_settings(write_conf(tmp_path, backends, sections, default, extra), env={})


# --- every bad option of every driver is a SettingsError naming its section and option ----------

BAD = [
    # (type, option, value, what the message says after "[section] option: ")
    ("file", "weight", "heavy", "must be a whole number, not 'heavy'"),
    ("file", "filesystem_store_datadir", "{file}/sub", "cannot use"),
    ("rbd", "rbd_store_chunk_size", "abc", "must be a whole number of MiB ≥ 1, not 'abc'"),
    ("rbd", "rbd_store_chunk_size", "0", "must be a whole number of MiB ≥ 1, not '0'"),
    ("rbd", "rbd_store_chunk_size", "3", "must be a power of two from 1 to 32 (MiB), not 3"),
    ("rbd", "rbd_store_chunk_size", "64", "must be a power of two from 1 to 32 (MiB), not 64"),
    ("rbd", "rbd_store_chunk_size", "8.0", "must be a whole number of MiB ≥ 1, not '8.0'"),
    ("rbd", "rbd_store_writes_in_flight", "0", "must be a whole number ≥ 1, not '0'"),
    ("rbd", "rbd_store_read_ahead", "lots", "must be a whole number ≥ 1, not 'lots'"),
    ("rbd", "rbd_store_op_timeout", "-5", "must be a whole number of seconds ≥ 1, not '-5'"),
    ("rbd", "weight", "1e3", "must be a whole number, not '1e3'"),
    ("s3", "s3_store_host", "", "required for a store of type s3"),
    ("s3", "s3_store_host", "radosgw:7480", "must be a URL such as http://radosgw.example:7480"),
    ("s3", "s3_store_bucket", "", "required for a store of type s3"),
    ("s3", "s3_store_access_key", "", "required for a store of type s3"),
    ("s3", "s3_store_secret_key", " ", "required for a store of type s3"),
    ("s3", "s3_store_bucket_url_format", "sideways", "must be one of path, virtual, auto, not 'sideways'"),
    ("s3", "s3_store_parts_in_flight", "many", "must be a whole number ≥ 1, not 'many'"),
    ("s3", "s3_store_connect_timeout", "0", "must be a whole number of seconds ≥ 1, not '0'"),
    ("s3", "s3_store_read_timeout", "soon", "must be a whole number of seconds ≥ 1, not 'soon'"),
    ("http", "weight", "x", "must be a whole number, not 'x'"),
]


@pytest.mark.parametrize(
    ("kind", "option", "value", "message"), BAD, ids=[f"{b[0]}-{b[1]}-{b[2]!r}" for b in BAD]
)
def test_bad_option_names_section_and_option(tmp_path, kind, option, value, message) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    options = dict(S3_OPTIONS) if kind == "s3" else {}
    options[option] = value.format(file=tmp_path / "a-file")
    backends = {"local": "file", "odd": kind}  # a good store first: the bad one is named
    settings = settings_for(tmp_path, backends, {"odd": options}, default="local")
    with pytest.raises(SettingsError) as info:
        build_stores(settings)
    assert str(info.value).startswith(f"[odd] {option}: "), str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("backends", "default", "extra", "message"),
    [
        ({"os_glance_staging_store": "file"}, None, "",
         "[DEFAULT] enabled_backends: store identifiers starting with 'os_glance_' are reserved"),
        ({"fast": "swift"}, None, "", "[DEFAULT] enabled_backends: unknown store type 'swift' for fast"),
        ({"fast": "file"}, "slow", "", "[glance_store] default_backend: 'slow' is not one of enabled_backends"),
        ({"fast": "file", "web": "http"}, "web", "", "[glance_store] default_backend: 'web' is a read-only (http) store"),
        ({"fast": "file"}, None, "[DEFAULT]\nstaging_backend = shared\n",
         "[DEFAULT] staging_backend: 'shared' is not one of enabled_backends"),
        ({"fast": "file", "web": "http"}, "fast", "[DEFAULT]\nstaging_backend = web\n",
         "[DEFAULT] staging_backend: 'web' is a read-only (http) store"),
    ],
    ids=["reserved-name", "unknown-type", "default-unknown", "default-read-only", "staging-unknown",
         "staging-read-only"],
)  # fmt: skip
def test_bad_store_wiring(tmp_path, backends, default, extra, message) -> None:
    settings = settings_for(tmp_path, backends, {}, default=default, extra=extra)
    with pytest.raises(SettingsError) as info:
        stores, _ = build_stores(settings)
        build_staging(settings, stores)
    assert str(info.value).startswith(message), str(info.value)


def test_rbd_without_bindings_or_built(tmp_path) -> None:
    """Constructing an RbdStore needs Debian's rados/rbd bindings (never a connection): without
    them the start-up error names the section; with them the store carries the values."""
    settings = settings_for(
        tmp_path, {"ceph": "rbd"}, {"ceph": {"rbd_store_pool": "vms", "rbd_store_chunk_size": "4"}}
    )
    try:
        load_bindings()
    except ImportError:
        with pytest.raises(SettingsError, match=r"^\[ceph\] is an rbd store, but no rados module"):
            build_stores(settings)
        return
    stores, default = build_stores(settings)
    store = stores["ceph"]
    assert isinstance(store, RbdStore) and default == "ceph"
    assert (store.pool, store.chunk_size, store.order) == ("vms", 4 * 2**20, 22)


# --- good configs build the right store with the right values ----------------------------------


def test_single_store_mode(tmp_path) -> None:
    settings = settings_for(
        tmp_path, {}, {}, extra=f"[glance_store]\nfilesystem_store_datadir = {tmp_path / 'imgs'}\n"
    )
    stores, default = build_stores(settings)
    assert default == "file" and list(stores) == ["file"]
    assert isinstance(stores["file"], FilesystemStore) and stores["file"].root == tmp_path / "imgs"
    staging = build_staging(settings, stores)
    assert isinstance(staging, FilesystemStore) and staging.id == STAGING_STORE
    assert staging.root == tmp_path / "data" / "staging"


def test_filesystem_stores(tmp_path) -> None:
    settings = settings_for(tmp_path, {"fast": "file", "slow": "file"},
                            {"fast": {"filesystem_store_datadir": f"  {tmp_path / 'fast'}  ", "weight": " 100 "}})  # fmt: skip
    stores, default = build_stores(settings)
    assert default == "fast"
    assert stores["fast"].root == tmp_path / "fast"
    assert stores["slow"].root == (tmp_path / "data").resolve() / "stores" / "slow"  # the default
    assert store_weights(settings) == {"fast": 100, "slow": 0}
    assert all(s.capabilities.writable for s in stores.values())


def test_rbd_config_values_and_defaults(tmp_path) -> None:
    settings = settings_for(tmp_path, {"ceph": "rbd", "ceph2": "rbd"}, {"ceph": {
        "rbd_store_pool": "vms", "rbd_store_ceph_conf": "/etc/ceph/other.conf", "rbd_store_user": "glance",
        "rbd_store_keyring": "/etc/ceph/glance.keyring", "rbd_store_chunk_size": "16",
        "rbd_store_writes_in_flight": "2", "rbd_store_read_ahead": "8", "rbd_store_op_timeout": "30",
        "unknown_option": "ignored, as oslo.config ignores unregistered options",
    }})  # fmt: skip
    configs = read_configs(settings)
    assert configs["ceph"] == RbdConfig(
        name="ceph", section="ceph", rbd_store_pool="vms", rbd_store_ceph_conf="/etc/ceph/other.conf",
        rbd_store_user="glance", rbd_store_keyring="/etc/ceph/glance.keyring", rbd_store_chunk_size=16,
        rbd_store_writes_in_flight=2, rbd_store_read_ahead=8, rbd_store_op_timeout=30,
    )  # fmt: skip
    assert configs["ceph2"] == RbdConfig(
        name="ceph2", section="ceph2", rbd_store_pool="images", rbd_store_ceph_conf="/etc/ceph/ceph.conf",
        rbd_store_user="admin", rbd_store_keyring=None, rbd_store_chunk_size=8,
        rbd_store_writes_in_flight=4, rbd_store_read_ahead=4, rbd_store_op_timeout=60,
    )  # fmt: skip
    with pytest.raises(AttributeError):  # frozen
        configs["ceph"].rbd_store_pool = "other"  # type: ignore[misc]


def test_s3_store_values(tmp_path) -> None:
    options = dict(S3_OPTIONS, s3_store_region_name="eu-west-3", s3_store_bucket_url_format="virtual",
                   s3_store_parts_in_flight="2", s3_store_connect_timeout="3", s3_store_read_timeout="20")  # fmt: skip
    settings = settings_for(
        tmp_path, {"objects": "s3", "plain": "s3"}, {"objects": options, "plain": S3_OPTIONS}
    )
    stores, default = build_stores(settings)
    store = stores["objects"]
    assert isinstance(store, S3Store) and default == "objects"
    assert (store.endpoint_url, store.bucket, store.region, store.parts_in_flight) == (
        "http://127.0.0.1:1", "images", "eu-west-3", 2)  # fmt: skip
    config = store._client.meta.config  # what botocore will use
    assert (config.connect_timeout, config.read_timeout, config.s3["addressing_style"]) == (3, 20, "virtual")
    plain = stores["plain"]
    assert (plain.region, plain.parts_in_flight) == ("us-east-1", 4)
    assert (plain._client.meta.config.connect_timeout, plain._client.meta.config.read_timeout) == (10, 60)
    assert plain._client.meta.config.s3["addressing_style"] == "path"


def test_http_store_gets_the_filter_section_and_limits(tmp_path) -> None:
    extra = ("[DEFAULT]\nimage_size_cap = 5000\n"
             "[import_filtering_opts]\nallowed_ports = 80, 8080\nidle_timeout = 7\n")  # fmt: skip
    settings = settings_for(
        tmp_path,
        {"fast": "file", "web": "http"},
        {"web": {"weight": "-1", "filtering": "x", "image_size_cap": "1"}},
        extra=extra,
    )
    stores, default = build_stores(settings)
    web = stores["web"]
    assert isinstance(web, HttpStore) and default == "fast"
    assert web.opts is settings.import_filtering_opts and web.opts.allowed_ports == (80, 8080)
    assert (web.limits.max_bytes, web.limits.idle_timeout) == (5000, 7)
    assert not web.capabilities.writable
    assert store_weights(settings)["web"] == -1

    settings.import_filtering_opts.max_download_size = 1234
    stores, _ = build_stores(settings)
    assert stores["web"].limits.max_bytes == 1234


def test_staging_backend_is_a_prefixed_view(tmp_path) -> None:
    settings = settings_for(tmp_path, {"shared": "file"}, {}, extra="[DEFAULT]\nstaging_backend = shared\n")
    stores, _ = build_stores(settings)
    staging = build_staging(settings, stores)
    assert isinstance(staging, PrefixedStore)
    assert (staging.id, staging.prefix, staging.inner) == (
        STAGING_STORE,
        STAGING_KEY_PREFIX,
        stores["shared"],
    )


@pytest.mark.parametrize(("text", "value"), [(" 12 ", 12), ("+3", 3)])
def test_integers_read_as_oslo_config_reads_them(text, value) -> None:
    assert _value(text.strip(), int, {}) == value


@pytest.mark.parametrize(("text", "value"), [
    ("true", True), ("True", True), ("1", True), ("on", True), ("YES", True),
    ("false", False), ("FALSE", False), ("0", False), ("off", False), ("no", False),
])  # fmt: skip
def test_booleans_in_oslo_config_spellings(text, value) -> None:
    assert _value(text, bool, {}) is value


def test_boolean_refuses_other_words() -> None:
    with pytest.raises(ValueError, match="must be true or false, not 'maybe'"):
        _value("maybe", bool, {})


# --- the conformance suite on the registry's staging view of a shared store ----------------------


class TestPrefixedStagingStore(StoreSuite):
    """``[DEFAULT] staging_backend``: the suite through the prefix (delete's missing_ok included)."""

    @pytest.fixture
    async def store(self, tmp_path):
        settings = settings_for(
            tmp_path, {"shared": "file"}, {}, extra="[DEFAULT]\nstaging_backend = shared\n"
        )
        stores, _ = build_stores(settings)
        staging = build_staging(settings, stores)
        yield staging
        await staging.close()

    async def leftovers(self, store):
        return sorted(p.name for p in (store.inner.root / ".tmp").iterdir())


# --- the command line: a bad store option is a clear exit, not a traceback -----------------------


@pytest.mark.parametrize(("section", "message"), [
    ("[ceph]\nrbd_store_chunk_size = abc\n", "[ceph] rbd_store_chunk_size: must be a whole number of MiB ≥ 1, not 'abc'"),
    ("[ceph]\nrbd_store_op_timeout = 1.5\n", "[ceph] rbd_store_op_timeout: must be a whole number of seconds ≥ 1, not '1.5'"),
])  # fmt: skip
def test_serve_with_a_bad_store_option_exits_with_the_message(tmp_path, section, message) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text(
        f"[DEFAULT]\nenabled_backends = ceph:rbd\n[glance_store]\ndefault_backend = ceph\n{section}"
    )
    out = subprocess.run(
        [sys.executable, "-m", "daguerre.cli", "serve", "--config", str(conf), "--data-dir", str(tmp_path / "d"),
         "--port", "1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert f"daguerre: configuration error: {message}" in out.stderr
    assert "Traceback" not in out.stderr
