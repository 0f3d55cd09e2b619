"""HSTS over TLS only, and a Server header that names no versions, on the real application."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from signalling.app import build_app
from signalling.platform import Platform

PATHS = ["/healthz", "/", "/static/app.js", "/api/me", "/no-such-page"]


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
async def tls_server(
    platform: Platform, tmp_path: Path
) -> AsyncIterator[tuple[str, ssl.SSLContext]]:
    cert_file, key_file = self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    client_context = ssl.create_default_context(cafile=str(cert_file))
    server = TestServer(build_app(platform), host="127.0.0.1")
    await server.start_server(ssl=server_context)
    try:
        yield str(server.make_url("")).rstrip("/"), client_context
    finally:
        await server.close()


@pytest.fixture
async def plain_server(platform: Platform) -> AsyncIterator[str]:
    server = TestServer(build_app(platform), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def test_hsts_on_every_response_over_tls(tls_server: tuple[str, ssl.SSLContext]) -> None:
    base, context = tls_server
    assert base.startswith("https://")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
        for path in PATHS:
            async with http.get(base + path) as response:
                assert (
                    response.headers.get("Strict-Transport-Security")
                    == "max-age=31536000; includeSubDomains"
                ), path
                assert response.headers["Server"] == "telehealth", path


async def test_no_hsts_over_plain_http_and_no_versions(plain_server: str) -> None:
    async with aiohttp.ClientSession() as http:
        for path in PATHS:
            async with http.get(plain_server + path) as response:
                assert "Strict-Transport-Security" not in response.headers, path
                server = response.headers["Server"]
                assert server == "telehealth", path
                assert "aiohttp" not in server and "Python" not in server
            # a forged proxy header does not make plain HTTP "secure"
            async with http.get(
                plain_server + path, headers={"X-Forwarded-Proto": "https"}
            ) as response:
                assert "Strict-Transport-Security" not in response.headers, path


async def test_answer_to_an_unparsable_request_names_no_versions(plain_server: str) -> None:
    """aiohttp answers a malformed request itself, without the application's hooks."""
    host, _, port = plain_server.removeprefix("http://").partition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        await writer.drain()
        answer = (await reader.read(4096)).decode("latin-1")
    finally:
        writer.close()
    head = answer.split("\r\n\r\n")[0].splitlines()
    assert head[0].startswith("HTTP/1.") and " 400 " in head[0]
    assert "Server: telehealth" in head
    assert "aiohttp" not in answer and "Python" not in answer
