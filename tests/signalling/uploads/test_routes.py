"""The tus server at /api/uploads: the protocol with a real tus client (tuspy), and the
edges with raw requests: wrong offset, a stranger, limits, expiry, a dropped PATCH."""

from __future__ import annotations

import asyncio
import io
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tusclient.client import TusClient

from signalling.auth.login_sessions import COOKIE_NAME
from signalling.uploads.keys import UPLOADS
from tests.signalling.conftest import PASSWORD
from tests.signalling.imaging_helpers import audit_rows, dicom_file, served_consult
from tests.signalling.uploads.helpers import (
    TUS,
    base,
    create,
    dropped_patch,
    head,
    offset_of,
    patch,
    settled,
)

MB = 1024 * 1024


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Any]:
    # 1 MB per upload: 2 MB held per user
    async for platform, app, consult in served_consult(tmp_path, None, max_upload_mb=1):
        yield platform, app, consult


async def test_options_says_what_is_supported(served: Any) -> None:
    _, _, consult = served
    async with aiohttp.ClientSession() as http:
        async with http.options(base(consult.doc) + "/api/uploads") as response:
            assert response.status == 204
            assert response.headers["Tus-Resumable"] == "1.0.0"
            assert response.headers["Tus-Version"] == "1.0.0"
            assert set(response.headers["Tus-Extension"].split(",")) == {
                "creation",
                "termination",
                "expiration",
            }
            assert response.headers["Tus-Max-Size"] == str(MB)


async def test_tuspy_uploads_in_chunks_and_the_server_has_every_byte(served: Any) -> None:
    platform, app, consult = served
    data = dicom_file("CT_small.dcm").read_bytes()
    client = TusClient(
        base(consult.doc) + "/api/uploads",
        headers={"Authorization": f"Bearer {consult.doc.token}"},
    )

    def run() -> str:
        uploader = client.uploader(
            file_stream=io.BytesIO(data), chunk_size=8000, metadata={"filename": "CT_small.dcm"}
        )
        uploader.upload()
        assert uploader.url is not None
        return str(uploader.url)

    url = await asyncio.to_thread(run)
    upload_id = url.rsplit("/", 1)[-1]
    status, headers = await head(consult.doc, upload_id)
    assert status == 200
    assert headers["Upload-Offset"] == headers["Upload-Length"] == str(len(data))
    assert headers["Cache-Control"] == "no-store"
    assert "GMT" in headers["Upload-Expires"]
    store = app[UPLOADS]
    upload = store.get(int(store.owner_of(upload_id)), upload_id)
    assert upload.filename == "CT_small.dcm" and upload.complete
    assert store.data_path(upload.owner, upload_id).read_bytes() == data
    # under the blob store's directory, not in its tmp (cleaned at start)
    assert store.data_path(upload.owner, upload_id).is_relative_to(platform.blobs.root / "uploads")
    assert [r.object_id for r in await audit_rows(platform, "upload.create")] == [upload_id]
    assert [r.object_id for r in await audit_rows(platform, "upload.complete")] == [upload_id]


async def test_wrong_offset_is_409_and_changes_nothing(served: Any) -> None:
    _, _, consult = served
    status, upload_id = await create(consult.doc, 10)
    assert status == 201
    assert (await patch(consult.doc, upload_id, 0, b"abcd"))[0] == 204
    status, headers = await patch(consult.doc, upload_id, 2, b"xx")
    assert status == 409
    assert await offset_of(consult.doc, upload_id) == 4
    status, headers = await patch(consult.doc, upload_id, 4, b"efghij")
    assert (status, headers["Upload-Offset"]) == (204, "10")


async def test_another_tus_version_or_another_body_type_changes_nothing(served: Any) -> None:
    _, _, consult = served
    _, upload_id = await create(consult.doc, 4)
    url = f"{base(consult.doc)}/api/uploads/{upload_id}"
    typed = {
        "Tus-Resumable": "0.2.2",
        "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": "0",
    }
    async with consult.doc.http.patch(url, data=b"abcd", headers=typed) as response:
        assert response.status == 412 and response.headers["Tus-Version"] == "1.0.0"
    form = {**TUS, "Upload-Offset": "0", "Content-Type": "application/x-www-form-urlencoded"}
    async with consult.doc.http.patch(url, data=b"abcd", headers=form) as response:
        assert response.status == 415
    assert await offset_of(consult.doc, upload_id) == 0


async def test_anyone_else_gets_404_and_it_is_audited(served: Any) -> None:
    platform, _, consult = served
    _, upload_id = await create(consult.doc, 4)
    assert (await head(consult.spec, upload_id))[0] == 404
    assert (await patch(consult.spec, upload_id, 0, b"evil"))[0] == 404
    url = f"{base(consult.spec)}/api/uploads/{upload_id}"
    async with consult.spec.http.delete(url, headers=TUS) as response:
        assert response.status == 404
    assert await offset_of(consult.doc, upload_id) == 0  # the owner's upload untouched
    for action in ("upload.head", "upload.patch", "upload.delete"):
        rows = await audit_rows(platform, action)
        assert [(r.object_id, r.outcome) for r in rows] == [(upload_id, "denied")], action
        assert json.loads(rows[0].detail)["status"] == 404
        (created,) = await audit_rows(platform, "upload.create")
        assert rows[0].actor.startswith("user:") and rows[0].actor != created.actor  # the stranger
    # an id that never was: the same answer
    assert (await head(consult.spec, "0" * 32))[0] == 404


async def test_over_length_and_over_quota_are_refused(served: Any) -> None:
    platform, _, consult = served
    status, body = await create(consult.doc, MB + 1)
    assert status == 413 and body["code"] == "too_large"
    assert (await create(consult.doc, MB))[0] == 201
    assert (await create(consult.doc, MB))[0] == 201
    status, body = await create(consult.doc, 1)  # 2 MB held already
    assert status == 403 and body["code"] == "upload_quota"
    # another user is not affected
    assert (await create(consult.spec, MB))[0] == 201
    refusals = await audit_rows(platform, "upload.create")
    assert sum(r.outcome == "denied" for r in refusals) == 2


async def test_at_most_100_uploads_held(served: Any) -> None:
    _, _, consult = served
    for _ in range(100):
        assert (await create(consult.doc, 1))[0] == 201
    status, body = await create(consult.doc, 1)
    assert status == 403 and body["code"] == "upload_quota"


async def test_a_body_past_the_length_is_refused(served: Any) -> None:
    _, _, consult = served
    _, upload_id = await create(consult.doc, 4)
    assert (await patch(consult.doc, upload_id, 0, b"abcdef"))[0] == 400
    assert await offset_of(consult.doc, upload_id) == 0


async def test_delete_removes_the_upload(served: Any) -> None:
    _, app, consult = served
    _, upload_id = await create(consult.doc, 4)
    await patch(consult.doc, upload_id, 0, b"ab")
    url = f"{base(consult.doc)}/api/uploads/{upload_id}"
    async with consult.doc.http.delete(url, headers=TUS) as response:
        assert response.status == 204
    assert (await head(consult.doc, upload_id))[0] == 404
    assert app[UPLOADS].owner_of(upload_id) is None


async def test_expired_uploads_are_swept(served: Any) -> None:
    _, app, consult = served
    store = app[UPLOADS]
    _, stale = await create(consult.doc, 4)
    _, fresh = await create(consult.doc, 4)
    await patch(consult.doc, stale, 0, b"ab")
    owner = store.owner_of(stale)
    day_ago = time.time() - 24 * 3600 - 60
    os.utime(store.data_path(owner, stale), (day_ago, day_ago))
    gone = await asyncio.to_thread(store.sweep)
    assert [u.id for u in gone] == [stale]
    assert (await head(consult.doc, stale))[0] == 404
    assert (await head(consult.doc, fresh))[0] == 200


async def test_a_dropped_patch_keeps_the_bytes_that_arrived(served: Any) -> None:
    _, app, consult = served
    body = bytes(range(256)) * 1024  # 256 KiB
    _, upload_id = await create(consult.doc, len(body))
    await dropped_patch(consult.doc, upload_id, 0, body, sent=100_000)
    await settled(app, upload_id)
    assert await offset_of(consult.doc, upload_id) == 100_000
    store = app[UPLOADS]
    path = store.data_path(store.owner_of(upload_id), upload_id)
    assert path.read_bytes() == body[:100_000]
    status, headers = await patch(consult.doc, upload_id, 100_000, body[100_000:])
    assert (status, headers["Upload-Offset"]) == (204, str(len(body)))
    assert path.read_bytes() == body


async def test_forged_requests_with_the_cookie_are_refused(served: Any) -> None:
    """The project's CSRF rule holds for tus requests too, on top of their headers
    (Upload-Length, the offset+octet-stream type) that no cross-site form can send."""
    _, _, consult = served
    url = base(consult.doc)
    async with aiohttp.ClientSession() as http:
        async with http.post(
            url + "/api/auth/login", json={"username": "mc.doc", "password": PASSWORD}
        ) as response:
            assert response.status == 200
            cookie = response.cookies[COOKIE_NAME].value
    own = {"Cookie": f"{COOKIE_NAME}={cookie}", **TUS, "Upload-Length": "4"}
    forged = {**own, "Origin": "https://evil.example"}
    async with aiohttp.ClientSession() as http:
        async with http.post(url + "/api/uploads", headers=forged) as response:
            assert response.status == 403 and (await response.json())["reason"] == "csrf"
        async with http.post(url + "/api/uploads", headers={**own, "Origin": url}) as response:
            assert response.status == 201
            upload_id = response.headers["Location"].rsplit("/", 1)[-1]
        patch_headers = {
            **forged,
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": "0",
        }
        async with http.patch(
            f"{url}/api/uploads/{upload_id}", data=b"evil", headers=patch_headers
        ) as response:
            assert response.status == 403
        async with http.delete(f"{url}/api/uploads/{upload_id}", headers=forged) as response:
            assert response.status == 403
    assert await offset_of(consult.doc, upload_id) == 0
