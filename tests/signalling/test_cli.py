"""The `telehealth` command, run as an operator would: as a separate process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from signalling.cli import main
from signalling.db import migrations
from tests.conftest import free_port

TELEHEALTH = [sys.executable, "-m", "signalling"]
PASSWORD = "ten-chars-or-more"


def run(*args: str, data_dir: Path, env: dict[str, str] | None = None, **kw: object) -> str:
    result = subprocess.run(
        [*TELEHEALTH, *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def fail(*args: str, env: dict[str, str] | None = None) -> str:
    """Run a command that must fail; return its one-line error."""
    result = subprocess.run(
        [*TELEHEALTH, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TELEHEALTH_LOG_FORMAT": "text", **(env or {})},
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


def test_help_on_every_command() -> None:
    runner = CliRunner()
    commands = list(_commands(main))
    assert {
        ("serve",),
        ("migrate",),
        ("token", "issue"),
        ("user", "add"),
        ("user", "list"),
        ("user", "disable"),
        ("facility", "add"),
        ("facility", "list"),
        ("facility", "pair"),
        ("invite",),
        ("demo",),
    } <= set(commands)
    for command in [(), *commands]:
        result = runner.invoke(main, [*command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "Usage:" in result.output
        leaf = main
        for part in command:
            assert isinstance(leaf, click.Group)
            leaf = leaf.commands[part]  # type: ignore[assignment]
        if not isinstance(leaf, click.Group):
            assert "--data-dir" in result.output and "--config" in result.output, command


class Server:
    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [*TELEHEALTH, "serve", "--data-dir", str(data_dir), "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stderr.read()  # type: ignore[union-attr]
            try:
                self.get("/healthz")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not come up")

    def get(self, path: str, token: str | None = None) -> tuple[int, dict[str, object]]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=20)


def test_administration_then_serve(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert f"migrated empty -> {migrations.head_revision()}" in run("migrate", data_dir=data)
    assert "up to date" in run("migrate", data_dir=data)
    run(
        "facility",
        "add",
        "BVBM",
        "--name",
        "Bệnh viện Bạch Mai",
        "--level",
        "central",
        "--province",
        "Hà Nội",
        data_dir=data,
    )
    run(
        "facility",
        "add",
        "TTYT-MC",
        "--name",
        "TTYT Mộc Châu",
        "--level",
        "district",
        "--province",
        "Sơn La",
        data_dir=data,
    )
    run("facility", "pair", "BVBM", "TTYT-MC", "--specialty", "cardiology", data_dir=data)
    assert "BVBM -> TTYT-MC  (cardiology)" in run("facility", "list", data_dir=data)
    run(
        "user",
        "add",
        "an.nguyen",
        "--role",
        "specialist",
        "--facility",
        "BVBM",
        "--specialty",
        "cardiology",
        "--full-name",
        "Nguyễn Văn An",
        "--password",
        PASSWORD,
        data_dir=data,
    )
    users = json.loads(run("user", "list", "--json", data_dir=data))
    assert users == [
        {
            "username": "an.nguyen",
            "full_name": "Nguyễn Văn An",
            "role": "specialist",
            "facility": "BVBM",
            "specialties": ["cardiology"],
            "active": True,
        }
    ]
    token = run("token", "issue", "--user", "an.nguyen", "--ttl", "10m", data_dir=data).strip()
    link = run("invite", "--room", "consult-42", "--patient", "Lò Văn Páo", data_dir=data)
    assert link.startswith("http://127.0.0.1:8080/join#")

    server = Server(data)
    try:
        status, body = server.get("/api/me", token)
        assert status == 200 and body["user"]["username"] == "an.nguyen"  # type: ignore[index]
        run("user", "disable", "an.nguyen", data_dir=data)
        assert server.get("/api/me", token)[0] == 401
        status, body = server.get("/readyz")
        assert status == 200
    finally:
        assert server.stop() == 0

    assert "disabled" in fail("token", "issue", "--user", "an.nguyen", "--data-dir", str(data))
    assert "no user" in fail("token", "issue", "--user", "ghost", "--data-dir", str(data))
    assert "taken" in fail(
        "user",
        "add",
        "an.nguyen",
        "--role",
        "admin",
        "--password",
        PASSWORD,
        "--data-dir",
        str(data),
    )
    assert "at least 10" in fail(
        "user", "add", "short", "--role", "admin", "--password", "abc", "--data-dir", str(data)
    )


def test_demo_fills_the_store_that_serve_serves(tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = run("demo", "--password", PASSWORD, data_dir=data)
    assert "bm.cardio" in out and "mc.doctor" in out
    assert "BVCR -> TTYT-MOCCHAU  (cardiology)" in run("facility", "list", data_dir=data)
    again = run("demo", data_dir=data)  # safe to repeat; prints the new password
    assert "password for all:" in again
    users = json.loads(run("user", "list", "--json", data_dir=data))
    assert {u["role"] for u in users} == {"admin", "specialist", "doctor", "nurse", "trainer"}
    assert len(users) == 10


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"TELEHEALTH_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"},
            "cannot reach the database at postgresql+asyncpg://postgres@127.0.0.1:1/none",
        ),
        (
            {"TELEHEALTH_REDIS_URL": "redis://127.0.0.1:1/0"},
            "cannot reach shared state at redis 127.0.0.1:1/0",
        ),
        ({"TELEHEALTH_LOG_LEVEL": "LOUD"}, "invalid setting TELEHEALTH_LOG_LEVEL (log_level)"),
        ({"TELEHEALTH_SIGNING_KEY": "too short"}, "TELEHEALTH_SIGNING_KEY"),
    ],
)
def test_serve_refuses_to_start_with_one_clear_line(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    line = fail("serve", "--data-dir", str(tmp_path), "--port", str(free_port()), env=env)
    assert expected in line


def test_bad_config_file_and_busy_port(tmp_path: Path) -> None:
    config = tmp_path / "telehealth.toml"
    config.write_text("port = 'eighty'\n")
    assert "TELEHEALTH_PORT (port)" in fail("serve", "--config", str(config))
    assert "TELEHEALTH_PORT (port)" in fail("serve", "--port", "99999")
    config.write_text("[broken\n")
    assert "not valid TOML" in fail("migrate", "--config", str(config))

    server = Server(tmp_path / "data")
    try:
        line = fail("serve", "--data-dir", str(tmp_path / "data"), "--port", str(server.port))
        assert f"cannot listen on 127.0.0.1:{server.port}" in line
    finally:
        server.stop()


def test_serves_https_with_the_given_certificate(tmp_path: Path) -> None:
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    port = free_port()
    process = subprocess.Popen(
        [
            *TELEHEALTH,
            "serve",
            "--data-dir",
            str(tmp_path / "data"),
            "--port",
            str(port),
            "--tls-cert",
            str(cert_path),
            "--tls-key",
            str(key_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    context = ssl.create_default_context(cafile=str(cert_path))
    context.check_hostname = False
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stderr.read()  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(
                    f"https://127.0.0.1:{port}/healthz", context=context, timeout=5
                ) as response:
                    assert response.status == 200
                    break
            except urllib.error.URLError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    assert "Error: cannot load TLS" in fail(
        "serve",
        "--data-dir",
        str(tmp_path / "data"),
        "--port",
        str(free_port()),
        "--tls-cert",
        str(key_path),
        "--tls-key",
        str(cert_path),
    )
