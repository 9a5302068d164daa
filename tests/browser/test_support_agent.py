"""The agent console in a real browser: open the queue, take a ticket, answer it with a canned
response (inserted by htmx with its placeholders filled) and resolve it."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from okpay.support.models import CannedResponse
from tests.browser.test_identity_flows import sign_in
from tests.support.helpers import load, make_staff, open_ticket


def test_agent_takes_answers_with_canned_response_and_resolves(page: Page, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    make_staff(db, "agent@okpay.example")
    with db.unit_of_work() as s:
        s.add(
            CannedResponse(
                locale="en",
                title="Top-up check",
                body="Hello {name}, we are checking {number} with the bank. — {agent}",
            )
        )
    number = open_ticket(db, locale="en", subject="Top-up <b>missing</b>")
    sign_in(page, "agent@okpay.example")

    page.goto("/agent")
    row = page.locator(f"tr[data-number='{number}']")
    expect(row).to_contain_text("Top-up <b>missing</b>")  # shown as text, not markup
    expect(row.get_by_test_id("timer")).to_contain_text("due in")
    row.get_by_test_id("take").click()
    expect(page.locator(".flash-success")).to_contain_text(f"{number} is now yours.")
    expect(page.locator(f"tr[data-number='{number}']").get_by_test_id("take")).to_have_count(0)

    page.locator(f"tr[data-number='{number}'] a[data-testid=queue-link]").click()
    expect(page.get_by_test_id("ticket-number")).to_have_text(number)
    expect(page.get_by_test_id("customer-panel")).to_contain_text("lihua@example.com")
    page.get_by_test_id("canned-select").select_option(label="Top-up check")
    body = page.locator("#reply-form textarea[name=body]")
    expect(body).to_have_value(re.compile(rf"Hello Li Hua, we are checking {number} with the bank"))
    page.get_by_test_id("then-status").select_option("resolved")
    page.locator("#reply-form").get_by_role("button", name="Send reply").click()

    expect(page.locator(".flash-success")).to_contain_text("Your reply was sent.")
    expect(page.get_by_test_id("ticket-status")).to_have_text("Resolved")
    expect(page.locator("article.message-public").last).to_contain_text("checking")
    assert load(db, number).status == "resolved"
    text = mailbox.text(mailbox.to("lihua@example.com")[-2])
    assert f"we are checking {number} with the bank" in text
