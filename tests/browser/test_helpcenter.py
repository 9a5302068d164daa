"""The help centre in a real browser: search as you type in Chinese, the article's button,
and suggestions on the contact page while the visitor types."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect

from okpay.helpcenter import service


def sync_articles(db) -> None:  # type: ignore[no-untyped-def]
    """The repository's articles into the database, and the search index over them built
    here (the server runs in this process), so the first query the browser types does not
    wait for the build (5 s and more on a busy 2-core machine: past expect's timeout)."""
    with db.unit_of_work() as session:
        service.do_sync(session)
    with db.unit_of_work(write=False) as session:
        service.search_index(session)


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


def test_a_question_no_article_answers_shows_every_other_way_to_get_help(zh_page: Page, db) -> None:  # type: ignore[no-untyped-def]
    from tests.helpcenter.hotline_helpers import add_demo_set

    sync_articles(db)
    add_demo_set(db)
    page = zh_page
    page.goto("/help?q=今天天气怎么样")
    empty = page.get_by_test_id("help-empty")
    expect(empty).to_contain_text("没有找到相关的帮助文章")
    expect(page.locator("[data-testid=help-results]")).to_have_count(0)
    expect(empty.get_by_test_id("empty-chat")).to_have_attribute("href", "/support/chat")
    expect(empty.get_by_test_id("empty-community")).to_be_visible()
    expect(page.get_by_test_id("hotline-featured").get_by_test_id("hotline-number")).to_be_visible()
    expect(
        page.get_by_test_id("hotline-featured").get_by_test_id("hotline-status")
    ).not_to_be_empty()
    empty.get_by_test_id("empty-contact").click()
    expect(page).to_have_url(re.compile(r"/help/contact\?subject="))
    expect(page.get_by_test_id("contact-subject")).to_have_value("今天天气怎么样")
    # Typing a question that is answered replaces the empty state with the article.
    page.goto("/help")
    page.get_by_test_id("help-search").fill("how to cook rice")
    expect(page.get_by_test_id("help-empty")).to_be_visible()
    page.get_by_test_id("help-search").fill("忘记密码")
    expect(page.locator("[data-testid=help-results] li").first).to_have_attribute(
        "data-slug", "reset-password"
    )
