"""The OpenAPI document lists exactly the application's /api routes, and holds up to fuzzing."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from signalling.app import build_app
from signalling.openapi import app_routes, documented_path, operations
from signalling.platform import Platform
from tests.conftest import free_port


def _routes(platform: Platform) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """The application's /api routes, and those that declare themselves."""
    app = build_app(platform)
    found = set()
    for route in app.router.routes():
        path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.resource.canonical)  # type: ignore[union-attr]
        if path.startswith("/api/") and route.method != "HEAD" and path != "/api/openapi.json":
            found.add((route.method.lower(), path))
    return found, {(op.method, op.path) for op in operations(app_routes(app))}


async def test_document_matches_the_routes(
    platform: Platform, client: TestClient[Any, Any]
) -> None:
    routes, declared = _routes(platform)
    assert routes == declared
    document = await (await client.get("/api/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    body = document["paths"]["/api/consultations"]["post"]["requestBody"]
    schema = document["components"]["schemas"]["OpenRequest"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/OpenRequest")
    assert set(schema["required"]) == {"kind", "specialty", "urgency", "question"}


def test_a_routes_pattern_is_left_out_of_its_documented_path() -> None:
    assert documented_path("/api/patients/{id:\\d{1,15}}") == "/api/patients/{id}"
    assert (
        documented_path("/api/recordings/files/{fid:\\d{1,12}}/x")
        == "/api/recordings/files/{fid}/x"
    )
    assert (
        documented_path("/api/case-files/{cf}/documents/{doc}")
        == "/api/case-files/{cf}/documents/{doc}"
    )


PASSWORD = "fuzzing-password-1"


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A real server process with the demo network, and a doctor's bearer token."""
    data = tmp_path_factory.mktemp("fuzz") / "data"
    cmd = [sys.executable, "-m", "signalling"]
    env = {**os.environ, "TELEHEALTH_LOG_LEVEL": "WARNING"}
    subprocess.run(
        [*cmd, "demo", "--data-dir", str(data), "--password", PASSWORD],
        check=True,
        capture_output=True,
        env=env,
    )
    token = subprocess.run(
        [*cmd, "token", "issue", "--user", "mc.doctor", "--ttl", "1h", "--data-dir", str(data)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout.strip()
    port = free_port()
    process = subprocess.Popen(
        [*cmd, "serve", "--data-dir", str(data), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2)  # noqa: S310
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
    yield url, token
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)
    assert process.stderr is not None
    errors = process.stderr.read().decode()
    assert "Traceback" not in errors and "unhandled error" not in errors, errors


# "scheduled_for must be in the future" cannot be said in JSON Schema: a past date
# that the schema allows is rightly refused with 400, so that one operation runs
# without the positive-data-acceptance check; everything else runs every check.
ACCEPT = "POST /api/consultations/{id}/accept"


@pytest.mark.parametrize(
    "selection",
    [
        ["--exclude-name", ACCEPT],
        ["--include-name", ACCEPT, "--exclude-checks", "positive_data_acceptance"],
    ],
    ids=["all-operations", "accept"],
)
def test_api_holds_up_to_generated_requests(
    live_server: tuple[str, str], tmp_path: Path, selection: list[str]
) -> None:
    """schemathesis runs every operation with valid and invalid inputs, and checks them all."""
    url, token = live_server
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{url}/api/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            *selection,
            "--max-examples",
            # 15 per operation keeps make test short; FUZZ_EXAMPLES=200 for a deep run
            os.environ.get("FUZZ_EXAMPLES", "15"),
            "--generation-deterministic",
            "--request-timeout",
            "10",
            "--report-dir",
            str(tmp_path),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Tested:" in result.stdout
