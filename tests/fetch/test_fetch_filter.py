"""URL filtering: Glance's [import_filtering_opts] semantics and the SSRF address policy.

None of these tests opens a connection: check_url only parses and asks the resolver.
Attack URLs are additionally pushed through open_url with the connect function
instrumented (and, in test_fetch_client.py, against live loopback listeners).
"""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daguerre.fetch import (
    FetchLimits,
    StaticResolver,
    SystemResolver,
    URLRefused,
    check_url,
    classify,
    open_url,
    redact_url,
)
from daguerre.fetch.resolver import ResolutionError
from daguerre.settings import ImportFilteringSection, SettingsError, load_settings

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


def resolver() -> StaticResolver:
    return StaticResolver(
        {
            "files.example": PUBLIC_V4,
            "v6.example": PUBLIC_V6,
            "localhost": ["127.0.0.1", "::1"],
            "internal.example": "10.0.0.5",
            "metadata.example": "169.254.169.254",
            "dual.example": [PUBLIC_V4, "127.0.0.1"],
            "mapped.example": "::ffff:127.0.0.1",
            "ula.example": "fd00::1",
        }
    )


ATTACKS = [
    # loopback in every spelling
    "http://127.0.0.1/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7F.0.0.1/",
    "http://017700000001/",
    "http://0177.0.0.1/",
    "http://127.0.0.01/",
    "http://127.0.0.1./",
    "http://1.0x7f/",
    "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::127.0.0.1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[64:ff9b::127.0.0.1]/",
    "http://[2002:7f00:1::]/",
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",  # Teredo, client 127.0.0.1
    "http://\u2460\u2461\u2466.0.0.1/",  # circled digits, NFKC-folded to 127.0.0.1
    "http://%31%32%37.0.0.1/",
    # unspecified
    "http://0.0.0.0/",
    "http://0/",
    "http://[::]/",
    # private, shared, link-local, metadata
    "http://10.0.0.1/",
    "http://10.255.255.255/",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://100.64.0.1/",
    "http://100.127.255.254/",
    "http://198.18.0.1/",
    "http://192.0.0.1/",
    "http://192.0.2.1/",
    # multicast, reserved, broadcast
    "http://224.0.0.1/",
    "http://239.255.255.250/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://[ff02::1]/",
    # IPv6 private / link-local / site-local / NAT64 local-use
    "http://[fc00::1]/",
    "http://[fd12:3456:789a::1]/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fec0::1]/",
    "http://[64:ff9b:1::a00:1]/",
    # names resolving to non-public addresses (StaticResolver)
    "http://internal.example/",
    "http://metadata.example/",
    "http://dual.example/",
    "http://mapped.example/",
    "http://ula.example/",
    # userinfo tricks
    "http://user:pass@files.example/",
    "http://allowed@127.0.0.1/",
    "http://files.example@127.0.0.1/",
    "http://127.0.0.1\\@files.example/",
    # schemes, ports
    "file:///etc/passwd",
    "ftp://files.example/",
    "gopher://files.example:70/_x",
    "dict://files.example:11211/",
    "http://files.example:8080/",
    "http://files.example:22/",
    "https://files.example:0/",
    "http://files.example:99999/",
    # junk
    "",
    "http:///nohost",
    "http://files .example/",
    "http://files.example\t/",
    "//files.example/",
    "http://unknown.example/",  # does not resolve
]


@pytest.mark.parametrize("url", ATTACKS)
async def test_attack_urls_are_refused(url):
    with pytest.raises(URLRefused) as info:
        await check_url(url, ImportFilteringSection(), resolver())
    assert "does not pass filtering" in str(info.value)


def test_there_are_plenty_of_attack_urls():
    assert len(ATTACKS) >= 25


@pytest.mark.parametrize("url", ATTACKS)
async def test_attack_urls_make_no_connection(url, connect_recorder):
    with pytest.raises(URLRefused):
        async with open_url(url, ImportFilteringSection(), FetchLimits(max_bytes=1024), resolver()):
            pytest.fail("refused URL was opened")
    assert connect_recorder.calls == []


@pytest.mark.parametrize(
    "url, needle",
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://169.254.169.254/", "link-local"),
        ("http://metadata.example/", "169.254.169.254"),
        ("http://100.64.0.1/", "CGNAT"),
        ("http://[::ffff:127.0.0.1]/", "IPv4-mapped loopback"),
        ("http://[64:ff9b::7f00:1]/", "NAT64 loopback"),
        ("http://[2002:7f00:1::]/", "6to4 loopback"),
        ("http://2130706433/", "all-digit"),
        ("http://127.1/", "non-canonical"),
        ("http://0x7f000001/", "non-standard notation"),
        ("http://user:pass@files.example/", "userinfo"),
        ("ftp://files.example/", "scheme 'ftp'"),
        ("http://files.example:8080/", "port 8080"),
    ],
)
async def test_refusal_messages_name_reason_and_host(url, needle):
    with pytest.raises(URLRefused) as info:
        await check_url(url, ImportFilteringSection(), resolver())
    message = str(info.value)
    assert "does not pass filtering" in message
    assert needle in message
    if info.value.host:
        assert info.value.host in message
    assert "pass@" not in message


@pytest.mark.parametrize(
    "url, address",
    [
        (f"http://{PUBLIC_V4}/x", PUBLIC_V4),
        (f"https://[{PUBLIC_V6}]/x", PUBLIC_V6),
        ("http://files.example/image.qcow2?x=1", PUBLIC_V4),
        ("https://FILES.example./a", PUBLIC_V4),
        ("http://v6.example/", PUBLIC_V6),
        ("http://[64:ff9b::808:808]/", "64:ff9b::808:808"),  # NAT64 of a public address
        ("http://[2002:808:808::1]/", "2002:808:808::1"),  # 6to4 of a public address
        ("http://[::ffff:8.8.8.8]/", "::ffff:808:808"),
        ("http://files.example:443/", PUBLIC_V4),
    ],
)
async def test_public_urls_pass(url, address):
    checked = await check_url(url, ImportFilteringSection(), resolver())
    assert checked.addresses == (address,)
    assert checked.address == address


async def test_checked_url_fields():
    checked = await check_url(
        "https://Files.Example:443/a b/../c?q=1#frag".replace(" ", "%20"),
        ImportFilteringSection(),
        resolver(),
    )
    assert checked.scheme == "https"
    assert checked.host == "files.example"
    assert checked.port == 443 and checked.explicit_port
    assert checked.host_header == "files.example:443"
    assert checked.target == "/a%20b/../c?q=1"
    assert "#" not in checked.url
    plain = await check_url("http://files.example", ImportFilteringSection(), resolver())
    assert (
        plain.port == 80
        and not plain.explicit_port
        and plain.target == "/"
        and plain.host_header == "files.example"
    )
    v6 = await check_url(f"http://[{PUBLIC_V6.upper()}]:80/", ImportFilteringSection(), resolver())
    assert v6.host == PUBLIC_V6 and v6.host_header == f"[{PUBLIC_V6}]:80"
    unicode_path = await check_url("http://files.example/\u00e9t\u00e9", ImportFilteringSection(), resolver())
    assert unicode_path.target == "/%C3%A9t%C3%A9"


async def test_name_is_resolved_exactly_once_and_pinned():
    res = resolver()
    checked = await check_url("http://files.example/", ImportFilteringSection(), res)
    assert res.lookups == ["files.example"]
    assert checked.addresses == (PUBLIC_V4,)
    # IP literals are never looked up
    await check_url(f"http://{PUBLIC_V4}/", ImportFilteringSection(), res)
    assert res.lookups == ["files.example"]


# --- Glance semantics of the lists -----------------------------------------------------


async def ok(url: str, **opts) -> None:
    await check_url(url, ImportFilteringSection(**opts), resolver())


async def refused(url: str, **opts) -> str:
    with pytest.raises(URLRefused) as info:
        await check_url(url, ImportFilteringSection(**opts), resolver())
    return info.value.reason


async def test_scheme_deny_list_ignored_when_allow_list_set():
    await ok("https://files.example/", allowed_schemes=("https",), disallowed_schemes=("https",))
    await refused("http://files.example/", allowed_schemes=("https",), disallowed_schemes=("https",))


async def test_scheme_deny_list_alone():
    assert "disallowed" in await refused(
        "http://files.example/", allowed_schemes=(), disallowed_schemes=("http",)
    )
    await ok("https://files.example/", allowed_schemes=(), disallowed_schemes=("http",))


async def test_scheme_lists_cannot_enable_unfetchable_schemes():
    assert "not supported" in await refused("ftp://files.example/", allowed_schemes=("ftp",))


async def test_host_deny_list_ignored_when_allow_list_set():
    await ok("http://files.example/", allowed_hosts=("files.example",), disallowed_hosts=("files.example",))
    reason = await refused(
        "http://v6.example/", allowed_hosts=("files.example",), disallowed_hosts=("files.example",)
    )
    assert "allowed_hosts" in reason


async def test_host_deny_list_alone():
    assert "disallowed_hosts" in await refused("http://files.example/", disallowed_hosts=("Files.Example",))
    assert "disallowed_hosts" in await refused("http://files.example./", disallowed_hosts=("files.example",))
    await ok("http://v6.example/", disallowed_hosts=("files.example",))
    # compared on the normalised form, and also against the resolved address
    assert "disallowed_hosts" in await refused(
        f"http://[{PUBLIC_V6.upper()}]/", disallowed_hosts=(f"[{PUBLIC_V6}]",)
    )
    assert "disallowed_hosts" in await refused("http://files.example/", disallowed_hosts=(PUBLIC_V4,))


async def test_allowed_hosts_entries_are_normalised():
    await ok("http://FILES.EXAMPLE/", allowed_hosts=("files.example.",))
    await ok(f"http://[{PUBLIC_V6}]/", allowed_hosts=(f"[{PUBLIC_V6.upper()}]",))


async def test_port_connected_to_is_checked_even_when_implicit():
    # Stricter than Glance (which checks explicit ports only): the scheme default counts too.
    assert "port 80" in await refused("http://files.example/", allowed_ports=(8080,))
    await ok("http://files.example:8080/", allowed_ports=(8080,))
    await ok("http://files.example/", allowed_ports=(80, 443))
    assert "port 80" in await refused("http://files.example:80/", allowed_ports=(8080,))


async def test_port_deny_list_ignored_when_allow_list_set():
    await ok("http://files.example:8080/", allowed_ports=(8080,), disallowed_ports=(8080,))


async def test_port_deny_list_alone():
    assert "disallowed" in await refused("http://files.example:80/", allowed_ports=(), disallowed_ports=(80,))
    assert "disallowed" in await refused("http://files.example/", allowed_ports=(), disallowed_ports=(80,))
    await ok("http://files.example:8080/", allowed_ports=(), disallowed_ports=(80,))


async def test_digit_hosts_refused_even_if_listed():
    assert "all-digit" in await refused("http://2130706433/", allowed_hosts=("2130706433",))
    assert "non-canonical" in await refused("http://127.1/", allowed_hosts=("127.1",))


async def test_unresolvable_name_refused():
    assert "does not resolve" in await refused("http://nowhere.example/")


# --- explicit operator allowances ------------------------------------------------------


async def test_ip_literal_in_allowed_hosts_allows_just_that_address_and_port():
    opts = {"allowed_hosts": ("127.0.0.1",), "allowed_ports": (8000,)}
    checked = await check_url("http://127.0.0.1:8000/x", ImportFilteringSection(**opts), resolver())
    assert checked.addresses == ("127.0.0.1",)
    assert "port 8001" in await refused("http://127.0.0.1:8001/x", **opts)
    assert "allowed_hosts" in await refused("http://127.0.0.2:8000/x", **opts)
    assert "allowed_hosts" in await refused("http://localhost:8000/x", **opts)
    assert "allowed_hosts" in await refused("http://[::1]:8000/x", **opts)
    assert "allowed_hosts" in await refused("http://[::ffff:127.0.0.1]:8000/x", **opts)


async def test_allowed_host_name_does_not_unlock_its_private_address():
    assert "10.0.0.5" in await refused("http://internal.example/", allowed_hosts=("internal.example",))


async def test_allowed_networks():
    await ok("http://internal.example/", allowed_networks=("10.0.0.0/8",))
    await ok("http://10.1.2.3/", allowed_networks=("10.0.0.0/8",))
    assert "private" in await refused("http://192.168.0.1/", allowed_networks=("10.0.0.0/8",))
    await ok("http://[fd00::1]/", allowed_networks=("fd00::/8",))
    # every resolved address must pass
    assert "loopback" in await refused("http://localhost/", allowed_networks=("127.0.0.0/8",))
    await ok("http://localhost/", allowed_networks=("127.0.0.0/8", "::1/128"))


def test_bad_allowed_network_is_a_config_error():
    with pytest.raises(SettingsError, match=r"\[import_filtering_opts\] allowed_networks: 'not-a-cidr'"):
        load_settings(env={"DAGUERRE_IMPORT_FILTERING_OPTS__ALLOWED_NETWORKS": "10.0.0.0/8, not-a-cidr"})


@pytest.mark.parametrize(
    "address, public",
    [
        ("8.8.8.8", True),
        ("1.1.1.1", True),
        ("100.63.255.255", True),
        ("100.128.0.0", True),
        ("172.15.255.255", True),
        ("172.32.0.0", True),
        ("2001:4860:4860::8888", True),
        ("127.255.255.255", False),
        ("0.1.2.3", False),
        ("203.0.113.9", False),
        ("192.88.99.1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:0:0", False),
        ("2001:db8::1", False),
        ("100::1", False),
        ("2002:a00:1::", False),
        ("2002:c0a8:101::", False),
    ],
)
def test_classify(address, public):
    assert (classify(ipaddress.ip_address(address)) is None) is public


def test_redact_url():
    assert redact_url("http://user:pass@files.example:8/x?a=1") == "http://files.example:8/x?a=1"
    redacted = redact_url("https://files.example/x?X-Amz-Signature=abc&token=t0k&name=img")
    assert "abc" not in redacted and "t0k" not in redacted and "name=img" in redacted
    assert "pass" not in redact_url("http://user:pass@[::1/")  # unparsable: best effort


async def test_static_resolver():
    res = StaticResolver({"A.example.": "192.0.2.1"})
    assert await res.resolve("a.example") == ["192.0.2.1"]
    with pytest.raises(ResolutionError):
        await res.resolve("b.example")


async def test_system_resolver_uses_trailing_dot(monkeypatch):
    seen = []

    def fake_getaddrinfo(host, port, family=0, type=0, *args):
        seen.append(host)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.7", 0)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.7", 0)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:db8::7", 0, 0, 0)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    assert await SystemResolver().resolve("files.example") == ["192.0.2.7", "2001:db8::7"]
    assert seen == ["files.example."]

    def failing(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", failing)
    with pytest.raises(ResolutionError):
        await SystemResolver().resolve("nowhere.example")


# --- properties over the whole IPv4 space ----------------------------------------------

ipv4s = st.integers(min_value=0, max_value=2**32 - 1).map(ipaddress.IPv4Address)


@settings(max_examples=300, deadline=None)
@given(ipv4s)
async def test_dotted_quad_refused_exactly_when_non_public(address):
    url = f"http://{address}/"
    if classify(address) is None:
        checked = await check_url(url, ImportFilteringSection(), resolver())
        assert checked.addresses == (str(address),)
    else:
        with pytest.raises(URLRefused):
            await check_url(url, ImportFilteringSection(), resolver())


@settings(max_examples=300, deadline=None)
@given(ipv4s, st.sampled_from(["decimal", "hex", "octal", "short", "hexdotted"]))
async def test_non_canonical_spellings_always_refused(address, spelling):
    n = int(address)
    octets = address.packed
    host = {
        "decimal": str(n),
        "hex": hex(n),
        "octal": "0" + oct(n)[2:],
        "short": f"{octets[0]}.{n & 0xFFFFFF}",
        "hexdotted": ".".join(hex(o) for o in octets),
    }[spelling]
    allowed = ImportFilteringSection(allowed_networks=("0.0.0.0/0",))  # even when every address is allowed
    with pytest.raises(URLRefused):
        await check_url(f"http://{host}/", allowed, resolver())


@settings(max_examples=300, deadline=None)
@given(
    ipv4s.filter(lambda a: classify(a) is not None), st.sampled_from(["mapped", "compat", "nat64", "6to4"])
)
async def test_ipv6_forms_embedding_non_public_ipv4_refused(address, form):
    n = int(address)
    v6 = {
        "mapped": ipaddress.IPv6Address((0xFFFF << 32) | n),
        "compat": ipaddress.IPv6Address(n),
        "nat64": ipaddress.IPv6Address((0x64FF9B << 96) | n),
        "6to4": ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | 1),
    }[form]
    with pytest.raises(URLRefused):
        await check_url(f"http://[{v6}]/", ImportFilteringSection(), resolver())
