"""Community moderation in a real browser: a reader reports an answer, a moderator sees it in
the console's queue and hides it, and readers no longer see it.

The forum's own pages (the thread page that includes the report control) come from the forum
work of issue 16. Where they are present the reader reports from the thread page and a guest
checks the thread afterwards; without them the reader's report goes through the same form
endpoint from the browser session, and the hiding is checked in the database and the queue.
"""

from __future__ import annotations

import importlib.util

from playwright.sync_api import Page, expect

from okpay.community.models import ForumPost, ForumThread
from okpay.identity.models import Role
from tests.browser.test_identity_flows import sign_in
from tests.community.moderation_helpers import load_user, make_thread, make_user

FORUM_PAGES = importlib.util.find_spec("okpay.community.pages") is not None
SPAM = "加我微信，场外换汇汇率更好，当天到账！"


def _sign_out(page: Page) -> None:
    page.context.clear_cookies()


def test_a_reported_answer_is_hidden_from_the_queue_and_disappears(
    page: Page, db, browser, live_server
) -> None:  # type: ignore[no-untyped-def]
    make_user(db, "mod@okpay.example", role=Role.agent)
    asker = make_user(db, "asker@example.com", locale="en")
    dealer = make_user(db, "dealer@example.com")
    thread, posts = make_thread(
        db, asker, title="How long does a transfer to Hong Kong take?",
        body="I want to send money to my family in Hong Kong.", answers=((dealer, SPAM),),
    )  # fmt: skip

    # The asker reports the answer.
    sign_in(page, "asker@example.com")
    page.wait_for_url("**/wallet**")
    if FORUM_PAGES:
        page.goto(f"/community/t/{thread}")
        control = page.locator(f"[data-testid=post-moderation][data-post-id='{posts[1]}']")
        control.get_by_test_id("post-report-open").click()
        control.get_by_test_id("post-report-reason").select_option("scam")
        control.get_by_test_id("post-report-note").fill("Asks people to exchange money privately")
        control.get_by_test_id("post-report-submit").click()
        expect(page.locator(".flash-success")).to_contain_text("A moderator will look at this post")
    else:
        page.goto("/account")
        token = page.locator("body").get_attribute("data-csrf") or ""
        answer = page.request.post(
            f"/community/posts/{posts[1]}/report",
            form={"reason": "scam", "note": "Asks people to exchange money privately",
                  "next": "/account"},
            headers={"x-csrf-token": token}, max_redirects=0,
        )  # fmt: skip
        assert answer.status == 303
    _sign_out(page)

    # A moderator finds it in the queue and hides it.
    sign_in(page, "mod@okpay.example")
    page.goto("/agent")
    page.get_by_test_id("agent-nav-community").click()
    row = page.locator(f"[data-testid=mod-report][data-post-id='{posts[1]}']")
    expect(row.get_by_test_id("mod-excerpt")).to_have_text(SPAM)
    expect(row).to_contain_text("Scam or phishing")
    expect(row).to_contain_text("Asks people to exchange money privately")
    row.get_by_test_id("mod-reason-uphold").fill("Off-platform currency exchange")
    row.get_by_test_id("mod-uphold").click()
    expect(page.locator(".flash-success")).to_contain_text("the post is hidden")
    expect(page.get_by_test_id("mod-empty")).to_be_visible()
    page.get_by_test_id("mod-tab-hidden").click()
    expect(page.locator(f"[data-testid=mod-hidden][data-post-id='{posts[1]}']")).to_contain_text(
        "Off-platform currency exchange"
    )
    _sign_out(page)

    # Readers no longer see it.
    with db.unit_of_work(write=False) as s:
        post = s.get(ForumPost, posts[1])
        assert post is not None and post.visibility == "hidden"
        question = s.get(ForumPost, posts[0])
        assert question is not None and question.visibility == "public"
    if FORUM_PAGES:
        page.goto(f"/community/t/{thread}")
        expect(page.locator("main")).to_contain_text("How long does a transfer to Hong Kong take?")
        expect(page.locator("main")).not_to_contain_text(SPAM)


def test_a_moved_thread_shows_only_a_notice(page: Page, db) -> None:  # type: ignore[no-untyped-def]
    from okpay.support import forum_tickets

    mod = make_user(db, "mod@okpay.example", role=Role.agent)
    asker = make_user(db, "asker@example.com", locale="en")
    thread, _posts = make_thread(
        db, asker, title="My account is restricted", body="My card 4111 1111 1111 1111 was refused."
    )
    with db.unit_of_work() as s:
        number = forum_tickets.do_move_thread_to_ticket(
            s, moderator=load_user(s, mod), thread_id=thread
        ).number
    with db.unit_of_work(write=False) as s:
        moved = s.get(ForumThread, thread)
        assert moved is not None and moved.moved_to_ticket_number == number
    page.goto(f"/community/moved/{thread}")
    notice = page.get_by_test_id("thread-moved-notice")
    expect(notice).to_contain_text("continues privately")
    expect(page.locator("main")).not_to_contain_text("My account is restricted")
    sign_in(page, "asker@example.com")
    page.wait_for_url("**/wallet**")
    page.goto(f"/community/moved/{thread}")
    expect(page.get_by_test_id("moved-own")).to_contain_text(number)
