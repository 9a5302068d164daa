"""The rest of the agent's tools in a real browser: revealing a customer's masked e-mail
(with a reason, audited), escalating to another team (the customer is e-mailed the new
expected time), logging a phone call for a known customer, and the reports page."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select

from okpay.core.audit import AuditEvent
from okpay.support import tickets
from okpay.support.models import Ticket, TicketMessage
from tests.browser.test_identity_flows import sign_in
from tests.support.helpers import load, make_staff, user
from tests.wallet.helpers import make_user


def test_reveal_escalate_phone_and_reports(page: Page, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    make_staff(db, "agent@okpay.example")
    customer_id = make_user(db, "zhao.lei@example.com")
    with db.unit_of_work() as s:
        number = tickets.do_open_ticket(
            s,
            tickets.NewTicket(
                channel="web", subject="App crashes on the top-up page",
                body="Every time I open top-up the app closes.", user=user(s, customer_id),
                category="topup", locale="en",
            ),
        ).number  # fmt: skip
    sign_in(page, "agent@okpay.example")

    # Reveal: masked until the agent gives a reason; the reveal is in the audit log.
    page.goto(f"/agent/tickets/{number}")
    expect(page.get_by_test_id("masked-email")).to_have_text("z***@example.com")
    page.locator("details.reveal summary").first.click()
    form = page.get_by_test_id("reveal-email-form")
    form.locator("input[name=reason]").fill("Customer asked on the phone to confirm address")
    form.get_by_role("button", name="Reveal").click()
    expect(page.get_by_test_id("revealed-email")).to_have_text("zhao.lei@example.com")
    with db.unit_of_work(write=False) as s:
        actions = s.scalars(select(AuditEvent.action)).all()
    assert "customer_data_revealed" in actions

    # Escalate to the technical team with a note; the customer hears the new time.
    page.locator("summary", has_text="Escalate to another team").click()
    escalate = page.get_by_test_id("escalate-form")
    escalate.locator("select[name=team]").select_option("technical")
    escalate.locator("textarea[name=note]").fill("Crash on top-up page, Android 14.")
    escalate.get_by_role("button", name="Escalate").click()
    expect(page.locator(".flash-success")).to_contain_text("Passed to the Technical team")
    assert load(db, number).team == "technical"
    assert "Technical team" in mailbox.text(mailbox.last("zhao.lei@example.com"))

    # A phone call from the same customer, logged on the existing request.
    page.goto("/agent/phone")
    page.get_by_test_id("phone-lookup").fill("zhao.lei@example.com")
    page.get_by_test_id("phone-lookup").press("Enter")
    expect(page.get_by_test_id("phone-customer")).to_contain_text("z***@example.com")
    phone = page.get_by_test_id("phone-form")
    phone.locator("input[name=number]").fill(number.lower())
    phone.locator("textarea[name=body]").fill(
        "Called to ask for progress; told them it is with tech."
    )
    page.get_by_test_id("log-call").click()
    expect(page.locator(".flash-success")).to_contain_text(f"Call logged on {number}")
    with db.unit_of_work(write=False) as s:
        channels = s.scalars(
            select(TicketMessage.channel)
            .join(Ticket, Ticket.id == TicketMessage.ticket_id)
            .where(Ticket.number == number)
        ).all()
    assert "phone" in channels

    # Reports show the request among today's figures.
    page.goto("/agent/reports")
    expect(page.get_by_test_id("report-figures")).to_be_visible()
    expect(page.get_by_test_id("report-by_team")).to_contain_text("Technical")
