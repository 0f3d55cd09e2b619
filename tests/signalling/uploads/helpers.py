"""Raw tus requests for the uploads tests: what a client does, and what a dropped link does."""

from __future__ import annotations

import asyncio
import base64
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from signalling.uploads.keys import UPLOADS
from tests.signalling.care_network import Member

TUS = {"Tus-Resumable": "1.0.0"}


def base(who: Member) -> str:
    return who.base_url.rstrip("/")


def metadata(filename: str) -> str:
    return "filename " + base64.b64encode(filename.encode()).decode()


async def create(who: Member, length: int, filename: str = "CT_small.dcm") -> tuple[int, Any]:
    """(status, the upload's id or the refusal's JSON)."""
    headers = {**TUS, "Upload-Length": str(length), "Upload-Metadata": metadata(filename)}
    async with who.http.post(base(who) + "/api/uploads", headers=headers) as response:
        assert response.headers["Tus-Resumable"] == "1.0.0"
        if response.status != 201:
            return response.status, await response.json()
        return 201, response.headers["Location"].rsplit("/", 1)[-1]


async def head(who: Member, upload_id: str) -> tuple[int, dict[str, str]]:
    async with who.http.head(f"{base(who)}/api/uploads/{upload_id}", headers=TUS) as response:
        assert response.headers["Tus-Resumable"] == "1.0.0"
        return response.status, dict(response.headers)


async def offset_of(who: Member, upload_id: str) -> int:
    status, headers = await head(who, upload_id)
    assert status == 200, status
    return int(headers["Upload-Offset"])


async def patch(
    who: Member, upload_id: str, offset: int, data: bytes, **extra: str
) -> tuple[int, dict[str, str]]:
    headers = {
        **TUS,
        "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": str(offset),
        **extra,
    }
    async with who.http.patch(
        f"{base(who)}/api/uploads/{upload_id}", data=data, headers=headers
    ) as response:
        assert response.headers["Tus-Resumable"] == "1.0.0"
        return response.status, dict(response.headers)


async def dropped_patch(who: Member, upload_id: str, offset: int, body: bytes, sent: int) -> None:
    """A PATCH announcing all of ``body`` whose connection closes after ``sent`` bytes."""
    url = urlsplit(who.base_url)
    assert url.hostname is not None and url.port is not None
    _reader, writer = await asyncio.open_connection(url.hostname, url.port)
    request = (
        f"PATCH /api/uploads/{upload_id} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: Bearer {who.token}\r\nTus-Resumable: 1.0.0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    writer.write(request.encode() + body[:sent])
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()  # mid-body: the link is gone
    await writer.wait_closed()


async def settled(app: web.Application, upload_id: str, timeout: float = 10.0) -> None:
    """Until no request is writing this upload (the server saw the drop)."""
    store = app[UPLOADS]
    async with asyncio.timeout(timeout):
        while store.busy(upload_id):  # noqa: ASYNC110 (state of another module, polled)
            await asyncio.sleep(0.05)
