"""The access log of the real server keeps credentials in query strings out."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from signalling.http.access_log import REDACTED, RedactingAccessLogger, redact_query
from tests.signalling.care_network import ServerProcess

SECRET = "s3cr3t-value-9f2c"


def test_credential_parameters_are_redacted_and_the_rest_kept() -> None:
    query = (
        f"token={SECRET}&access_token={SECRET}&Room_Token={SECRET}&sid={SECRET}"
        f"&identifier=BN-001&limit=20&series=1.2.3"
    )
    redacted = redact_query(query)
    assert SECRET not in redacted and "BN-001" not in redacted
    assert f"token={REDACTED}" in redacted and f"Room_Token={REDACTED}" in redacted
    assert "limit=20" in redacted and "series=1.2.3" in redacted
    assert redact_query("") == ""
    # percent-encoded and repeated names are caught too
    assert SECRET not in redact_query(f"%74oken={SECRET}&token=a&token={SECRET}")


async def test_in_process_runner_logs_redacted_line(caplog: pytest.LogCaptureFixture) -> None:
    app = web.Application()

    async def ping(request: web.Request) -> web.Response:
        return web.Response(text="pong")

    app.router.add_get("/ping", ping)
    server = TestServer(app)
    await server.start_server(
        access_log=logging.getLogger("telehealth.access"),
        access_log_class=RedactingAccessLogger,
    )
    try:
        with caplog.at_level(logging.INFO, logger="telehealth.access"):
            async with aiohttp.ClientSession() as http:
                async with http.get(server.make_url(f"/ping?token={SECRET}&x=1")) as response:
                    assert response.status == 200
                    await response.read()
                # a percent-encoded line break stays encoded: no forged second line
                async with http.get(
                    URL(str(server.make_url("/")) + "ping%0Afake", encoded=True)
                ) as response:
                    assert response.status == 404
    finally:
        await server.close()
    lines = [r for r in caplog.records if r.name == "telehealth.access"]
    assert len(lines) == 2
    record = lines[0]
    assert SECRET not in record.getMessage()
    assert f'"GET /ping?token={REDACTED}&x=1 HTTP/1.1" 200' in record.getMessage()
    assert record.__dict__["status"] == 200
    assert lines[1].__dict__["target"] == "/ping%0Afake"
    assert "\n" not in lines[1].getMessage()


async def test_served_platform_never_writes_a_query_token(tmp_path: Path) -> None:
    node = ServerProcess(tmp_path / "data", {"TELEHEALTH_LOG_FORMAT": "json"})
    try:
        await node.ready()
        async with aiohttp.ClientSession() as http:
            for path in (
                f"/healthz?token={SECRET}",
                f"/api/me?access_token={SECRET}",
                f"/join?token={SECRET}&lang=vi",
            ):
                async with http.get(node.url.rstrip("/") + path) as response:
                    await response.read()
    finally:
        assert node.stop() == 0
    assert node.process.stderr is not None
    stderr = node.process.stderr.read().decode()
    assert SECRET not in stderr
    access = [
        json.loads(line)
        for line in stderr.splitlines()
        if line.startswith("{") and json.loads(line)["logger"] == "telehealth.access"
    ]
    targets = [entry["target"] for entry in access]
    assert f"/healthz?token={REDACTED}" in targets
    assert f"/api/me?access_token={REDACTED}" in targets
    assert f"/join?token={REDACTED}&lang=vi" in targets
    assert all(isinstance(entry["status"], int) for entry in access)
