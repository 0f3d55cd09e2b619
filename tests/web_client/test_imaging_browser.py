"""Imaging in the room, in Chromium: upload with verdicts, a CT series and an ECG shown
by the specialist and followed by the doctor (slice and window), 12 leads on paper."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from pydicom.data import get_testdata_file, get_testdata_files

from tests.signalling.conftest import make_settings
from tests.signalling.network import accepted_consultation, served
from tests.web_client.test_consultation_browser import log_in
from tests.web_client.test_shell_browser import shoot

pytestmark = pytest.mark.browser

REQUEST = {
    "kind": "imaging_consultation",
    "specialty": "cardiology",
    "urgency": "urgent",
    "question": "Mass on CT?",
}


@pytest.fixture
async def room(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """A served platform with an accepted consultation: (base url, consultation id)."""
    async with served(make_settings(tmp_path)) as (platform, url):
        yield url, await accepted_consultation(platform, url, REQUEST)


async def enter(page: Page, consultation_id: str) -> None:
    await page.evaluate(f"location.hash = '#/consultations/{consultation_id}'")
    await expect(page.get_by_role("heading", name="Imaging (DICOM)")).to_be_visible()


async def test_presenter_drives_the_doctor_follows(browser: Browser, room: tuple[str, str]) -> None:
    url, cid = room
    contexts = [
        await browser.new_context(viewport={"width": 1280, "height": 1000}) for _ in range(2)
    ]
    try:
        spec = await log_in(contexts[0], url, "bm.cardio")
        doc = await log_in(contexts[1], url, "mc.doc")
        await enter(spec, cid)
        await enter(doc, cid)

        ct = sorted(get_testdata_files("dicomdirtests/98892001/CT5N/*"))
        bad = get_testdata_file("no_meta.dcm")
        ecg = get_testdata_file("waveform_ecg.dcm")
        assert bad is not None and ecg is not None
        await spec.get_by_label("Upload DICOM files").set_input_files([*ct, ecg, bad])
        results = spec.locator(".upload-results")
        await expect(results.locator('li[data-status="accepted"]')).to_have_count(6)
        await expect(results.locator('li[data-status="refused"]')).to_contain_text("no_meta.dcm")

        series = spec.locator(".library .series").first
        await expect(series).to_contain_text("CT")
        await series.click()
        await expect(spec.locator(".presenter")).to_contain_text("Presenter: BM.CARDIO")
        slice_img = doc.locator("img.slice")
        await expect(slice_img).to_have_attribute("data-frame", "0")
        await expect(doc.locator("#slice-slider")).to_be_disabled()  # the doctor follows

        await spec.locator("#slice-slider").fill("3")
        await expect(slice_img).to_have_attribute("data-frame", "3")
        await spec.get_by_label("Window").select_option("lung")
        await expect(slice_img).to_have_attribute("src", re.compile(r"preset=lung"))
        await doc.wait_for_function(
            "() => { const i = document.querySelector('img.slice'); "
            "return i && i.complete && i.naturalWidth > 0; }"
        )
        # A length measured by the presenter appears, in mm, for the doctor too.
        await spec.get_by_role("button", name="Measure length").click()
        wrap = spec.locator(".slice-wrap")
        box = await wrap.bounding_box()
        assert box is not None
        await wrap.click(position={"x": box["width"] * 0.2, "y": box["height"] * 0.5})
        await wrap.click(position={"x": box["width"] * 0.8, "y": box["height"] * 0.5})
        label = doc.locator(".slice-wrap .mark-label")
        await expect(label).to_have_text(re.compile(r"^\d+(\.\d+)? mm$"))
        await shoot(spec, "imaging-ct-en.png")

        # Hand-over: the doctor now drives, the specialist follows.
        await spec.get_by_label("Hand over to").select_option(label="MC.DOC")
        await spec.get_by_role("button", name="Hand over", exact=True).click()
        await expect(doc.locator(".presenter")).to_contain_text("Presenter: MC.DOC")
        await expect(doc.locator("#slice-slider")).to_be_enabled()
        await doc.locator("#slice-slider").fill("1")
        await expect(spec.locator("img.slice")).to_have_attribute("data-frame", "1")
        await doc.get_by_label("Hand over to").select_option(label="BM.CARDIO")
        await doc.get_by_role("button", name="Hand over", exact=True).click()
        await expect(spec.locator(".presenter")).to_contain_text("Presenter: BM.CARDIO")

        # Dragging down the picture (a finger on a phone) moves through the slices.
        await spec.get_by_role("button", name="Measure length").click()  # measuring off
        wrap = spec.locator(".slice-wrap")
        box = await wrap.bounding_box()
        assert box is not None
        x, y = box["x"] + box["width"] / 2, box["y"] + 10
        await spec.mouse.move(x, y)
        await spec.mouse.down()
        for step in range(1, 6):
            await spec.mouse.move(x, y + step * 8)
        await spec.mouse.up()
        await expect(doc.locator("img.slice")).to_have_attribute("data-frame", "4")

        await spec.locator(".library .series:has(.ecg-icon)").click()
        canvas = doc.locator("canvas.ecg")
        await expect(canvas).to_have_attribute("data-leads", "12")
        # Calipers: two clicks 25 mm apart on the paper read one second.
        overlay = doc.locator("canvas.calipers")
        box = await overlay.bounding_box()
        assert box is not None
        scale = box["width"] / 1000  # the canvas is 250 mm at 4 px/mm
        await overlay.click(position={"x": 50 * scale, "y": 60 * scale})
        await overlay.click(position={"x": 150 * scale, "y": 60 * scale})
        reading = doc.locator(".caliper-reading")
        await expect(reading).to_contain_text("ms")
        ms = int(await reading.get_attribute("data-ms") or 0)
        assert abs(ms - 1000) <= 10  # clicks land on whole screen pixels (~5 ms each)
        await shoot(doc, "imaging-ecg-en.png")
        for page in (spec, doc):
            assert page.errors == [], page.errors  # type: ignore[attr-defined]
    finally:
        for context in contexts:
            await context.close()
