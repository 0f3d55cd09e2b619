"""The ECG on paper in Chromium, from real waveforms: a recording in millivolts draws
its real amplitudes; a lead whose unit is no voltage is never drawn as a (flat) line,
which a clinician reads as asystole, but says "no trace" and why, above the paper
too; the paper's scale is written; the identity of the patient comes with it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import pytest
from playwright.async_api import Browser, Page, expect
from pydicom.uid import generate_uid

from tests.signalling.care_network import accepted_consultation, served
from tests.signalling.conftest import make_settings
from tests.signalling.imaging_helpers import dicom_file
from tests.web_client.test_consultation_browser import log_in
from tests.web_client.test_imaging_browser import enter

pytestmark = pytest.mark.browser

REQUEST = {
    "kind": "clinical_consultation",
    "specialty": "cardiology",
    "urgency": "urgent",
    "question": "Chest pain since this morning",
}
PX_PER_MM = 4  # the paper's resolution in ecg.js


@pytest.fixture
async def room(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    async with served(make_settings(tmp_path)) as (platform, url):
        yield url, await accepted_consultation(platform, url, REQUEST)


def ecg_bytes(*, millivolts: bool = False, lead_ii_unit: str | None = None) -> tuple[str, bytes]:
    """(SOP UID, bytes) of waveform_ecg.dcm, its sensitivities in mV, or lead II in
    another unit; new UIDs, since other bytes under a stored UID are refused."""
    ds = pydicom.dcmread(dicom_file("waveform_ecg.dcm"))
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    for group in ds.WaveformSequence:
        for channel in group.ChannelDefinitionSequence:
            unit = channel.ChannelSensitivityUnitsSequence[0]
            if millivolts:  # the same voltages, written as the file's sensitivity in mV
                channel.ChannelSensitivity = f"{float(channel.ChannelSensitivity) * 1e-3:.10g}"
                unit.CodeValue, unit.CodeMeaning = "mV", "millivolt"
    if lead_ii_unit is not None:
        unit = ds.WaveformSequence[0].ChannelDefinitionSequence[1]
        unit.ChannelSensitivityUnitsSequence[0].CodeValue = lead_ii_unit
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return str(ds.SOPInstanceUID), out.getvalue()


# Rows (in paper mm) with trace-dark pixels inside a box of the paper, and how many.
DARK_ROWS = """([x0, y0, x1, y1]) => {
  const canvas = document.querySelector('canvas.ecg');
  const data = canvas.getContext('2d').getImageData(x0, y0, x1 - x0, y1 - y0).data;
  const rows = new Set();
  for (let i = 0; i < data.length; i += 4) {
    // the trace's ink, even half-covering a pixel; never the pink grid or the red note
    const dark = Math.max(data[i], data[i + 1], data[i + 2]) < 150;
    if (dark) rows.add(Math.floor(i / 4 / (x1 - x0)));
  }
  return rows.size;
}"""


async def dark_rows(page: Page, x0_mm: float, y0_mm: float, x1_mm: float, y1_mm: float) -> int:
    box = [round(v * PX_PER_MM) for v in (x0_mm, y0_mm, x1_mm, y1_mm)]
    return int(await page.evaluate(DARK_ROWS, box))


async def show_ecg(page: Page, name: str, file: tuple[str, bytes]) -> None:
    uid, data = file
    upload: dict[str, Any] = {"name": name, "mimeType": "application/dicom", "buffer": data}
    await page.get_by_label("Upload DICOM files").set_input_files([upload])
    await expect(page.locator(".upload-counts")).to_contain_text("Accepted: 1")
    await page.locator(f'.library .series[data-object="{uid}"]').click()


async def test_millivolt_ecg_draws_and_an_unscaled_lead_says_no_trace(
    browser: Browser, room: tuple[str, str]
) -> None:
    url, cid = room
    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        page = await log_in(context, url, "bm.cardio")
        await enter(page, cid)
        await show_ecg(page, "ecg-mv.dcm", ecg_bytes(millivolts=True))
        canvas = page.locator("canvas.ecg")
        await expect(canvas).to_have_attribute("data-leads", "12")
        await expect(canvas).to_have_attribute("data-no-trace", "")
        await expect(page.locator(".ecg-problems")).to_have_count(0)
        await expect(page.locator(".ecg-scale")).to_have_text("Scale: 25 mm/s · 10 mm/mV")
        # The rhythm strip (lead II, 90-120 mm) swings by millimetres: real QRS
        # complexes of ~1 mV at 10 mm/mV, not a line a pixel or two thick.
        assert await dark_rows(page, 0, 90, 180, 120) > 5 * PX_PER_MM
        # The patient's identity comes with the trace.
        await expect(page.locator('[data-corner="patient"] [data-field="id"]')).to_have_text(
            "ID: 642341"
        )
        await expect(page.locator('[data-corner="patient"] [data-field="sex-age"]')).to_have_text(
            "Female · 42 y"
        )

        # Lead II in mm[Hg]: not a voltage, so no trace of it anywhere on the paper.
        await show_ecg(page, "ecg-pressure.dcm", ecg_bytes(lead_ii_unit="mm[Hg]"))
        await expect(canvas).to_have_attribute("data-no-trace", "II")
        await expect(canvas).to_have_attribute("data-leads", "11")
        problems = page.get_by_role("alert").filter(has_text="Some leads cannot be drawn:")
        await expect(problems).to_be_visible()
        await expect(problems.locator("li")).to_have_count(1)
        await expect(problems.locator("li")).to_contain_text("Lead II")
        await expect(problems.locator("li")).to_contain_text("mm[Hg]")
        # no dark trace pixel in lead II's cell (0-62.5 mm, row 30-60 mm) nor its strip,
        # while lead I beside it (row 0-30 mm) still draws
        assert await dark_rows(page, 0, 30, 62, 60) == 0
        assert await dark_rows(page, 0, 90, 180, 120) == 0
        assert await dark_rows(page, 0, 0, 62, 30) > 2 * PX_PER_MM
        await page.get_by_role("button", name="Tiếng Việt").click()
        await expect(page.locator(".ecg-scale")).to_have_text("Tỉ lệ: 25 mm/giây · 10 mm/mV")
        await expect(page.locator(".ecg-problems strong")).to_have_text(
            "Một số chuyển đạo không vẽ được:"
        )
        assert page.errors == [], page.errors  # type: ignore[attr-defined]
    finally:
        await context.close()
