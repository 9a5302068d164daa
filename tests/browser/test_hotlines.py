"""Hotlines in the browser: a Hong Kong profile sees the Hong Kong line open now; an English
visitor outside hours sees the line closed and when it opens; a callback request becomes a
phone ticket that the agent sees on the phone page."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.test_identity_flows import sign_in
from tests.helpcenter.hotline_helpers import HK, add_demo_set, local
from tests.support.helpers import make_staff
from tests.wallet.helpers import make_user


def test_hong_kong_profile_sees_the_hong_kong_line_open_now(page: Page, db, clock) -> None:  # type: ignore[no-untyped-def]
    add_demo_set(db)
    make_user(db, "hk@example.com", phone="+852 6123 4567")
    clock.now = local(HK, 2026, 12, 7, 10, 30)  # Monday morning in Hong Kong
    sign_in(page, "hk@example.com")
    page.goto("/help/contact")
    featured = page.get_by_test_id("hotline-featured")
    expect(featured).to_have_attribute("data-region", "HK")
    expect(featured.get_by_test_id("hotline-number")).to_have_text("+852 2123 4567")
    expect(featured.get_by_test_id("hotline-state")).to_have_text("Open now")
    expect(featured.get_by_test_id("hotline-status")).to_contain_text("until 18:00")


def test_english_visitor_out_of_hours_sees_closed_and_next_opening(page: Page, db, clock) -> None:  # type: ignore[no-untyped-def]
    add_demo_set(db)
    clock.now = local(HK, 2026, 12, 5, 20, 0)  # Saturday evening
    page.goto("/help/contact")
    featured = page.get_by_test_id("hotline-featured")
    expect(featured.get_by_test_id("hotline-state")).to_have_text("Not open now")
    expect(featured.get_by_test_id("hotline-status")).to_have_text(
        "Closed now. Opens Monday, December 7, 2026 09:00 China Standard Time."
    )


def test_a_callback_request_becomes_a_ticket_the_agent_sees(
    page: Page, browser, live_server, db, clock
) -> None:  # type: ignore[no-untyped-def]
    add_demo_set(db)
    make_staff(db, "agent@okpay.example")
    clock.now = local(HK, 2026, 12, 5, 20, 0)  # closed: ask for a callback
    page.goto("/help/contact?region=HK")
    page.get_by_test_id("hotline-featured").get_by_test_id("hotline-callback").click()
    expect(page.get_by_test_id("callback-hotline")).to_have_attribute("data-region", "HK")
    page.get_by_test_id("contact-name").fill("Chan Tai Man")
    page.get_by_test_id("contact-email").fill("chan@example.com")
    page.get_by_test_id("contact-number").fill("6123 4567")
    page.get_by_test_id("callback-note").fill("My top-up has not arrived.")
    page.get_by_test_id("callback-send").click()
    number = page.get_by_test_id("request-number").inner_text()
    assert number.startswith("OK-")
    expect(page.get_by_test_id("sent-hotline")).to_be_visible()

    agent = browser.new_context(locale="en-US", base_url=live_server).new_page()
    sign_in(agent, "agent@okpay.example")
    agent.goto("/agent/phone")
    row = agent.locator(f"[data-testid=callback-due][data-ticket='{number}']")
    expect(row).to_contain_text("+852 6123 4567")
    row.get_by_test_id("callback-log").click()
    agent.fill("textarea[name=body]", "Called back; explained bank top-up times.")
    agent.get_by_test_id("log-call").click()
    expect(agent.locator(".flash-success")).to_contain_text("the callback is done")
    agent.goto("/agent/phone")
    expect(agent.get_by_test_id("callbacks-none")).to_be_visible()
