"""A page uploads a multi-MB CT across three cuts of its link, in Chromium.

The doctor's Chromium runs in a network namespace whose link is shaped to a
district site's few Mbit/s and cut three times mid-upload, each cut longer
than the page's stall limit, so that each time the page drops its request,
says it is paused and resumes from the server's offset (HEAD). The file is
filed once, from one upload that never went back to zero.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.async_api import Page, expect
from pydicom import dcmread

from signalling.uploads.keys import UPLOADS
from tests.conftest import free_port
from tests.signalling.care_network import accepted_consultation
from tests.signalling.conftest import make_settings
from tests.signalling.imaging_helpers import audit_rows, dataset_bytes, dicom_file
from tests.signalling.rooms.test_manager import REQUEST
from tests.web_client.netns import Namespace, chromium_in, network_namespace, serve_on
from tests.web_client.test_consultation_browser import log_in

pytestmark = pytest.mark.browser

SIDE = 1400  # 1400 x 1400 x 16 bit: a 3.9 MB CT slice
RATE_KBIT = 3000
CUT_S = 18.0  # longer than the page's 15 s stall limit: the request is given up on


def big_ct(path: Path) -> Path:
    ds = dcmread(dicom_file("CT_small.dcm"))
    small = ds.pixel_array
    tiled = np.tile(small, (SIDE // small.shape[0] + 1, SIDE // small.shape[1] + 1))
    ds.Rows = ds.Columns = SIDE
    ds.PixelData = np.ascontiguousarray(tiled[:SIDE, :SIDE]).astype(small.dtype).tobytes()
    path.write_bytes(dataset_bytes(ds))
    return path


async def offsets(app: Any) -> list[tuple[str, int, int]]:
    """(id, offset, length) of every upload under the store."""
    store = app[UPLOADS]
    found = []
    for folder in store.root.iterdir():
        for upload in store.held(int(folder.name)):
            found.append((upload.id, upload.offset, upload.length))
    return found


@pytest.fixture
async def namespace(tmp_path: Path) -> AsyncIterator[Namespace]:
    async with network_namespace(tmp_path) as ns:
        yield ns


async def test_a_ct_uploads_across_three_cuts(tmp_path: Path, namespace: Namespace) -> None:
    ns = namespace
    port = free_port()
    origin = ns.origin(port)
    ct = big_ct(tmp_path / "big-ct.dcm")
    size = ct.stat().st_size
    settings = make_settings(tmp_path, public_url=origin)
    async with serve_on(settings, [ns.host_addr, "127.0.0.1"], port) as (platform, app):
        cid = await accepted_consultation(platform, f"http://127.0.0.1:{port}/", REQUEST)
        await ns.shape(RATE_KBIT)
        async with chromium_in(ns, origin) as browser:
            context = await browser.new_context(viewport={"width": 1280, "height": 1000})
            page: Page = await log_in(context, origin + "/", "mc.doc")
            await page.evaluate(f"location.hash = '#/consultations/{cid}'")
            await expect(page.get_by_role("heading", name="Imaging (DICOM)")).to_be_visible()
            await page.get_by_label("Upload DICOM files").set_input_files(str(ct))

            seen: list[int] = []
            started = time.monotonic()
            for cut in range(3):
                threshold = size * (cut + 1) // 4
                async with asyncio.timeout(120):
                    while True:
                        found = await offsets(app)
                        if found:
                            seen.append(found[0][1])
                            if found[0][1] >= threshold:
                                break
                        await asyncio.sleep(0.2)
                await ns.cut()
                paused = page.locator(".upload-state[data-state='paused']")
                await expect(paused).to_have_text(
                    "Connection lost — paused, will resume when the link is back", timeout=30_000
                )
                await asyncio.sleep(max(0.0, CUT_S - 15))
                await ns.restore()
            accepted = page.locator('.upload-results li[data-status="accepted"]')
            await expect(accepted).to_have_count(1, timeout=180_000)
            elapsed = time.monotonic() - started
            await context.close()

        # one upload, whose offset never went back, filed and then removed
        assert seen == sorted(seen), seen
        assert await offsets(app) == []
        created = await audit_rows(platform, "upload.create")
        completed = await audit_rows(platform, "upload.complete")
        assert len(created) == len(completed) == 1
        assert json.loads(created[0].detail) == {"filename": "big-ct.dcm", "length": size}
        filed = await audit_rows(platform, "imaging.upload")
        assert [r.outcome for r in filed] == ["ok"]
        print(
            f"{size / 1e6:.1f} MB at {RATE_KBIT} kbit/s across 3 cuts of {CUT_S} s: {elapsed:.0f} s"
        )
