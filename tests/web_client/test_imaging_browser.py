"""Imaging in the room, in Chromium: upload with verdicts, a CT series and an ECG shown
by the specialist and followed by the doctor (slice and window), 12 leads on paper;
pan, angle and region measurements, the keyboard, an ultrasound loop's play and speed,
and two fingers on a phone."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from pydicom.data import get_testdata_file, get_testdata_files

from dicom_viewer.measure import region_stats
from tests.signalling.care_network import accepted_consultation, served
from tests.signalling.conftest import make_settings
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


CT = sorted(get_testdata_files("dicomdirtests/98892001/CT5N/*"))  # 5 slices of 16 x 16
CT_SPACING = 0.488281  # mm, PixelSpacing of those slices (rows and columns)
DESKTOP = {"width": 1280, "height": 1000}


async def shown(
    browser: Browser,
    room: tuple[str, str],
    files: list[str],
    spec_view: dict[str, Any] | None = None,
) -> tuple[list[BrowserContext], Page, Page]:
    """The specialist uploads ``files`` and shows the first series; the doctor follows."""
    url, cid = room
    contexts = [
        await browser.new_context(**(spec_view or {"viewport": DESKTOP})),
        await browser.new_context(viewport=DESKTOP),
    ]
    spec = await log_in(contexts[0], url, "bm.cardio")
    doc = await log_in(contexts[1], url, "mc.doc")
    await enter(spec, cid)
    await enter(doc, cid)
    await spec.get_by_label("Upload DICOM files").set_input_files(files)
    accepted = spec.locator('.upload-results li[data-status="accepted"]')
    await expect(accepted).to_have_count(len(files))
    await spec.locator(".library .series").first.click()
    await expect(doc.locator(".presenter")).to_contain_text("Presenter: BM.CARDIO")
    for page in (spec, doc):
        await page.wait_for_function(
            "() => { const i = document.querySelector('img.slice'); "
            "return i && i.complete && i.naturalWidth > 0; }"
        )
    return contexts, spec, doc


async def box(page: Page, selector: str) -> dict[str, float]:
    """The element's box on screen, after CSS transforms, as the page computes it."""
    return dict(
        await page.eval_on_selector(
            selector,
            "e => { const r = e.getBoundingClientRect(); "
            "return {x: r.x, y: r.y, width: r.width, height: r.height}; }",
        )
    )


def centre(b: dict[str, float]) -> tuple[float, float]:
    return b["x"] + b["width"] / 2, b["y"] + b["height"] / 2


async def moved_to(page: Page, selector: str, x: float, y: float, width: float) -> None:
    """Wait until the element's box is centred on (x, y) and ``width`` wide (±0.5 px)."""
    await page.wait_for_function(
        """([sel, x, y, w]) => {
          const r = document.querySelector(sel).getBoundingClientRect();
          return Math.abs(r.x + r.width / 2 - x) < 0.5 && Math.abs(r.y + r.height / 2 - y) < 0.5
            && Math.abs(r.width - w) < 0.5;
        }""",
        arg=[selector, x, y, width],
    )


def visible_area(stage: dict[str, float], image: dict[str, float]) -> dict[str, float]:
    """Where the (zoomed, panned) image shows inside the stage that clips it."""
    x0, y0 = max(stage["x"], image["x"]), max(stage["y"], image["y"])
    x1 = min(stage["x"] + stage["width"], image["x"] + image["width"])
    y1 = min(stage["y"] + stage["height"], image["y"] + image["height"])
    assert x1 - x0 > 50 and y1 - y0 > 50
    return {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0}


def at(area: dict[str, float], fx: float, fy: float) -> tuple[int, int]:
    # whole screen pixels: a click lands on one, so the expected value uses the same
    return round(area["x"] + area["width"] * fx), round(area["y"] + area["height"] * fy)


def image_point(p: tuple[int, int], image: dict[str, float], size: int = 16) -> tuple[float, float]:
    return (p[0] - image["x"]) / image["width"] * size, (p[1] - image["y"]) / image["height"] * size


def angle_at(a: tuple[float, float], v: tuple[float, float], b: tuple[float, float]) -> float:
    d = math.degrees(math.atan2(b[1] - v[1], b[0] - v[0]) - math.atan2(a[1] - v[1], a[0] - v[0]))
    d = abs(d) % 360
    return 360 - d if d > 180 else d


async def test_keyboard_pan_angle_and_region(browser: Browser, room: tuple[str, str]) -> None:
    contexts, spec, doc = await shown(browser, room, CT)
    try:
        # The viewing area is focusable, named, and lists its keys.
        stage = spec.get_by_role("application", name="Image viewer")
        await expect(stage).to_have_attribute("tabindex", "0")
        await expect(stage).to_have_attribute("aria-keyshortcuts", re.compile(r"\bPageDown\b"))
        await spec.get_by_text("Keyboard shortcuts").click()
        await expect(spec.locator(".shortcuts dl")).to_contain_text("First / last slice")
        await stage.focus()
        await expect(stage).to_be_focused()

        # Slices from the keyboard; the doctor follows each step.
        followed = doc.locator("img.slice")
        for key, frame in [
            ("ArrowDown", "1"),
            ("ArrowDown", "2"),
            ("End", "4"),
            ("Home", "0"),
            ("PageDown", "4"),  # ten further, stopped at the last
            ("ArrowUp", "3"),
        ]:
            await stage.press(key)
            await expect(followed).to_have_attribute("data-frame", frame)
        await stage.press("4")  # the fourth preset: lung
        await expect(followed).to_have_attribute("src", re.compile(r"preset=lung"))
        await stage.press("1")  # back to the file's own window
        await expect(followed).not_to_have_attribute("src", re.compile(r"preset="))

        # Zoom, then pan: the picture moves by as much as the presenter dragged.
        wrap = ".slice-wrap"
        home, spec_home = await box(doc, wrap), await box(spec, wrap)
        await stage.press("+")
        await stage.press("+")
        zoom = 1.25 * 1.25
        cx, cy = centre(home)
        await moved_to(doc, wrap, cx, cy, home["width"] * zoom)
        await spec.get_by_role("button", name="Pan").click()
        await expect(spec.get_by_role("button", name="Pan")).to_have_attribute(
            "aria-pressed", "true"
        )
        x, y = centre(await box(spec, ".viewer-stage"))
        await spec.mouse.move(x, y)
        await spec.mouse.down()
        await spec.mouse.move(x + 60, y + 40, steps=6)
        await spec.mouse.up()
        await moved_to(doc, wrap, cx + 60, cy + 40, home["width"] * zoom)
        sx, sy = centre(spec_home)
        await moved_to(spec, wrap, sx + 60, sy + 40, spec_home["width"] * zoom)
        # pan travels in image pixels: 60 screen px at this zoom and 16 css px per pixel
        css_per_pixel = home["width"] / 16
        pan_x = float(await doc.locator(wrap).get_attribute("data-pan-x") or "nan")
        assert pan_x == pytest.approx(60 / (zoom * css_per_pixel), abs=1e-6)
        # Shift-drag pans too, without the Pan tool.
        await spec.get_by_role("button", name="Pan").click()
        await spec.keyboard.down("Shift")
        await spec.mouse.move(x, y)
        await spec.mouse.down()
        await spec.mouse.move(x - 30, y, steps=3)
        await spec.mouse.up()
        await spec.keyboard.up("Shift")
        await moved_to(doc, wrap, cx + 30, cy + 40, home["width"] * zoom)
        # ... and Shift + an arrow moves it a tenth of its width.
        await stage.press("Shift+ArrowLeft")
        await moved_to(
            doc, wrap, cx + 30 - home["width"] * zoom / 10, cy + 40, home["width"] * zoom
        )
        await spec.get_by_role("button", name="Reset view").click()
        await moved_to(doc, wrap, cx, cy, home["width"])

        # An angle, measured on the zoomed and panned picture: three clicks.
        await stage.press("+")
        await stage.press("Shift+ArrowRight")
        await expect(doc.locator(wrap)).to_have_attribute("data-zoom", "1.25")
        await expect(spec.locator(wrap)).not_to_have_attribute("data-pan-x", "0")
        await spec.get_by_role("button", name="Measure angle").click()
        image = await box(spec, wrap)
        area = visible_area(await box(spec, ".viewer-stage"), image)
        a, vertex, b = at(area, 0.15, 0.2), at(area, 0.45, 0.85), at(area, 0.9, 0.35)
        for point in (a, vertex, b):
            await spec.mouse.click(*point)
        # the image is scaled alike in x and y: the angle on screen is the angle on it
        expected = angle_at(a, vertex, b)
        angle = doc.locator('.mark-label[data-kind="angle"]')
        await expect(angle).to_have_text(re.compile(r"^\d+\.\d°$"))
        assert float(await angle.get_attribute("data-value") or "nan") == pytest.approx(
            expected, abs=0.006
        )
        assert float((await angle.inner_text())[:-1]) == pytest.approx(expected, abs=0.051)

        # An elliptical region: its area from PixelSpacing, its mean and SD in HU.
        await stage.press("e")
        await expect(spec.get_by_role("button", name="Ellipse region")).to_have_attribute(
            "aria-pressed", "true"
        )
        image = await box(spec, wrap)
        area = visible_area(await box(spec, ".viewer-stage"), image)
        c1, c2 = at(area, 0.1, 0.15), at(area, 0.8, 0.9)
        await spec.mouse.click(*c1)
        await spec.mouse.click(*c2)
        p1, p2 = image_point(c1, image), image_point(c2, image)
        width_mm = abs(p2[0] - p1[0]) * CT_SPACING
        height_mm = abs(p2[1] - p1[1]) * CT_SPACING
        region = doc.locator('.mark-label[data-kind="region"]')
        await expect(region).to_contain_text("HU")
        assert float(await region.get_attribute("data-area") or "nan") == pytest.approx(
            math.pi * width_mm * height_mm / 4, rel=1e-4
        )
        await expect(region).to_contain_text(re.compile(r"^Area \d+\.\d mm² · mean -?\d+\.\d HU"))
        # The mean is that of the slice's pixels inside the ellipse the doctor sees.
        ellipse = doc.locator("svg.marks .mark.region ellipse")
        cxr, cyr, rx, ry = [
            float(await ellipse.get_attribute(k) or "nan") for k in "cx cy rx ry".split()
        ]
        corner_a, corner_b = (cxr - rx, cyr - ry), (cxr + rx, cyr + ry)
        assert corner_a == pytest.approx(p1, abs=1e-3) and corner_b == pytest.approx(p2, abs=1e-3)
        src = await doc.locator("img.slice").get_attribute("src") or ""
        sop = re.search(r"/instances/([^/]+)/rendered", src)
        assert sop is not None
        datasets = [pydicom.dcmread(f) for f in CT]
        ds = next(d for d in datasets if d.SOPInstanceUID == sop.group(1))
        stats = region_stats(ds, 0, "ellipse", corner_a, corner_b)
        assert stats is not None and stats.unit == "HU"
        assert float(await region.get_attribute("data-mean") or "nan") == pytest.approx(
            stats.mean, abs=0.006
        )
        assert float(await region.get_attribute("data-sd") or "nan") == pytest.approx(
            stats.sd, abs=0.006
        )

        # Esc drops the first click of a length: the next two make it.
        await stage.press("l")
        image = await box(spec, wrap)
        area = visible_area(await box(spec, ".viewer-stage"), image)
        dropped, start, end = at(area, 0.9, 0.1), at(area, 0.2, 0.5), at(area, 0.6, 0.7)
        await spec.mouse.click(*dropped)
        await expect(spec.locator("svg.marks .pending circle")).to_have_count(1)
        await stage.press("Escape")
        await expect(spec.locator("svg.marks .pending circle")).to_have_count(0)
        await spec.mouse.click(*start)
        await spec.mouse.click(*end)
        length = doc.locator('.mark-label[data-kind="length"]')
        await expect(length).to_have_count(1)
        s_img, e_img = image_point(start, image), image_point(end, image)
        expected_mm = math.dist(s_img, e_img) * CT_SPACING
        assert float(await length.get_attribute("data-value") or "nan") == pytest.approx(
            expected_mm, abs=0.006
        )

        # In Vietnamese: translated labels, a decimal comma.
        await doc.get_by_role("button", name="Tiếng Việt").click()
        await expect(region).to_contain_text(re.compile(r"^Diện tích \d+,\d mm² · trung bình"))
        await expect(doc.get_by_role("application", name="Vùng xem ảnh")).to_have_count(1)

        # Measurements are cleared for everyone.
        await spec.get_by_role("button", name="Clear measurements").click()
        await expect(doc.locator(".mark-label")).to_have_count(0)
        await expect(doc.locator("svg.marks .mark")).to_have_count(0)
        for page in (spec, doc):
            assert page.errors == [], page.errors  # type: ignore[attr-defined]
    finally:
        for context in contexts:
            await context.close()


async def test_cine_space_plays_and_speed_sets_the_rate(
    browser: Browser, room: tuple[str, str]
) -> None:
    us = get_testdata_file("examples_ybr_color.dcm")  # 30 frames at 30 frames/s
    assert us is not None
    contexts, spec, doc = await shown(browser, room, [us])
    try:
        for page in (spec, doc):
            await expect(page.locator(".cine-rate")).to_have_text("30 frames/s")
            await expect(page.locator("button.play")).to_have_text("Play")
        stage = spec.get_by_role("application", name="Image viewer")
        await stage.press(" ")  # Space plays ...
        await expect(spec.locator("button.play")).to_have_text("Pause")
        await expect(doc.locator("button.play")).to_have_text("Pause")
        await expect(doc.locator("img.slice")).not_to_have_attribute("data-frame", "0")
        await expect(spec.locator(".viewer-stage")).to_have_attribute("data-interval-ms", "33")

        # The speed sets the rate the presenter's loop steps at, and everyone reads it.
        for speed, fps, interval in [("2", "60", "17"), ("0.5", "15", "67"), ("1", "30", "33")]:
            await spec.get_by_label("Speed").select_option(speed)
            for page in (spec, doc):
                await expect(page.locator(".cine-rate")).to_have_text(f"{fps} frames/s")
                await expect(page.locator(".cine-rate")).to_have_attribute("data-fps", fps)
                await expect(page.locator("#cine-speed")).to_have_value(speed)
            await expect(spec.locator(".viewer-stage")).to_have_attribute(
                "data-interval-ms", interval
            )

        await stage.press(" ")  # ... and pauses.
        await expect(doc.locator("button.play")).to_have_text("Play")
        await expect(spec.locator(".viewer-stage")).not_to_have_attribute(
            "data-interval-ms", re.compile(".*")
        )
        # Paused, the arrows step through the frames.
        paused = int(await doc.locator("img.slice").get_attribute("data-frame") or "-1")
        await expect(spec.locator("img.slice")).to_have_attribute("data-frame", str(paused))
        await stage.press("End")
        await expect(doc.locator("img.slice")).to_have_attribute("data-frame", "29")
        for page in (spec, doc):
            assert page.errors == [], page.errors  # type: ignore[attr-defined]
    finally:
        for context in contexts:
            await context.close()


async def test_phone_two_fingers_pan_and_zoom(browser: Browser, room: tuple[str, str]) -> None:
    phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    contexts, spec, doc = await shown(browser, room, CT, spec_view=phone)
    try:
        # Every control of the viewer is a finger-sized target and fits on the screen.
        sizes = await spec.locator(".viewer-controls button, .viewer-controls select").evaluate_all(
            "els => els.map(e => { const r = e.getBoundingClientRect(); "
            "return [e.textContent || e.getAttribute('aria-label'), r.width, r.height, r.right]; })"
        )
        assert len(sizes) >= 10
        for name, width, height, right in sizes:
            assert width >= 44 and height >= 44 and right <= 390, (name, width, height, right)

        wrap = ".slice-wrap"
        home = await box(spec, wrap)
        x, y = centre(await box(spec, ".viewer-stage"))
        cdp = await spec.context.new_cdp_session(spec)

        async def touch(kind: str, points: list[tuple[float, float]]) -> None:
            await cdp.send(
                "Input.dispatchTouchEvent",
                {
                    "type": kind,
                    "touchPoints": [
                        {"x": px, "y": py, "id": i} for i, (px, py) in enumerate(points)
                    ],
                },
            )

        # Two fingers 80 px apart spread to 120 px while both move 30 px right, 20 down.
        await touch("touchStart", [(x - 40, y), (x + 40, y)])
        for step in range(1, 6):
            f = step / 5
            spread = 40 + 20 * f
            await touch(
                "touchMove", [(x - spread + 30 * f, y + 20 * f), (x + spread + 30 * f, y + 20 * f)]
            )
        await touch("touchEnd", [])
        await expect(doc.locator(wrap)).to_have_attribute("data-zoom", "1.5")
        # on the phone the picture followed the fingers' midpoint
        cx, cy = centre(home)
        await moved_to(spec, wrap, cx + 30, cy + 20, home["width"] * 1.5)
        # the doctor's screen is another size: the same part of the image, in image pixels
        css_per_pixel = home["width"] / 16
        pan = [
            float(await doc.locator(wrap).get_attribute(k) or "nan")
            for k in ("data-pan-x", "data-pan-y")
        ]
        assert pan == pytest.approx(
            [30 / (1.5 * css_per_pixel), 20 / (1.5 * css_per_pixel)], abs=1e-6
        )
        for page in (spec, doc):
            assert page.errors == [], page.errors  # type: ignore[attr-defined]
    finally:
        for context in contexts:
            await context.close()
