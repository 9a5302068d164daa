"""Refused uploads as a customer meets them in a real browser (issue 11, items 8, 10, 11):
the contact form comes back with each refused file named and the reason in the page's
language, and a body over the cap gets the error page instead of being read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.helpers import pdf
from tests.support.test_upload_guards import ACTIVE, png_bomb

SHOTS = os.environ.get("OKPAY_SHOTS")  # a folder: screenshots of each state, to look at
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def fill_contact(page: Page) -> None:
    page.get_by_test_id("contact-name").fill("Li Hua")
    page.get_by_test_id("contact-email").fill("lihua@example.com")
    page.get_by_test_id("contact-category").select_option("topup")
    page.get_by_test_id("contact-subject").fill("Top-up not arrived")
    page.get_by_test_id("contact-description").fill("I topped up 100 yuan and see nothing.")


def no_horizontal_overflow(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"page is {width}px wide"  # type: ignore[index]


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_i11_bombs_and_active_pdfs_are_named_on_the_form(  # type: ignore[no-untyped-def]
    page: Page, zh_page: Page, db, lang: str, size: str
) -> None:
    pg = zh_page if lang == "zh" else page
    pg.set_viewport_size(dict(zip(("width", "height"), SIZES[size], strict=True)))  # type: ignore[arg-type]
    pg.goto("/help/contact")
    fill_contact(pg)
    pg.get_by_test_id("contact-attachments").set_input_files(
        [
            {"name": "wide.png", "mimeType": "image/png", "buffer": png_bomb(6400, 6251)},
            {"name": "statement.pdf", "mimeType": "application/pdf",
             "buffer": ACTIVE["open action script"]},
            {"name": "receipt.pdf", "mimeType": "application/pdf", "buffer": pdf()},
        ]
    )  # fmt: skip
    pg.get_by_test_id("contact-send").click()
    form = pg.locator("form").filter(has=pg.get_by_test_id("contact-attachments"))
    expected = (
        ("图片尺寸过大", "含有脚本")
        if lang == "zh"
        else ("too large a picture", "contains scripts")
    )
    for text in expected:
        expect(form).to_contain_text(text)
    expect(form).to_contain_text("wide.png")
    expect(form).to_contain_text("statement.pdf")
    # What was typed is kept, and the good file waits to be sent with the rest.
    expect(pg.get_by_test_id("contact-subject")).to_have_value("Top-up not arrived")
    expect(form).to_contain_text("receipt.pdf")
    no_horizontal_overflow(pg)
    shot(pg, f"refused-files-{lang}-{size}")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_i11_a_body_over_the_cap_gets_the_error_page(  # type: ignore[no-untyped-def]
    page: Page, zh_page: Page, db, settings, lang: str
) -> None:
    settings.upload_max_bytes = 1024 * 1024
    settings.upload_max_files = 1  # upload cap: 2 MB
    pg = zh_page if lang == "zh" else page
    pg.goto("/help/contact")
    fill_contact(pg)
    big = {
        "name": "video.pdf",
        "mimeType": "application/pdf",
        "buffer": b"%PDF-" + b"0" * (3 << 20),
    }
    pg.get_by_test_id("contact-attachments").set_input_files([big])
    pg.get_by_test_id("contact-send").click()
    article = pg.locator("[data-error-code=request_too_large]")
    expect(article).to_contain_text("文件总大小超出限制" if lang == "zh" else "too large together")
    expect(article).to_contain_text("2 MB")
    shot(pg, f"body-over-cap-{lang}")
