"""Whose images these are, in Chromium: the viewer's corners name the patient and the
study of real CTs, readable over the picture and beside it on a phone; an image of
another patient is held at upload with both identities side by side, filed only when
the uploader confirms it (and then flagged on the image) and gone when discarded; an
image that names nobody says so on the image."""

from __future__ import annotations

from collections.abc import AsyncIterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.signalling.care_network import accepted_consultation, served
from tests.signalling.conftest import make_settings
from tests.signalling.imaging_helpers import ct5n, dicom_file, of_patient
from tests.web_client.test_consultation_browser import log_in
from tests.web_client.test_imaging_browser import enter

pytestmark = pytest.mark.browser

REQUEST = {
    "kind": "imaging_consultation",
    "specialty": "cardiology",
    "urgency": "urgent",
    "question": "Mass on CT?",
}
# the case file's patient accepted_consultation(with_patient=True) makes
CASE_ID, CASE_NAME = "079123", "Lò Văn Páo"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 1000}}


@pytest.fixture
async def case_room(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """An accepted consultation whose case file names Lò Văn Páo (079123)."""
    async with served(make_settings(tmp_path)) as (platform, url):
        yield url, await accepted_consultation(platform, url, REQUEST, with_patient=True)


@pytest.fixture
async def bare_room(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """An accepted consultation without a patient (nothing is held)."""
    async with served(make_settings(tmp_path)) as (platform, url):
        yield url, await accepted_consultation(platform, url, REQUEST)


def as_upload(name: str, data: bytes) -> dict[str, Any]:
    return {"name": name, "mimeType": "application/dicom", "buffer": data}


def ours(index: int = 0) -> dict[str, Any]:
    """A CT5N slice relabelled as the case file's patient, in DICOM's PN form."""
    return as_upload(f"ct{index}.dcm", of_patient(ct5n()[index], CASE_ID, "LO^VAN^PAO", "M"))


def original(name: str) -> dict[str, Any]:
    return as_upload(name, dicom_file(name).read_bytes())


async def open_series(page: Page, series_uid: str) -> None:
    await page.locator(f'.library .series[data-object="{series_uid}"]').click()
    await page.wait_for_function(
        "() => { const i = document.querySelector('img.slice'); "
        "return i && i.complete && i.naturalWidth > 0; }"
    )


async def contexts_of(browser: Browser, *views: dict[str, Any]) -> list[BrowserContext]:
    return [await browser.new_context(**view) for view in views]


def boxes_overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


async def test_corners_name_the_patient_and_study(
    browser: Browser, case_room: tuple[str, str]
) -> None:
    url, cid = case_room
    contexts = await contexts_of(browser, DESKTOP, PHONE)
    try:
        spec = await log_in(contexts[0], url, "bm.cardio")
        doc = await log_in(contexts[1], url, "mc.doc")
        await enter(spec, cid)
        await enter(doc, cid)
        await spec.get_by_label("Upload DICOM files").set_input_files([ours(0), ours(1)])
        await expect(spec.locator(".upload-counts")).to_have_text(
            "Accepted: 2 · Refused: 0 · Held: 0"
        )
        series_uid = str(pydicom.dcmread(ct5n()[0]).SeriesInstanceUID)
        await open_series(spec, series_uid)
        await doc.wait_for_function(
            "() => { const i = document.querySelector('img.slice'); "
            "return i && i.complete && i.naturalWidth > 0; }"
        )
        for page in (spec, doc):
            patient = page.locator('[data-corner="patient"]')
            # PN's ^ become spaces; the ID, sex and age (043Y) from the file
            await expect(patient.locator('[data-field="name"]')).to_have_text("LO VAN PAO")
            await expect(patient.locator('[data-field="id"]')).to_have_text(f"ID: {CASE_ID}")
            await expect(patient.locator('[data-field="sex-age"]')).to_have_text("Male · 43 y")
            study = page.locator('[data-corner="study"]')
            await expect(study.locator('[data-field="study-date"]')).to_have_text(
                "Study 2001-01-01 00:00:00"
            )
            # the file names no institution: the corner says so rather than staying blank
            await expect(study.locator('[data-field="institution"]')).to_have_text(
                "Institution: none"
            )
            await expect(study.locator('[data-field="accession"]')).to_have_text("Acc. 2")
            series = page.locator('[data-corner="series"]')
            await expect(series.locator('[data-field="series"]')).to_have_text(
                "Series 5 · SmartScore - Gated 0.5 sec"
            )
            await expect(series.locator('[data-field="slice"]')).to_have_text("Slice 1 / 2")
            await expect(series.locator('[data-field="position"]')).to_contain_text("mm")
            await expect(page.locator(".identity-warning")).to_have_count(0)
            # a screen reader hears whose images they are with the viewer's name
            described = await page.get_by_role("application").get_attribute("aria-describedby")
            first = (described or "").split()[0]
            await expect(page.locator(f"#{first}")).to_contain_text("LO VAN PAO")
        # The presenter moves on: the corner follows the slice, for the doctor too.
        await spec.locator("#slice-slider").fill("1")
        await expect(doc.locator('[data-corner="series"] [data-field="slice"]')).to_have_text(
            "Slice 2 / 2"
        )
        # Readable over any picture: a shadow and a dark ground under white text.
        style = await spec.eval_on_selector(
            '[data-corner="patient"]',
            "e => { const s = getComputedStyle(e); return [s.color, s.textShadow, "
            "s.backgroundColor]; }",
        )
        assert style[0] == "rgb(255, 255, 255)" and style[1] != "none", style
        assert style[2].startswith("rgba(0, 0, 0"), style
        # On the phone the corners sit above and below the picture, inside the screen.
        image = await doc.eval_on_selector(
            "img.slice",
            "e => { const r = e.getBoundingClientRect(); "
            "return {x: r.x, y: r.y, width: r.width, height: r.height}; }",
        )
        assert image["width"] >= 256 and image["x"] + image["width"] <= 390, image
        corners = await doc.eval_on_selector_all(
            ".corner",
            "els => els.filter(e => e.textContent).map(e => { const r = e.getBoundingClientRect(); "
            "return {x: r.x, y: r.y, width: r.width, height: r.height}; })",
        )
        assert len(corners) == 4
        for corner in corners:
            assert not boxes_overlap(corner, image), (corner, image)
            assert corner["x"] >= 0 and corner["x"] + corner["width"] <= 390, corner
        # In Vietnamese, with the date as Vietnam writes it.
        await doc.get_by_role("button", name="Tiếng Việt").click()
        await expect(doc.locator('[data-field="study-date"]')).to_have_text(
            "Ngày chụp 01/01/2001 00:00:00"
        )
        await expect(doc.locator('[data-field="sex-age"]')).to_have_text("Nam · 43 tuổi")
        for page in (spec, doc):
            assert page.errors == [], page.errors  # type: ignore[attr-defined]
    finally:
        for context in contexts:
            await context.close()


async def study_patients(page: Page, cid: str) -> list[str]:
    studies = await page.evaluate(
        f"fetch('/api/consultations/{cid}/imaging').then(r => r.json()).then(b => b.studies)"
    )
    return sorted(s["patient_id"] for s in studies)


async def test_another_patients_ct_is_held_then_filed_or_discarded(
    browser: Browser, case_room: tuple[str, str]
) -> None:
    url, cid = case_room
    contexts = await contexts_of(browser, DESKTOP)
    try:
        spec = await log_in(contexts[0], url, "bm.cardio")
        await enter(spec, cid)
        # One slice of the case's patient, and two real CTs/MRs of others as they are.
        await spec.get_by_label("Upload DICOM files").set_input_files(
            [ours(0), original("CT_small.dcm"), original("MR_small.dcm")]
        )
        counts = spec.locator(".upload-counts")
        await expect(counts).to_have_text("Accepted: 1 · Refused: 0 · Held: 2")
        held = spec.locator('.upload-results li[data-status="held"]')
        await expect(held).to_have_count(2)
        ct = held.filter(has_text="CT_small.dcm")
        # both identities side by side, the differing ID marked
        id_row = ct.locator('tr[data-field="id"]')
        await expect(id_row.locator('[data-side="file"]')).to_have_text("1CT1")
        await expect(id_row.locator('[data-side="case"]')).to_have_text(CASE_ID)
        await expect(id_row).to_have_attribute("data-differs", "true")
        name_row = ct.locator('tr[data-field="name"]')
        await expect(name_row.locator('[data-side="file"]')).to_have_text("CompressedSamples CT1")
        await expect(name_row.locator('[data-side="case"]')).to_have_text(CASE_NAME)
        # nothing of theirs was stored
        assert await study_patients(spec, cid) == [CASE_ID]
        await expect(spec.locator(".library .series")).to_have_count(1)

        # Discard: the MR is forgotten, nothing stored.
        mr = held.filter(has_text="MR_small.dcm")
        await mr.get_by_role("button", name="Discard").click()
        discarded = spec.locator('.upload-results li[data-status="discarded"]')
        await expect(discarded).to_contain_text("MR_small.dcm")
        await expect(counts).to_have_text("Accepted: 1 · Refused: 0 · Held: 1")
        assert await study_patients(spec, cid) == [CASE_ID]

        # Confirm: the same file sent again with confirm_patient=yes is filed.
        await ct.get_by_role("button", name="File it into this case anyway").click()
        await expect(
            spec.locator('.upload-results li[data-status="accepted"]', has_text="CT_small.dcm")
        ).to_have_count(1)
        await expect(counts).to_have_text("Accepted: 2 · Refused: 0 · Held: 0")
        await expect(spec.locator(".library .series")).to_have_count(2)
        assert await study_patients(spec, cid) == ["079123", "1CT1"]

        # On the image, another patient's study says so.
        other = str(pydicom.dcmread(dicom_file("CT_small.dcm")).SeriesInstanceUID)
        await open_series(spec, other)
        warning = spec.get_by_role("alert").filter(has_text="Images of another patient")
        await expect(warning).to_be_visible()
        await expect(warning).to_contain_text("1CT1")
        await expect(warning).to_contain_text(CASE_ID)
        await expect(spec.locator('[data-corner="patient"] [data-field="name"]')).to_have_text(
            "CompressedSamples CT1"
        )
        await spec.get_by_role("button", name="Tiếng Việt").click()
        await expect(spec.locator(".identity-warning")).to_contain_text("Ảnh của bệnh nhân khác")
        await expect(spec.locator(".upload-counts")).to_have_text(
            "Đã nhận: 2 · Bị từ chối: 0 · Chờ xác nhận: 0"
        )
        # ... and the case's own study carries no warning.
        await open_series(spec, str(pydicom.dcmread(ct5n()[0]).SeriesInstanceUID))
        await expect(spec.locator(".identity-warning")).to_have_count(0)
        assert spec.errors == [], spec.errors  # type: ignore[attr-defined]
    finally:
        for context in contexts:
            await context.close()


def nameless(path: Path) -> bytes:
    ds = pydicom.dcmread(path)
    del ds.PatientName
    del ds.PatientID
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


async def test_refused_reasons_and_an_image_without_identity(
    browser: Browser, bare_room: tuple[str, str]
) -> None:
    url, cid = bare_room
    contexts = await contexts_of(browser, DESKTOP)
    try:
        spec = await log_in(contexts[0], url, "bm.cardio")
        await enter(spec, cid)
        await spec.get_by_role("button", name="Tiếng Việt").click()
        await spec.get_by_label("Tải lên tệp DICOM").set_input_files(
            [as_upload("anon.dcm", nameless(ct5n()[0])), original("no_meta.dcm")]
        )
        await expect(spec.locator(".upload-counts")).to_have_text(
            "Đã nhận: 1 · Bị từ chối: 1 · Chờ xác nhận: 0"
        )
        refused = spec.locator('.upload-results li[data-status="refused"]')
        await expect(refused).to_have_attribute("data-code", "invalid")
        # the reason in the page's language, the server's words behind "Details"
        await expect(refused).to_contain_text("không phải tệp DICOM hợp lệ")
        await open_series(spec, str(pydicom.dcmread(ct5n()[0]).SeriesInstanceUID))
        warning = spec.get_by_role("alert").filter(
            has_text="Ảnh không có thông tin nhận dạng bệnh nhân"
        )
        await expect(warning).to_be_visible()
        patient = spec.locator('[data-corner="patient"]')
        await expect(patient.locator('[data-field="name"]')).to_have_text("Họ tên: không có")
        await expect(patient.locator('[data-field="id"]')).to_have_text("Mã BN: không có")
        assert spec.errors == [], spec.errors  # type: ignore[attr-defined]
    finally:
        for context in contexts:
            await context.close()
