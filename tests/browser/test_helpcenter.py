"""The help centre in a real browser: search as you type in Chinese, the article's button,
and suggestions on the contact page while the visitor types."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect

from okpay.helpcenter import service


def sync_articles(db) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as session:
        service.do_sync(session)


def test_search_forgotten_password_in_chinese_leads_to_the_reset_form(zh_page: Page, db) -> None:  # type: ignore[no-untyped-def]
    sync_articles(db)
    page = zh_page
    page.goto("/help")
    page.get_by_test_id("help-search").fill("忘记密码")
    first = page.locator("[data-testid=help-results] li").first
    expect(first).to_have_attribute("data-slug", "reset-password")
    expect(first.locator("mark").first).to_be_visible()
    first.locator("a").click()
    expect(page.locator("h1")).to_contain_text("忘记密码")
    page.get_by_test_id("article-action").click()
    expect(page).to_have_url(re.compile(r"/password/forgot$"))
    expect(page.locator("form[action='/password/forgot'] #f-account")).to_be_visible()


def test_contact_form_suggests_articles_while_typing(page: Page, db) -> None:  # type: ignore[no-untyped-def]
    sync_articles(db)
    page.goto("/help/contact")
    page.get_by_test_id("contact-subject").fill("charged twice")
    page.get_by_test_id("contact-description").press_sequentially(
        "I paid once but see two payments"
    )
    suggestions = page.locator("[data-testid=contact-suggestions] a")
    expect(suggestions.first).to_have_attribute("data-slug", "duplicate-charge-refund")
    suggestions.first.click()
    expect(page).to_have_url(re.compile(r"/help/articles/duplicate-charge-refund$"))
    deadline = time.monotonic() + 5  # the click is reported by a beacon as the page leaves
    while True:
        with db.unit_of_work(write=False) as session:
            stats = service.deflection_stats(session)
        if stats.visits_with_click or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert stats.visits_with_click == 1 and stats.deflected == 1
