"""The case file in the room, in Chromium: a SOAP note appears live on the other side,
the conclusion is signed, an attachment is uploaded and a lying one refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect

from signalling.app import build_app
from signalling.platform import open_platform
from tests.signalling.conftest import make_settings
from tests.signalling.network import build_network, member
from tests.web_client.test_consultation_browser import log_in
from tests.web_client.test_imaging_browser import enter
from tests.web_client.test_shell_browser import shoot

pytestmark = pytest.mark.browser


@pytest.fixture
async def room(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    async with open_platform(make_settings(tmp_path), migrate=True) as platform:
        await build_network(platform)
        test_server = TestServer(build_app(platform))
        await test_server.start_server()
        url = str(test_server.make_url("/"))
        doc = await member(platform, url, "mc.doc", online=False)
        spec = await member(platform, url, "bm.cardio", online=False)
        try:
            _, body = await doc.call(
                "POST",
                "/api/patients",
                {"full_name": "Lò Văn Páo", "sex": "male", "identifier": "079123"},
            )
            _, body = await doc.call(
                "POST",
                "/api/consultations",
                {
                    "kind": "clinical_consultation",
                    "specialty": "cardiology",
                    "urgency": "urgent",
                    "question": "Chest pain",
                    "patient_id": body["patient"]["id"],
                },
            )
            cid = body["consultation"]["id"]
            assert (await spec.call("POST", f"/api/consultations/{cid}/accept", {}))[0] == 200
            yield url, cid
        finally:
            await doc.close()
            await spec.close()
            await test_server.close()


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
