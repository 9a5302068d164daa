"""The e-mail channel end to end: a customer's mail over real SMTP to the inbound listener
becomes a ticket, an agent answers it in the console, the answer reaches the customer with the
request number in its subject, and the customer's reply joins the same ticket."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from playwright.sync_api import Page, expect
from sqlalchemy import select

from okpay.settings import get_settings
from okpay.support import inbound
from okpay.support.models import Ticket
from tests.browser.test_identity_flows import sign_in
from tests.support.helpers import load, make_staff

CUSTOMER = "chen.jing@example.com"


def send(port: int, subject: str, body: str, **headers: str) -> str:
    msg = EmailMessage()
    msg["From"] = f"Chen Jing <{CUSTOMER}>"
    msg["To"] = get_settings().support_address
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.com")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.send_message(msg)
    return str(msg["Message-ID"])


def test_mail_becomes_ticket_agent_answers_and_reply_joins(page: Page, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    make_staff(db, "agent@okpay.example")
    listener = inbound.start_listener(port=0)
    try:
        send(
            listener.port,
            "Withdrawal still pending",
            "My withdrawal to ICBC has been pending for three days. Can you check?",
        )
        with db.unit_of_work(write=False) as s:
            number = s.scalars(
                select(Ticket.number).where(Ticket.requester_email == CUSTOMER)
            ).one()
        assert load(db, number).channel == "email"

        sign_in(page, "agent@okpay.example")
        page.goto(f"/agent/tickets/{number}")
        expect(page.get_by_test_id("ticket-number")).to_have_text(number)
        expect(page.locator("article.message-public").first).to_contain_text(
            "pending for three days"
        )
        page.locator("#reply-form textarea[name=body]").fill(
            "We have asked the bank; please send the last four digits of the receiving account."
        )
        page.locator("#reply-form").get_by_role("button", name="Send reply").click()
        expect(page.locator(".flash-success")).to_contain_text("Your reply was sent.")

        answer = mailbox.last(CUSTOMER)
        assert f"[{number}]" in str(answer["Subject"])
        assert "please send the last four digits" in mailbox.text(answer)
        assert answer["In-Reply-To"]

        # The customer answers from their mail program: same thread, same ticket.
        send(
            listener.port,
            f"Re: {answer['Subject']}",
            "It ends in 8842.\n\nOn Mon, OKPay wrote:\n> We have asked the bank",
            In_Reply_To=str(answer["Message-ID"]),
            References=str(answer["Message-ID"]),
        )
        with db.unit_of_work(write=False) as s:
            count = len(
                s.scalars(select(Ticket.id).where(Ticket.requester_email == CUSTOMER)).all()
            )
        assert count == 1
        assert load(db, number).status == "open"
        page.reload()
        expect(page.locator("article.message-public").last).to_contain_text("It ends in 8842.")
        expect(page.locator("article.message-public").last).not_to_contain_text(
            "We have asked the bank"
        )
    finally:
        listener.stop()
