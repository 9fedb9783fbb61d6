"""web-download URL filtering: Glance's ``[import_filtering_opts]`` plus SSRF hardening.

Glance part (contract §9, ``glance.common.utils.validate_import_uri``):

* for each of schemes, hosts and ports, when both the allow list and the deny list are
  set the deny list is ignored;
* the scheme must be present, in the allow list if one is set, and not denied;
* all-digit hosts and all-digits-and-dots hosts that are not canonical IPv4 are
  rejected; other names must resolve;
* the normalised host (canonical IP, or lowercased name) must be allowed and not denied;
* Glance checks the port only when the URL states one; we check the port connected to.

Beyond Glance:

* URLs with userinfo (``user:pass@``), control characters, whitespace or backslashes are
  refused, as are hosts in any numeric notation other than canonical dotted-quad IPv4
  (``0x7f000001``, ``0177.0.0.1``, ``127.1``, ``1.0x7f`` ...);
* only http and https can be fetched, whatever the scheme lists say;
* the host is resolved once, and *every* address it resolves to must be public: loopback,
  private, shared (CGNAT), link-local (169.254.169.254), multicast, reserved,
  unspecified, documentation and benchmarking ranges are refused, and so are IPv6 forms
  embedding such an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96,
  6to4, Teredo). An address is allowed anyway when it lies in ``allowed_networks`` or is
  an IP literal named in ``allowed_hosts``.

The options are the settings section itself (``daguerre.settings.ImportFilteringSection``,
whose ``allowed_networks`` are checked at start-up). The result carries the vetted addresses;
the client connects to those and never looks the name up again.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import SplitResult, parse_qsl, quote, urlencode, urlsplit, urlunsplit

from daguerre.fetch.resolver import ResolutionError, Resolver
from daguerre.settings import ImportFilteringSection

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

FETCHABLE_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}


class URLRefused(Exception):
    """The URL does not pass filtering. Raised before any connection is attempted."""

    def __init__(
        self, reason: str, host: str | None = None, url: str | None = None, address: str | None = None
    ) -> None:
        self.reason = reason
        self.host = host
        self.url = url
        self.address = address
        message = f"URL does not pass filtering: {reason}"
        if host:
            message += f" (host: {host})"
        super().__init__(message)


@dataclass(frozen=True)
class CheckedURL:
    """A URL that passed filtering, with the addresses it may be fetched from."""

    url: str  # normalised: no userinfo, no fragment, canonical host
    scheme: str
    host: str  # canonical IP (no brackets) or lowercased ASCII name without trailing dot
    port: int  # the port to connect to (explicit, or the scheme's default)
    explicit_port: bool
    target: str  # request target: path and query, ASCII only
    host_header: str
    addresses: tuple[str, ...] = field(default_factory=tuple)

    @property
    def address(self) -> str:
        return self.addresses[0]

    @property
    def is_ip_literal(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True


# --- redaction -------------------------------------------------------------------------

_SENSITIVE_PARAM = re.compile(r"sig|token|pass|secret|key|credential|auth", re.IGNORECASE)
_USERINFO = re.compile(r"(//)[^/?#]*@")


def redact_url(url: str) -> str:
    """*url* without userinfo, and with credential-looking query values replaced by ***."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(_SENSITIVE_PARAM.search(name) for name, _ in pairs):
                query = urlencode(
                    [(n, "***" if _SENSITIVE_PARAM.search(n) else v) for n, v in pairs], safe="*"
                )
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        return _USERINFO.sub(r"\1", url)


# --- host normalisation ----------------------------------------------------------------

_HOSTNAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
_FORBIDDEN_URL_CHARS = re.compile(r"[\x00-\x20\x7f\\]")


def _normalise_host(hostname: str, bracketed: bool) -> tuple[str, IPAddress | None]:
    """Return (canonical host, address if the host is an IP literal); raise ValueError with a reason."""
    if bracketed:
        if "%" in hostname:
            raise ValueError("IPv6 zone identifiers are not allowed")
        try:
            address = ipaddress.IPv6Address(hostname)
        except ValueError:
            raise ValueError("invalid IPv6 literal") from None
        return str(address), address
    host = hostname.lower()
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise ValueError("invalid internationalised host name") from None
    if host.endswith("."):
        host = host[:-1]
    if not _HOSTNAME.fullmatch(host):
        raise ValueError("invalid host name")
    if host.isdigit():
        raise ValueError("all-digit host names (decimal-encoded IP addresses) are not allowed")
    if re.fullmatch(r"[0-9.]+", host):
        try:
            address4 = ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError("non-canonical IPv4 address") from None
        if str(address4) != host:
            raise ValueError("non-canonical IPv4 address")
        return host, address4
    if _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        raise ValueError("numeric host in a non-standard notation (hex/octal IP address)")
    return host, None


def _normalise_list_host(entry: str) -> str:
    entry = entry.strip().lower()
    if entry.startswith("[") and entry.endswith("]"):
        entry = entry[1:-1]
    entry = entry.rstrip(".")
    try:
        return str(ipaddress.ip_address(entry))
    except ValueError:
        return entry


# --- address policy --------------------------------------------------------------------

_V4_BLOCKED = [
    (ipaddress.ip_network(cidr), label)
    for cidr, label in [
        ("0.0.0.0/8", "unspecified/'this network'"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared (CGNAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignment"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay anycast"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
    ]
]
_NAT64_WKP = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_V4_COMPAT = ipaddress.IPv6Network("::/96")


def _classify_v4(address: ipaddress.IPv4Address) -> str | None:
    for network, label in _V4_BLOCKED:
        if address in network:
            return label
    if (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    ):
        return "non-public"
    return None


def classify(address: IPAddress) -> str | None:
    """Why *address* must not be fetched from (a short label), or None if it is public."""
    if isinstance(address, ipaddress.IPv4Address):
        return _classify_v4(address)
    if address.ipv4_mapped is not None:
        embedded = _classify_v4(address.ipv4_mapped)
        return f"IPv4-mapped {embedded}" if embedded else None
    if address in _V4_COMPAT:
        if address.is_unspecified:
            return "unspecified"
        if address.is_loopback:
            return "loopback"
        embedded = _classify_v4(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        return f"IPv4-compatible {embedded}" if embedded else "IPv4-compatible (deprecated)"
    if address in _NAT64_WKP:
        embedded = _classify_v4(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        return f"NAT64 {embedded}" if embedded else None
    if address in _NAT64_LOCAL:
        return "local-use NAT64"
    if address.sixtofour is not None:
        embedded = _classify_v4(address.sixtofour)
        if embedded:
            return f"6to4 {embedded}"
    if address.teredo is not None:
        for part in address.teredo:
            embedded = _classify_v4(part)
            if embedded:
                return f"Teredo {embedded}"
    if address.is_loopback:
        return "loopback"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.is_link_local:
        return "link-local"
    if address.is_site_local:
        return "site-local"
    if address in ipaddress.IPv6Network("fc00::/7"):
        return "unique local (private)"
    if address.is_private or address.is_reserved or not address.is_global:
        return "non-public"
    return None


def _explicitly_allowed(address: IPAddress, opts: ImportFilteringSection) -> bool:
    for cidr in opts.allowed_networks:
        network = ipaddress.ip_network(cidr, strict=False)
        if address.version == network.version and address in network:
            return True
    return str(address) in {_normalise_list_host(h) for h in opts.allowed_hosts}


def _parse_address(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])


# --- the check -------------------------------------------------------------------------


def _lists(allowed: tuple, disallowed: tuple) -> tuple[tuple, tuple]:
    # Glance: when both are set, the deny list is ignored.
    return (allowed, ()) if allowed else ((), disallowed)


def check_url_syntax(url: str, opts: ImportFilteringSection) -> tuple[CheckedURL, IPAddress | None]:
    """Every check that needs no resolution. Returns the URL without addresses."""
    if not url:
        raise URLRefused("empty URL")
    shown = redact_url(url)
    if _FORBIDDEN_URL_CHARS.search(url):
        raise URLRefused("control characters, whitespace or backslashes in URL", url=shown)
    try:
        parts: SplitResult = urlsplit(url)
        hostname = parts.hostname
    except ValueError as exc:
        raise URLRefused(f"unparsable URL ({exc})", url=shown) from None

    scheme = parts.scheme.lower()
    allowed, denied = _lists(opts.allowed_schemes, opts.disallowed_schemes)
    if not scheme:
        raise URLRefused("no scheme", url=shown)
    if allowed and scheme not in {s.lower() for s in allowed}:
        raise URLRefused(f"scheme {scheme!r} is not allowed", hostname, shown)
    if denied and scheme in {s.lower() for s in denied}:
        raise URLRefused(f"scheme {scheme!r} is disallowed", hostname, shown)
    if scheme not in FETCHABLE_SCHEMES:
        raise URLRefused(f"scheme {scheme!r} is not supported for download", hostname, shown)

    if "@" in parts.netloc:
        raise URLRefused("credentials (userinfo) in the URL are not allowed", hostname, shown)
    if not hostname:
        raise URLRefused("no host", url=shown)
    bracketed = parts.netloc.startswith("[")  # userinfo was refused above
    try:
        host, literal = _normalise_host(hostname, bracketed)
    except ValueError as exc:
        raise URLRefused(str(exc), hostname, shown) from None

    allowed, denied = _lists(opts.allowed_hosts, opts.disallowed_hosts)
    if allowed and host not in {_normalise_list_host(h) for h in allowed}:
        raise URLRefused("host is not in allowed_hosts", host, shown)
    if denied and host in {_normalise_list_host(h) for h in denied}:
        raise URLRefused("host is in disallowed_hosts", host, shown)

    try:
        port = parts.port
    except ValueError:
        raise URLRefused("invalid port", host, shown) from None
    explicit = port is not None
    if port is None:
        port = DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise URLRefused(f"invalid port {port}", host, shown)
    # Stricter than Glance, which checks only an explicit port: the port actually connected to
    # is checked, so allowed_ports = 8000 means nothing else, not "8000 or any scheme default".
    allowed, denied = _lists(opts.allowed_ports, opts.disallowed_ports)
    if allowed and port not in {int(p) for p in allowed}:
        raise URLRefused(f"port {port} is not allowed", host, shown)
    if denied and port in {int(p) for p in denied}:
        raise URLRefused(f"port {port} is disallowed", host, shown)

    url_host = f"[{host}]" if isinstance(literal, ipaddress.IPv6Address) else host
    host_header = f"{url_host}:{port}" if explicit else url_host
    path = quote(parts.path or "/", safe="/%;:@!$&'()*+,=~-._")
    target = path + (f"?{quote(parts.query, safe='/%;:@!$&()*+,=?~-._')}" if parts.query else "")
    normalised = urlunsplit((scheme, host_header, path, parts.query, ""))
    checked = CheckedURL(
        url=normalised,
        scheme=scheme,
        host=host,
        port=port,
        explicit_port=explicit,
        target=target,
        host_header=host_header,
    )
    return checked, literal


async def check_url(url: str, opts: ImportFilteringSection, resolver: Resolver) -> CheckedURL:
    """Filter *url*; resolve its host once and vet every address.

    Raises URLRefused (before any connection is made) when the URL must not be fetched.
    """
    checked, literal = check_url_syntax(url, opts)
    shown = redact_url(url)
    host = checked.host
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            resolved = await resolver.resolve(host)
        except ResolutionError as exc:
            raise URLRefused(f"host does not resolve ({exc})", host, shown) from None
        if not resolved:
            raise URLRefused("host does not resolve", host, shown)
        try:
            addresses = [_parse_address(a) for a in resolved]
        except ValueError:
            raise URLRefused("host resolved to an invalid address", host, shown) from None

    _, denied_hosts = _lists(opts.allowed_hosts, opts.disallowed_hosts)
    denied = {_normalise_list_host(h) for h in denied_hosts}
    for address in addresses:
        if str(address) in denied:
            raise URLRefused(f"address {address} is in disallowed_hosts", host, shown, str(address))
        if _explicitly_allowed(address, opts):
            continue
        label = classify(address)
        if label is not None:
            where = "is" if literal is not None else "resolves to"
            raise URLRefused(
                f"host {where} a non-public address ({label}): {address}", host, shown, str(address)
            )

    unique: list[str] = []
    for address in addresses:
        if str(address) not in unique:
            unique.append(str(address))
    return CheckedURL(
        url=checked.url,
        scheme=checked.scheme,
        host=checked.host,
        port=checked.port,
        explicit_port=checked.explicit_port,
        target=checked.target,
        host_header=checked.host_header,
        addresses=tuple(unique),
    )
