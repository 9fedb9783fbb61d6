"""The pinned-IP download client, against loopback servers only.

Every test that reaches a server allows loopback explicitly (allowed_networks or an IP
literal in allowed_hosts) for that test; the ConnectRecorder fixture fails any attempt to
connect anywhere but 127.0.0.1/127.0.0.2/::1.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import ssl
import time

import pytest
from fetch_servers import path_of, respond

from daguerre.fetch import (
    AuditInfo,
    FetchError,
    FetchLimits,
    StaticResolver,
    URLRefused,
    open_url,
)
from daguerre.fetch import client as client_module
from daguerre.settings import ImportFilteringSection

MiB = 1024 * 1024
LIMITS = FetchLimits(max_bytes=64 * MiB, connect_timeout=5, idle_timeout=5)
BODY = os.urandom(3 * MiB + 123)


def loopback_opts(*ports: int, networks=("127.0.0.0/8",), **kwargs) -> ImportFilteringSection:
    return ImportFilteringSection(allowed_ports=tuple(ports), allowed_networks=networks, **kwargs)


async def fetch_all(url, opts, limits=LIMITS, resolver=None, audit=None, **kwargs):
    async with open_url(url, opts, limits, resolver or StaticResolver(), audit, **kwargs) as download:
        data = b"".join([chunk async for chunk in download.chunks()])
    return download, data


async def serve_body(head, reader, writer):
    await respond(writer, BODY)


# --- the allowed path ------------------------------------------------------------------


async def test_operator_allowed_loopback_end_to_end(make_server, connect_recorder):
    server = await make_server(serve_body)
    opts = ImportFilteringSection(allowed_hosts=("127.0.0.1",), allowed_ports=(server.port,))
    download, data = await fetch_all(f"http://127.0.0.1:{server.port}/images/cirros.img?x=1", opts)
    assert data == BODY
    assert download.size == len(BODY) and download.bytes_read == len(BODY) and download.completed
    assert download.address == "127.0.0.1"
    assert download.final_url == f"http://127.0.0.1:{server.port}/images/cirros.img?x=1"
    request = server.requests[0].decode()
    assert request.startswith("GET /images/cirros.img?x=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n" in request
    assert connect_recorder.calls == [("127.0.0.1", server.port)]


async def test_chunks_are_about_one_mib(make_server):
    server = await make_server(serve_body)
    async with open_url(f"http://127.0.0.1:{server.port}/", loopback_opts(server.port), LIMITS) as download:
        sizes = [len(c) async for c in download.chunks()]
    assert sum(sizes) == len(BODY)
    assert all(s >= MiB for s in sizes[:-1]) and max(sizes) < MiB + 256 * 1024


async def test_chunked_body(make_server):
    async def handler(head, reader, writer):
        await respond(writer, headers={"Transfer-Encoding": "chunked"}, content_length=False)
        for i in range(0, len(BODY), 100_000):
            piece = BODY[i : i + 100_000]
            writer.write(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
        writer.write(b"0\r\nX-Trailer: yes\r\n\r\n")
        await writer.drain()

    server = await make_server(handler)
    download, data = await fetch_all(f"http://127.0.0.1:{server.port}/", loopback_opts(server.port))
    assert data == BODY and download.size is None and download.completed


async def test_body_delimited_by_connection_close(make_server):
    async def handler(head, reader, writer):
        await respond(writer, BODY, content_length=False)

    server = await make_server(handler)
    download, data = await fetch_all(f"http://127.0.0.1:{server.port}/", loopback_opts(server.port))
    assert data == BODY and download.size is None


async def test_name_is_resolved_once_and_the_vetted_ip_is_dialled(make_server, connect_recorder):
    server = await make_server(serve_body)
    resolver = StaticResolver({"mirror.example": "127.0.0.1"})
    download, data = await fetch_all(
        f"http://mirror.example:{server.port}/x", loopback_opts(server.port), resolver=resolver
    )
    assert data == BODY
    assert resolver.lookups == ["mirror.example"]
    assert connect_recorder.calls == [("127.0.0.1", server.port)]  # the IP, never the name
    assert f"Host: mirror.example:{server.port}\r\n" in server.requests[0].decode()


async def test_next_vetted_address_tried_when_first_refuses(make_server, connect_recorder):
    server = await make_server(serve_body, host="::1")
    # Nothing listens on 127.0.0.2 at the server's port (the server is bound to ::1 only).
    resolver = StaticResolver({"mirror.example": ["127.0.0.2", "::1"]})
    opts = loopback_opts(server.port, networks=("127.0.0.0/8", "::1/128"))
    download, data = await fetch_all(f"http://mirror.example:{server.port}/", opts, resolver=resolver)
    assert data == BODY and download.address == "::1"
    assert [host for host, _ in connect_recorder.calls] == ["127.0.0.2", "::1"]


async def test_redirects_followed_and_rechecked(make_server):
    async def handler(head, reader, writer):
        path = path_of(head)
        if path == "/start":
            await respond(writer, status="301 Moved Permanently", headers={"Location": "/next"})
        elif path == "/next":
            await respond(writer, status="307 Temporary Redirect", headers={"Location": "./final?y=2"})
        else:
            assert path == "/final?y=2"
            await respond(writer, BODY)

    server = await make_server(handler)
    resolver = StaticResolver()
    download, data = await fetch_all(
        f"http://127.0.0.1:{server.port}/start", loopback_opts(server.port), resolver=resolver
    )
    assert data == BODY
    assert download.final_url == f"http://127.0.0.1:{server.port}/final?y=2"
    assert len(download.redirects) == 2
    assert resolver.lookups == []


async def test_too_many_redirects(make_server):
    async def handler(head, reader, writer):
        n = int(path_of(head).strip("/") or 0)
        await respond(writer, status="302 Found", headers={"Location": f"/{n + 1}"})

    server = await make_server(handler)
    limits = FetchLimits(max_bytes=MiB, max_redirects=3)
    with pytest.raises(FetchError, match="too many redirects"):
        await fetch_all(f"http://127.0.0.1:{server.port}/0", loopback_opts(server.port), limits)
    assert server.connections == 4


# --- redirects to forbidden places -----------------------------------------------------


async def test_redirect_to_loopback_refused_and_target_never_contacted(make_server, connect_recorder):
    target = await make_server(serve_body, host="127.0.0.1")

    async def redirector(head, reader, writer):
        await respond(
            writer, status="302 Found", headers={"Location": f"http://127.0.0.1:{target.port}/secret"}
        )

    origin = await make_server(redirector, host="127.0.0.2")
    # Only the redirecting server's own address is allowed; both ports are allowed so that
    # the refusal is about the address.
    opts = loopback_opts(origin.port, target.port, networks=("127.0.0.2/32",))
    with pytest.raises(URLRefused, match="does not pass filtering") as info:
        await fetch_all(f"http://127.0.0.2:{origin.port}/image", opts)
    assert "loopback" in str(info.value)
    assert origin.connections == 1
    assert target.connections == 0
    assert [host for host, _ in connect_recorder.calls] == ["127.0.0.2"]


async def test_redirect_to_name_resolving_to_loopback_refused(make_server):
    target = await make_server(serve_body, host="127.0.0.1")

    async def redirector(head, reader, writer):
        await respond(writer, status="301 Moved", headers={"Location": f"http://localhost:{target.port}/"})

    origin = await make_server(redirector, host="127.0.0.2")
    resolver = StaticResolver({"mirror.example": "127.0.0.2", "localhost": "127.0.0.1"})
    opts = loopback_opts(origin.port, target.port, networks=("127.0.0.2/32",))
    with pytest.raises(URLRefused, match="resolves to a non-public address"):
        await fetch_all(f"http://mirror.example:{origin.port}/", opts, resolver=resolver)
    assert target.connections == 0
    assert resolver.lookups == ["mirror.example", "localhost"]


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.2/x",
        "gopher://127.0.0.2:70/_x",
        "http://user:pass@127.0.0.2/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x",
        "http://2130706433/x",
    ],
)
async def test_redirect_to_disallowed_url_refused(make_server, connect_recorder, location):
    async def redirector(head, reader, writer):
        await respond(writer, status="308 Permanent Redirect", headers={"Location": location})

    origin = await make_server(redirector, host="127.0.0.2")
    opts = loopback_opts(origin.port, 70, networks=("127.0.0.2/32",), allowed_schemes=("http", "https"))
    with pytest.raises(URLRefused, match="does not pass filtering"):
        await fetch_all(f"http://127.0.0.2:{origin.port}/", opts)
    assert connect_recorder.calls == [("127.0.0.2", origin.port)]


# --- attack URLs against live loopback listeners ---------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "http://127.0.0.1:{port}/",
        "http://localhost:{port}/",
        "http://127.1:{port}/",
        "http://2130706433:{port}/",
        "http://0x7f000001:{port}/",
        "http://017700000001:{port}/",
        "http://0177.0.0.1:{port}/",
        "http://0.0.0.0:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://[::ffff:7f00:1]:{port}/",
        "http://allowed@127.0.0.1:{port}/",
        "http://user:pass@localhost:{port}/",
        "http://[::1]:{port6}/",
        "http://[::]:{port6}/",
    ],
)
async def test_live_loopback_listener_never_contacted(make_server, template):
    listener = await make_server(serve_body, host="127.0.0.1")
    listener6 = await make_server(serve_body, host="::1")
    url = template.format(port=listener.port, port6=listener6.port)
    resolver = StaticResolver({"localhost": "127.0.0.1"})
    opts = ImportFilteringSection(
        allowed_ports=(listener.port, listener6.port)
    )  # ports allowed, addresses not
    with pytest.raises(URLRefused):
        await fetch_all(url, opts, resolver=resolver)
    await asyncio.sleep(0.05)
    assert listener.connections == 0 and listener6.connections == 0


# --- size cap, lengths, timeouts, statuses ---------------------------------------------


async def test_content_length_over_cap_refused_before_body(make_server):
    server = await make_server(serve_body)
    limits = FetchLimits(max_bytes=MiB)
    with pytest.raises(FetchError, match="too large"):
        async with open_url(f"http://127.0.0.1:{server.port}/", loopback_opts(server.port), limits):
            pytest.fail("an over-cap download was opened")


async def test_body_over_cap_without_content_length(make_server):
    async def handler(head, reader, writer):
        await respond(writer, BODY, content_length=False)

    server = await make_server(handler)
    limits = FetchLimits(max_bytes=2 * MiB)
    received = 0
    with pytest.raises(FetchError, match="too large"):
        async with open_url(
            f"http://127.0.0.1:{server.port}/", loopback_opts(server.port), limits
        ) as download:
            async for chunk in download.chunks():
                received += len(chunk)
    assert received <= 2 * MiB
    assert not download.completed


async def test_content_length_larger_than_body(make_server):
    async def handler(head, reader, writer):
        await respond(writer, BODY[:1000], content_length=5000)

    server = await make_server(handler)
    with pytest.raises(FetchError, match="length mismatch"):
        await fetch_all(f"http://127.0.0.1:{server.port}/", loopback_opts(server.port))


async def test_content_length_smaller_than_body(make_server):
    async def handler(head, reader, writer):
        await respond(writer, BODY[:5000], content_length=1000)

    server = await make_server(handler)
    with pytest.raises(FetchError, match="length mismatch"):
        await fetch_all(f"http://127.0.0.1:{server.port}/", loopback_opts(server.port))


async def test_conflicting_content_lengths(make_server):
    async def handler(head, reader, writer):
        await respond(writer, b"abc", headers={"Content-Length": "4"})

    server = await make_server(handler)
    with pytest.raises(FetchError, match="invalid Content-Length"):
        await fetch_all(f"http://127.0.0.1:{server.port}/", loopback_opts(server.port))


async def test_truncated_chunked_body(make_server):
    async def handler(head, reader, writer):
        await respond(writer, headers={"Transfer-Encoding": "chunked"}, content_length=False)
        writer.write(b"1000\r\n" + b"x" * 10)
        await writer.drain()

    server = await make_server(handler)
    with pytest.raises(FetchError, match="truncated"):
        await fetch_all(f"http://127.0.0.1:{server.port}/", loopback_opts(server.port))


@pytest.mark.parametrize("stall_after_headers", [True, False])
async def test_idle_timeout(make_server, stall_after_headers):
    async def handler(head, reader, writer):
        if stall_after_headers:
            await respond(writer, b"x" * 1000, content_length=10_000)
        await asyncio.sleep(30)

    server = await make_server(handler)
    limits = FetchLimits(max_bytes=MiB, idle_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(FetchError, match="idle timeout"):
        await fetch_all(f"http://127.0.0.1:{server.port}/", loopback_opts(server.port), limits)
    assert time.monotonic() - started < 3


async def test_connect_timeout(monkeypatch, make_server):
    async def never_connects(*args, **kwargs):
        await asyncio.sleep(30)

    monkeypatch.setattr(client_module, "_open_connection", never_connects)
    limits = FetchLimits(max_bytes=MiB, connect_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(FetchError, match="connect timed out"):
        await fetch_all("http://127.0.0.1:8000/", loopback_opts(8000), limits)
    assert time.monotonic() - started < 3


async def test_connection_refused(make_server):
    server = await make_server(None)
    port = server.port
    await server.close()
    with pytest.raises(FetchError, match="could not connect"):
        await fetch_all(f"http://127.0.0.1:{port}/", loopback_opts(port))


@pytest.mark.parametrize("status", ["404 Not Found", "500 Internal Server Error", "206 Partial Content"])
async def test_error_status(make_server, status):
    async def handler(head, reader, writer):
        await respond(writer, b"nope", status=status)

    server = await make_server(handler)
    with pytest.raises(FetchError, match=status.split()[0]):
        await fetch_all(f"http://127.0.0.1:{server.port}/", loopback_opts(server.port))


async def test_interim_response_skipped(make_server):
    async def handler(head, reader, writer):
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await respond(writer, b"body")

    server = await make_server(handler)
    _, data = await fetch_all(f"http://127.0.0.1:{server.port}/", loopback_opts(server.port))
    assert data == b"body"


@pytest.mark.parametrize(
    "raw",
    [
        b"garbage\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n",
    ],
)
async def test_malformed_responses(make_server, raw):
    async def handler(head, reader, writer):
        writer.write(raw)
        await writer.drain()

    server = await make_server(handler)
    with pytest.raises(FetchError):
        await fetch_all(f"http://127.0.0.1:{server.port}/", loopback_opts(server.port))


async def test_body_can_be_read_once(make_server):
    server = await make_server(serve_body)
    async with open_url(f"http://127.0.0.1:{server.port}/", loopback_opts(server.port), LIMITS) as download:
        async for _ in download.chunks():
            pass
        with pytest.raises(RuntimeError):
            async for _ in download.chunks():
                pass


# --- audit -----------------------------------------------------------------------------


def audit_records(caplog):
    return [r for r in caplog.records if r.name == "daguerre.audit"]


async def test_audit_line_on_success(make_server, caplog):
    caplog.set_level(logging.INFO, logger="daguerre.audit")
    server = await make_server(serve_body)
    audit = AuditInfo(user="u1", project="p1", image="img-1", request_id="req-1")
    url = f"http://127.0.0.1:{server.port}/x?token=s3cr3t&name=cirros"
    await fetch_all(url, loopback_opts(server.port), audit=audit)
    [record] = audit_records(caplog)
    line = record.getMessage()
    for expected in ('user="u1"', 'project="p1"', 'image="img-1"', 'address="127.0.0.1"', 'outcome="ok"'):
        assert expected in line
    assert f"bytes={len(BODY)}" in line
    assert "s3cr3t" not in line and "name=cirros" in line
    assert record.audit["outcome"] == "ok"


async def test_audit_line_on_refusal_strips_credentials(caplog):
    caplog.set_level(logging.INFO, logger="daguerre.audit")
    audit = AuditInfo(user="u1", project="p1", image="img-2")
    with pytest.raises(URLRefused):
        await fetch_all("http://admin:hunter2@127.0.0.1/x", ImportFilteringSection(), audit=audit)
    [record] = audit_records(caplog)
    line = record.getMessage()
    assert "hunter2" not in line and "admin" not in line
    assert 'url="http://127.0.0.1/x"' in line
    assert 'outcome="refused: credentials' in line
    assert record.levelno == logging.WARNING


async def test_audit_line_on_redirect_refusal_names_the_refused_address(make_server, caplog):
    caplog.set_level(logging.INFO, logger="daguerre.audit")

    async def redirector(head, reader, writer):
        await respond(writer, status="302 Found", headers={"Location": "http://bob:pw@169.254.169.254/"})

    origin = await make_server(redirector, host="127.0.0.2")
    with pytest.raises(URLRefused):
        await fetch_all(
            f"http://127.0.0.2:{origin.port}/", loopback_opts(origin.port, networks=("127.0.0.2/32",))
        )
    line = audit_records(caplog)[0].getMessage()
    assert "pw@" not in line and "bob" not in line
    assert '"http://169.254.169.254/"' in line  # the redirect chain, redacted
    assert "refused" in line


async def test_audit_line_on_failure(make_server, caplog):
    caplog.set_level(logging.INFO, logger="daguerre.audit")

    async def handler(head, reader, writer):
        await respond(writer, b"short", content_length=50)

    server = await make_server(handler)
    with pytest.raises(FetchError):
        await fetch_all(f"http://127.0.0.1:{server.port}/", loopback_opts(server.port))
    [record] = audit_records(caplog)
    assert 'outcome="failed: length mismatch' in record.getMessage()


async def test_audit_line_when_body_not_read(make_server, caplog):
    caplog.set_level(logging.INFO, logger="daguerre.audit")
    server = await make_server(serve_body)
    async with open_url(f"http://127.0.0.1:{server.port}/", loopback_opts(server.port), LIMITS):
        pass
    [record] = audit_records(caplog)
    assert "incomplete" in record.getMessage()


# --- TLS: certificate checked against the URL's host name, connection to the vetted IP --


def make_tls(tmp_path, names: list[str]):
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "daguerre test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file = tmp_path / "server.pem"
    key_file = tmp_path / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert_file, key_file)
    client_ctx = ssl.create_default_context(cadata=ca_cert.public_bytes(serialization.Encoding.PEM).decode())
    return server_ctx, client_ctx


async def test_https_verifies_the_url_host_name(make_server, tmp_path, connect_recorder):
    server_ctx, client_ctx = make_tls(tmp_path, ["mirror.example"])
    server = await make_server(serve_body, ssl=server_ctx)
    resolver = StaticResolver({"mirror.example": "127.0.0.1", "other.example": "127.0.0.1"})
    opts = loopback_opts(server.port)
    download, data = await fetch_all(
        f"https://mirror.example:{server.port}/x", opts, resolver=resolver, ssl_context=client_ctx
    )
    assert data == BODY and download.address == "127.0.0.1"
    assert connect_recorder.calls[0] == ("127.0.0.1", server.port)
    # Same server, same IP, but the URL names a host the certificate is not for.
    with pytest.raises(FetchError, match="certificate verification failed"):
        await fetch_all(
            f"https://other.example:{server.port}/x", opts, resolver=resolver, ssl_context=client_ctx
        )
    # And the system trust store does not know the test CA.
    with pytest.raises(FetchError, match="certificate verification failed"):
        await fetch_all(f"https://mirror.example:{server.port}/x", opts, resolver=resolver)
