"""The community forum in a real browser: a question gets an answer, the asker accepts it,
and help search then shows the solved thread; a post with a card number is warned about and
posted masked."""

from __future__ import annotations

import os
import re

from playwright.sync_api import Page, expect

from okpay.community import categories, posting, votes
from okpay.identity import operators
from okpay.identity.models import Role, User
from tests.helpers import PASSWORD

ASKER = "xiaoming@example.com"
HELPER = "helper@example.com"
SHOTS = os.environ.get("OKPAY_SHOTS", "")


def shot(page: Page, name: str) -> None:
    """Keep a screenshot when OKPAY_SHOTS names a folder (to look at the pages)."""
    if SHOTS:
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 844})
            page.screenshot(path=f"{SHOTS}/community-{name}-{width}.png", full_page=True)
        page.set_viewport_size({"width": 1280, "height": 800})


def make_people(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        categories.do_sync(s)
        return {
            email: operators.do_create_user(
                s, email=email, password=PASSWORD, role=Role.customer, name=name, locale=locale
            ).id
            for email, name, locale in ((ASKER, "小明", "zh_CN"), (HELPER, "Helper", "en"))
        }


def forum_thread(db, asker_id: int, agent_id: int) -> str:  # type: ignore[no-untyped-def]
    """A solved thread with an official answer (for the every-page walk); its address."""
    from okpay.community.urls import thread_path

    with db.unit_of_work() as s:
        categories.do_sync(s)
        thread = posting.do_create_thread(
            s,
            user=s.get(User, asker_id),
            address="198.51.100.7",
            category=categories.get_by_slug(s, "topup-withdrawal"),
            title="银行转账充值多久能到账？Bank transfer top-up",
            body="昨天用网银转账充值了 **500 元**，余额还没变化。Still not in my balance.",
            locale="zh_CN",
        )
        post = posting.do_reply(
            s,
            user=s.get(User, agent_id),
            address="198.51.100.8",
            thread=thread,
            body="银行转账充值通常在 1–2 个工作日内到账。\n\n1. 查看交易记录\n2. 联系客服",
            official=True,
        )
        votes.do_accept(s, user=s.get(User, asker_id), thread=thread, post_id=post.id)
        return thread_path(thread)[len("/community/t/") :]


def sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.fill("#f-email", email)
    page.fill("#f-password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(re.compile(r"/(wallet|account|$)"))


def test_question_answered_accepted_then_found_in_help_search(zh_page: Page, db) -> None:  # type: ignore[no-untyped-def]
    make_people(db)
    page = zh_page
    sign_in(page, ASKER)
    page.goto("/community")
    expect(page.get_by_test_id("forum-empty")).to_be_visible()
    page.get_by_test_id("forum-ask").click()
    page.select_option("#f-category", "topup-withdrawal")
    page.fill("#f-title", "提现到银行卡要多久")
    page.fill("#f-body", "我昨天申请提现到招商银行，现在还没到账，正常要多久？")
    page.get_by_test_id("forum-submit").click()
    expect(page.get_by_test_id("thread-title")).to_have_text("提现到银行卡要多久")
    thread_url = page.url
    page.context.clear_cookies()

    sign_in(page, HELPER)
    page.goto(thread_url)
    page.fill("#f-reply", "提现一般 **1 到 2 个工作日** 到账，节假日顺延。")
    page.get_by_test_id("reply-submit").click()
    expect(page.locator(".forum-post").nth(1)).to_contain_text("1 到 2 个工作日")
    page.context.clear_cookies()

    sign_in(page, ASKER)
    page.goto(thread_url)
    page.get_by_test_id("accept").click()
    expect(page.get_by_test_id("badge-accepted")).to_be_visible()
    expect(page.get_by_test_id("thread-solved")).to_be_visible()

    page.goto("/help?q=" + "提现 到账 多久")
    related = page.get_by_test_id("help-related")
    expect(related).to_contain_text("提现到银行卡要多久")
    shot(page, "help-search-zh")
    related.locator("a").first.click()
    expect(page).to_have_url(thread_url)

    # The contact form's suggestions list it too, after the articles.
    page.goto("/help/contact")
    page.get_by_test_id("contact-subject").fill("提现到银行卡要多久")
    page.get_by_test_id("contact-description").press_sequentially("提现还没到账")
    suggestions = page.locator("[data-testid=contact-suggestions] a")
    expect(suggestions.last).to_have_text("提现到银行卡要多久")


def test_card_number_is_warned_about_and_masked(page: Page, db) -> None:
    make_people(db)
    sign_in(page, HELPER)
    page.goto("/community/new")
    page.select_option("#f-category", "payments-merchants")
    page.fill("#f-title", "Charged twice by a coffee shop")
    page.fill("#f-body", "My card 4111 1111 1111 1111 was charged twice for one latte.")
    page.get_by_test_id("forum-submit").click()
    warning = page.get_by_test_id("forum-private-warning")
    expect(warning).to_contain_text("card number")
    expect(page.locator("#f-body")).to_have_value(re.compile("4111 1111 1111 1111"))
    shot(page, "private-warning-en")
    page.get_by_test_id("forum-post-masked").click()
    body = page.locator(".forum-post").first
    expect(body).to_contain_text("•••• 1111")
    expect(body).not_to_contain_text("4111 1111 1111 1111")
