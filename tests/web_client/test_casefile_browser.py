"""The case file in the room, in Chromium: a SOAP note appears live on the other side,
the conclusion is signed, an attachment is uploaded and a lying one refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.signalling.conftest import make_settings
from tests.signalling.network import accepted_consultation, served
from tests.web_client.test_consultation_browser import log_in
from tests.web_client.test_imaging_browser import enter
from tests.web_client.test_shell_browser import shoot

pytestmark = pytest.mark.browser


REQUEST = {
    "kind": "clinical_consultation",
    "specialty": "cardiology",
    "urgency": "urgent",
    "question": "Chest pain",
}


@pytest.fixture
async def room(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    async with served(make_settings(tmp_path)) as (platform, url):
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
        for page in (doc, spec):
            assert page.errors == [], page.errors  # type: ignore[attr-defined]
    finally:
        for context in contexts:
            await context.close()
