"""The consultation request form in Chromium: it offers no "training" kind (a training
is held from the trainings section and names no patient), and a field the server
refuses is named, marked and explained in the page's language."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.signalling.care_network import served
from tests.signalling.conftest import make_settings
from tests.web_client.test_consultation_browser import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[str]:
    async with served(make_settings(tmp_path)) as (_, url):
        yield url


async def fill_request(page: Page, question: str) -> None:
    await page.get_by_label("Mã bệnh nhân (CCCD/mã hồ sơ)").fill("079123")
    await page.get_by_label("Họ tên bệnh nhân").fill("Lò Văn Páo")
    await page.get_by_label("Câu hỏi lâm sàng").fill(question)


async def consultations(page: Page) -> int:
    return int(
        await page.evaluate(
            "fetch('/api/consultations').then(r => r.json()).then(b => b.consultations.length)"
        )
    )


async def test_no_training_kind_and_field_errors_in_vietnamese(
    browser: Browser, server: str
) -> None:
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = await log_in(context, server, "mc.doc")
        await page.get_by_role("button", name="Tiếng Việt").click()
        kind = page.get_by_label("Hình thức")
        values = await kind.locator("option").evaluate_all("os => os.map(o => o.value)")
        assert "training" not in values and len(values) == 5, values
        await expect(kind.locator("option", has_text="Đào tạo")).to_have_count(0)

        # A control character in the question: the server names the field, the page
        # says which one and what is wrong, in Vietnamese, and nothing is made.
        await fill_request(page, "Đau ngực\x07 từ sáng")
        await page.get_by_role("button", name="Gửi yêu cầu").click()
        result = page.locator("#request-result")
        await expect(result).to_have_text(
            "Câu hỏi lâm sàng: có ký tự không được phép (ký tự điều khiển)."
        )
        question = page.get_by_label("Câu hỏi lâm sàng")
        await expect(question).to_have_attribute("aria-invalid", "true")
        await expect(question).to_have_attribute("aria-describedby", "request-result")
        await expect(question).to_be_focused()
        assert await consultations(page) == 0

        # A page that still offers "training" (an old copy): refused, and the message
        # sends the doctor to the trainings section.
        await kind.evaluate(
            "s => s.append(Object.assign(document.createElement('option'), "
            "{value: 'training', textContent: 'Đào tạo'}))"
        )
        await kind.select_option("training")
        await question.fill("Đau ngực từ sáng")
        await page.get_by_role("button", name="Gửi yêu cầu").click()
        await expect(result).to_have_text(
            "Hình thức: đào tạo không phải là yêu cầu hội chẩn; hãy mở buổi đào tạo ở mục "
            "Đào tạo trực tuyến (không gắn với bệnh nhân)."
        )
        await expect(kind).to_have_attribute("aria-invalid", "true")
        await expect(question).not_to_have_attribute("aria-invalid", "true")
        assert await consultations(page) == 0

        # A request the server takes clears the marks.
        await kind.select_option("clinical_consultation")
        await page.get_by_role("button", name="Gửi yêu cầu").click()
        await expect(result).to_have_text("Đã gửi yêu cầu.")
        await expect(kind).not_to_have_attribute("aria-invalid", "true")
        assert await consultations(page) == 1
        # the browser logs the two refusals it was sent; nothing else went wrong
        refusals = "Failed to load resource: the server responded with a status of 400"
        errors = [e for e in page.errors if not e.startswith(refusals)]  # type: ignore[attr-defined]
        assert errors == [] and len(page.errors) == 2, page.errors  # type: ignore[attr-defined]
    finally:
        await context.close()
