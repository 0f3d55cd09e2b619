"""The case file in the room, in Chromium: a SOAP note appears live on the other side,
the conclusion is signed, an attachment is uploaded and a lying one refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import free_port
from tests.signalling.care_network import accepted_consultation, served
from tests.signalling.conftest import make_settings
from tests.web_client.test_consultation_browser import log_in
from tests.web_client.test_imaging_browser import enter
from tests.web_client.test_shell_browser import shoot, watch_errors

pytestmark = pytest.mark.browser


REQUEST = {
    "kind": "clinical_consultation",
    "specialty": "cardiology",
    "urgency": "urgent",
    "question": "Chest pain",
}


@pytest.fixture
async def room(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    port = free_port()  # known before start, so that patient links point here
    settings = make_settings(tmp_path, public_url=f"http://127.0.0.1:{port}")
    async with served(settings, port=port) as (platform, url):
        yield url, await accepted_consultation(platform, url, REQUEST, with_patient=True)


async def test_note_conclusion_sign_off_and_attachments(
    browser: Browser, room: tuple[str, str], tmp_path: Path
) -> None:
    url, cid = room
    contexts = [
        await browser.new_context(viewport={"width": 1280, "height": 1200}) for _ in range(2)
    ]
    try:
        doc = await log_in(contexts[0], url, "mc.doc")
        spec = await log_in(contexts[1], url, "bm.cardio")
        await enter(doc, cid)
        await enter(spec, cid)
        await expect(doc.locator(".casefile .patient")).to_contain_text("Lò Văn Páo")

        note = doc.locator('form[data-kind="note"]')
        await note.get_by_label("Subjective (S)").fill("Đau ngực trái 2 giờ")
        await note.get_by_label("Assessment (A)").fill("Nghi nhồi máu cơ tim")
        await note.get_by_role("button", name="Save").click()
        await expect(spec.locator(".casefile .kind-note")).to_contain_text("Đau ngực trái 2 giờ")

        conclusion = spec.locator('form[data-kind="conclusion"]')
        await conclusion.get_by_label("Diagnosis").fill("STEMI thành trước")
        await conclusion.get_by_label("Treatment plan").fill("Alteplase")
        await conclusion.get_by_role("button", name="Save").click()
        await (
            spec.locator(".casefile .kind-conclusion")
            .get_by_role("button", name="Sign off")
            .click()
        )
        await expect(doc.locator(".casefile .kind-conclusion .signatures")).to_contain_text(
            "BM.CARDIO"
        )

        good = tmp_path / "discharge.pdf"
        good.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
        liar = tmp_path / "scan.pdf"
        liar.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
        await doc.get_by_label("Attach files (PDF, images, text)").set_input_files([good, liar])
        await expect(spec.locator(".casefile .attachments")).to_contain_text("discharge.pdf")
        refused = doc.locator('.case-upload li[data-status="refused"]')
        await expect(refused).to_contain_text("scan.pdf")
        await shoot(spec, "casefile-en.png")

        # The patient joins from a link and sees only what a clinician shares.
        await doc.get_by_role("button", name="Invite the patient").click()
        link = await doc.get_by_label("Link for the patient (works once)").input_value()
        patient_ctx = await browser.new_context(viewport={"width": 400, "height": 900})
        contexts.append(patient_ctx)
        patient = await patient_ctx.new_page()
        patient.errors = watch_errors(patient)  # type: ignore[attr-defined]
        await patient.goto(link)
        await patient.get_by_role("button", name="English").click()
        await patient.get_by_label("Your full name").fill("Lò Văn Páo")
        await patient.get_by_role("button", name="Go to the waiting room").click()
        await doc.locator(".waiting").get_by_role("button", name="Admit").click()
        shared = patient.locator(".casefile")
        await expect(shared).to_contain_text("Nothing has been shared yet.")
        await (
            doc.locator(".casefile .kind-note")
            .get_by_role("button", name="Share with the patient: Note")
            .click()
        )
        await expect(shared).to_contain_text("Đau ngực trái 2 giờ")
        await expect(shared).not_to_contain_text("STEMI")  # the conclusion was not shared
        await doc.get_by_role("button", name="Share with the patient: discharge.pdf").click()
        async with patient.expect_download() as download:
            await shared.get_by_role("button", name="Download discharge.pdf").click()
        assert (await download.value).suggested_filename == "discharge.pdf"
        await shoot(patient, "patient-shared-en.png")
        for page in (doc, spec, patient):
            assert page.errors == [], page.errors  # type: ignore[attr-defined]
    finally:
        for context in contexts:
            await context.close()
