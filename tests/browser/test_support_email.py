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
from okpay.support.inbound import listener as inbound_listener
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
    listener = inbound_listener.start_listener(port=0)
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


def test_i11_item5_agent_sees_forged_mail_flagged(browser, live_server, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    """A reply in the customer's name from another envelope sender is shown to the agent as
    unverified, in both languages and at desktop and phone widths, and changed nothing.
    OKPAY_SCREENSHOTS=<dir> keeps a screenshot of each."""
    import os

    make_staff(db, "agent@okpay.example")
    listener = inbound_listener.start_listener(port=0)
    try:
        first = send(listener.port, "提现一直在处理中", "我三天前提现到工商银行，到现在还没到账。")
        with db.unit_of_work(write=False) as s:
            number = s.scalars(
                select(Ticket.number).where(Ticket.requester_email == CUSTOMER)
            ).one()
        forged = EmailMessage()
        forged["From"] = f"Chen Jing <{CUSTOMER}>"
        forged["To"] = get_settings().support_address
        forged["Subject"] = f"Re: [{number}] 提现一直在处理中"
        forged["In-Reply-To"] = first
        forged["Message-ID"] = make_msgid(domain="evil.example")
        forged.set_content("请把款项改退到这张卡：6222 0212 3456 7890，我的原卡已经注销。")
        forged.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf",
                              filename="bank-proof.pdf")  # fmt: skip
        with smtplib.SMTP("127.0.0.1", listener.port, timeout=30) as smtp:
            smtp.send_message(forged, from_addr="mallory@evil.example")
    finally:
        listener.stop()
    assert load(db, number).status == "new"

    shots = os.environ.get("OKPAY_SCREENSHOTS")
    badge = {"en-US": "Unverified sender", "zh-CN": "发件人未验证"}
    for locale in ("zh-CN", "en-US"):
        for width, height in ((1280, 800), (390, 844)):
            context = browser.new_context(
                locale=locale, base_url=live_server, viewport={"width": width, "height": height}
            )
            page = context.new_page()
            sign_in(page, "agent@okpay.example")
            page.goto(f"/agent/tickets/{number}")
            flagged = page.locator("article.side-unverified")
            expect(flagged).to_have_count(1)
            expect(flagged.get_by_test_id("unverified-badge")).to_have_text(badge[locale])
            expect(flagged.get_by_test_id("unverified-explanation")).to_contain_text(
                "mallory@evil.example"
            )
            expect(flagged.get_by_test_id("unverified-explanation")).to_contain_text(
                "bank-proof.pdf"
            )
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            if shots:
                flagged.scroll_into_view_if_needed()
                page.screenshot(path=f"{shots}/item5-agent-{locale}-{width}.png")
            context.close()
