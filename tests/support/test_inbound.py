"""Inbound e-mail: real SMTP to the listener becomes tickets, replies join them, machines are
never answered, HTML and files are made safe; on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import smtplib
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from PIL import Image

from okpay.support import access
from okpay.support import messages as ticket_messages
from okpay.support import status as ticket_status
from okpay.support.inbound import filing, mime, parse, quotes, sender_checks
from okpay.support.inbound import listener as inbound_listener
from okpay.support.models import TicketMessage
from tests.support.helpers import load, make_staff, pdf, user
from tests.wallet.helpers import make_user

SUPPORT = "support@okpay.example"
LI = "Li Hua <lihua@example.com>"


@pytest.fixture
def listener(db) -> Iterator[inbound_listener.MailListener]:  # type: ignore[no-untyped-def]
    started = inbound_listener.start_listener(port=0, max_bytes=2_000_000)
    yield started
    started.stop()


def mail(
    subject: str | None = "Top-up not arrived",
    body: str = "I topped up 100 yuan by bank transfer yesterday and it is not in my wallet.",
    *,
    sender: str = LI,
    msgid: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg.set_content(body)  # first: it replaces every Content-* header
    msg["From"] = sender
    msg["To"] = SUPPORT
    if subject is not None:
        msg["Subject"] = subject
    msg["Message-ID"] = msgid or make_msgid(domain="example.com")
    for name, value in (headers or {}).items():
        msg[name] = value
    return msg


def send(
    listener: inbound_listener.MailListener,
    msg: EmailMessage | bytes,
    *,
    envelope_from: str = "lihua@example.com",
    rcpt: str = SUPPORT,
) -> None:
    """Deliver over SMTP; returns once the listener has filed the message."""
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=30) as smtp:
        if isinstance(msg, bytes):
            smtp.sendmail(envelope_from, [rcpt], msg)
        else:
            smtp.send_message(msg, from_addr=envelope_from, to_addrs=[rcpt])


def tickets(db) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from okpay.support.models import Ticket

    with db.unit_of_work(write=False) as s:
        rows = s.execute(
            select(Ticket.number, Ticket.requester_email, Ticket.status).order_by(Ticket.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def messages(db, number: str) -> list[TicketMessage]:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        return ticket_messages.list_messages(s, ticket, include_internal=True)


def as_agent(db, number: str, agent_id: int, action, **fields) -> None:  # type: ignore[no-untyped-def]
    """Run a service action on the ticket as the agent, in its own unit of work."""
    with db.unit_of_work() as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        action(s, ticket=ticket, agent=user(s, agent_id), **fields)


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


# ------------------------------------------------------------------------- new tickets


def test_mail_over_smtp_becomes_a_ticket_and_is_acknowledged(db, mailbox, listener) -> None:  # type: ignore[no-untyped-def]
    body = "我昨天用银行卡充值了100元，钱包里还没有。"
    msg = mail("充值没有到账", body, sender="李华 <LiHua@Example.com>")
    send(listener, msg)

    [(number, email, status)] = tickets(db)
    assert (email, status) == ("lihua@example.com", "new")
    ticket = load(db, number)
    assert ticket.channel == "email" and ticket.locale == "zh_CN"
    assert ticket.requester_name == "李华" and ticket.requester_user_id is None
    assert ticket.subject == "充值没有到账"
    assert ticket.thread_message_id == msg["Message-ID"]
    [first] = messages(db, number)
    assert first.body.startswith("我昨天用银行卡充值了100元")
    assert first.email_message_id == msg["Message-ID"]

    ack = mailbox.last("lihua@example.com")
    assert ack["Subject"].startswith(f"[{number}]")
    assert ack["In-Reply-To"] == msg["Message-ID"]
    assert ack["Reply-To"] == SUPPORT
    assert "请求编号" in mailbox.text(ack) or number in mailbox.text(ack)


def test_only_the_support_address_is_accepted(db, mailbox, listener) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(smtplib.SMTPRecipientsRefused) as exc:
        send(listener, mail(), rcpt="ceo@okpay.example")
    assert exc.value.recipients["ceo@okpay.example"][0] == 550
    # Too large: refused when announced, and when it turns out to be larger than announced.
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=30) as smtp:
        smtp.ehlo()
        code, _ = smtp.mail("lihua@example.com", options=["SIZE=3000000"])
        assert code == 552
        smtp.rset()
        smtp.mail("lihua@example.com")
        smtp.rcpt(SUPPORT)
        big = mail(body=("x" * 70 + "\n") * 30_000)
        code, _ = smtp.data(big.as_bytes(policy=policy.SMTP))
        assert code == 552
    assert tickets(db) == []
    assert mailbox.messages == []


def test_sender_address_is_never_proof_of_identity(db, mailbox, listener) -> None:  # type: ignore[no-untyped-def]
    customer_id = make_user(db, "lihua@example.com")
    send(listener, mail())
    [(number, _email, _status)] = tickets(db)
    ticket = load(db, number)
    assert ticket.requester_user_id is None  # not attached to the account
    assert filing.TAG_ACCOUNT_MATCH in ticket.tags
    notes = [m for m in messages(db, number) if m.kind == "internal"]
    assert len(notes) == 1 and "can be forged" in notes[0].body
    with db.unit_of_work(write=False) as s:
        # Not in the account holder's "My requests": the sender may not be them.
        assert access.list_requests_of(s, user=user(s, customer_id)) == []


def test_missing_subject_gets_a_default_in_the_mail_language(db, listener) -> None:  # type: ignore[no-untyped-def]
    send(listener, mail(None, "你好，我的提现一直在处理中。"))
    send(listener, mail("   ", "Hello, my withdrawal is still pending."))
    first, second = (load(db, n) for n, _e, _s in tickets(db))
    assert (first.subject, first.locale) == ("无主题邮件", "zh_CN")
    assert (second.subject, second.locale) == ("E-mail without a subject", "en")


def test_content_language_is_used_when_the_text_does_not_say(db, listener) -> None:  # type: ignore[no-untyped-def]
    send(listener, mail("Hi", "OK", headers={"Content-Language": "zh-CN"}))
    [(number, _e, _s)] = tickets(db)
    assert load(db, number).locale == "zh_CN"


def test_line_breaks_hidden_in_subject_and_name_are_harmless(db, mailbox, listener) -> None:  # type: ignore[no-untyped-def]
    raw = (
        b"From: =?utf-8?q?Li=0D=0ABcc:_victim@example.com?= <lihua@example.com>\r\n"
        b"To: support@okpay.example\r\n"
        b"Subject: =?utf-8?q?Refund=0D=0ABcc:_victim@example.com=0AX-Evil:_1?=\r\n"
        b"Message-ID: <crlf-1@example.com>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Please refund <script>alert(1)</script>\r\n"
    )
    send(listener, raw)
    [(number, _e, _s)] = tickets(db)
    ticket = load(db, number)
    assert "\n" not in ticket.subject and "\r" not in ticket.subject
    assert ticket.subject == "Refund Bcc: victim@example.com X-Evil: 1"
    assert "\n" not in ticket.requester_name
    ack = mailbox.last("lihua@example.com")
    assert ack["Bcc"] is None and ack["X-Evil"] is None
    assert mailbox.to("victim@example.com") == []


def test_chinese_mail_clients_encodings_are_read(db, listener) -> None:  # type: ignore[no-untyped-def]
    import base64

    body = base64.b64encode("我的充值没有到账，请帮忙查一下。".encode("gb2312"))
    raw = (
        (
            "From: 王芳 <wangfang@example.com>\r\nTo: support@okpay.example\r\n"
            "Subject: 充值问题\r\nMessage-ID: <gbk-1@example.com>\r\n"
            "Content-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        ).encode("gbk")
        + body
        + b"\r\n"
    )
    send(listener, raw, envelope_from="wangfang@example.com")
    [(number, email, _s)] = tickets(db)
    ticket = load(db, number)
    assert (email, ticket.requester_name, ticket.subject) == (
        "wangfang@example.com",
        "王芳",
        "充值问题",
    )
    assert messages(db, number)[0].body == "我的充值没有到账，请帮忙查一下。"
    assert ticket.locale == "zh_CN"


def test_unreadable_from_falls_back_to_the_envelope_sender(db, listener) -> None:  # type: ignore[no-untyped-def]
    raw = (
        b"From: @@@ not an address\r\nTo: support@okpay.example\r\nSubject: Hi\r\n"
        b"Message-ID: <from-1@example.com>\r\n\r\nMy card was charged twice.\r\n"
    )
    send(listener, raw, envelope_from="li@example.com")
    assert [e for _n, e, _s in tickets(db)] == ["li@example.com"]


def test_same_message_delivered_twice_is_one_ticket(db, mailbox, listener) -> None:  # type: ignore[no-untyped-def]
    msg = mail(msgid="<dup-1@example.com>")
    send(listener, msg)
    send(listener, msg)
    assert len(tickets(db)) == 1
    assert len(mailbox.to("lihua@example.com")) == 1
    with db.unit_of_work() as s:
        assert filing.receive(s, bytes(msg)).outcome == "duplicate"


# ------------------------------------------------------------------------------ replies


def test_reply_by_number_joins_and_reopens_without_quoted_history(db, mailbox, listener) -> None:  # type: ignore[no-untyped-def]
    agent_id = make_staff(db, "agent@okpay.example")
    send(listener, mail())
    [(number, _e, _s)] = tickets(db)
    as_agent(db, number, agent_id, ticket_status.do_set_status, status="resolved")
    sent_before = len(mailbox.to("lihua@example.com"))

    body = (
        "It is back again, the money is missing.\n\n"
        "在 2026年11月21日 10:00，OKPay <support@okpay.example> 写道：\n"
        "> 您的请求已解决。\n"
    )
    send(listener, mail(f"回复：[{number}] 您的请求已解决", body))  # no threading headers
    assert len(tickets(db)) == 1
    ticket = load(db, number)
    assert ticket.status == "open" and ticket.resolved_at is None
    last = messages(db, number)[-1]
    assert (last.kind, last.channel, last.author_side) == ("public", "email", "customer")
    assert last.body == "It is back again, the money is missing."
    assert len(mailbox.to("lihua@example.com")) == sent_before  # nothing answered by itself


def test_agent_reply_threads_and_customer_reply_joins_by_headers(db, mailbox, listener) -> None:  # type: ignore[no-untyped-def]
    agent_id = make_staff(db, "agent@okpay.example")
    first = mail()
    send(listener, first)
    [(number, _e, _s)] = tickets(db)
    as_agent(db, number, agent_id, ticket_messages.do_agent_reply, body="Which bank?")
    reply = mailbox.last("lihua@example.com")
    assert reply["Subject"].startswith(f"[{number}] ")
    assert reply["In-Reply-To"] == first["Message-ID"]
    assert first["Message-ID"] in reply["References"]
    assert reply["Reply-To"] == SUPPORT
    assert reply["X-OKPay-Ticket"] == number
    assert "Which bank?" in mailbox.text(reply)
    assert load(db, number).status == "pending_customer"

    # The customer's client keeps only the threading headers; the subject lost the number.
    answer = mail(
        "Re: your answer",
        "ICBC, card ending 1234.\n\n"
        "On Sat, 21 Nov 2026 at 17:00, OKPay <support@okpay.example>\nwrote:\n> Which bank?\n",
        headers={"In-Reply-To": reply["Message-ID"], "References": reply["Message-ID"]},
    )
    send(listener, answer)
    assert len(tickets(db)) == 1
    assert load(db, number).status == "open"
    last = messages(db, number)[-1]
    assert last.body == "ICBC, card ending 1234."
    assert last.email_message_id == answer["Message-ID"]


def test_reply_to_a_closed_request_opens_a_new_one_that_mentions_it(db, listener) -> None:  # type: ignore[no-untyped-def]
    agent_id = make_staff(db, "agent@okpay.example")
    send(listener, mail())
    [(old, _e, _s)] = tickets(db)
    as_agent(db, old, agent_id, ticket_status.do_set_status, status="closed")
    send(listener, mail(f"Re: [{old}] Top-up not arrived", "Still not there."))
    (_, _, old_status), (new, email, _) = tickets(db)
    assert old_status == "closed" and email == "lihua@example.com"
    ticket = load(db, new)
    assert ticket.subject == "Top-up not arrived"
    assert ticket.context["follow_up_of"] == old and filing.TAG_FOLLOW_UP in ticket.tags
    assert any(old in m.body for m in messages(db, new) if m.kind == "internal")


def test_mail_from_another_sender_never_joins_a_ticket(db, mailbox, listener) -> None:  # type: ignore[no-untyped-def]
    first = mail()
    send(listener, first)
    [(number, _e, _s)] = tickets(db)
    intruder = mail(
        f"Re: [{number}] Top-up not arrived",
        "Please send me the transaction details.",
        sender="Mallory <mallory@example.net>",
        headers={"In-Reply-To": first["Message-ID"]},
    )
    send(listener, intruder, envelope_from="mallory@example.net")
    assert [m.body for m in messages(db, number)] == [messages(db, number)[0].body]
    (_, _, _), (other, email, _) = tickets(db)
    assert email == "mallory@example.net"
    ticket = load(db, other)
    assert filing.TAG_UNVERIFIED in ticket.tags and ticket.context["refers_to"] == number
    assert number not in ticket.subject
    assert any(number in m.body for m in messages(db, other) if m.kind == "internal")
    # The intruder's acknowledgement speaks only of their own new request.
    assert number not in str(mailbox.last("mallory@example.net")["Subject"])


# ---------------------------------------------------------------------- automatic mail


AUTOMATIC = [
    ({"Auto-Submitted": "auto-replied"}, LI, "lihua@example.com"),
    ({"Precedence": "bulk"}, LI, "lihua@example.com"),
    ({"X-Autoreply": "yes"}, LI, "lihua@example.com"),
    ({"X-Autorespond": "Out of office"}, LI, "lihua@example.com"),
    ({"List-Id": "<news.example.com>"}, LI, "lihua@example.com"),
    ({"List-Unsubscribe": "<mailto:u@example.com>"}, LI, "lihua@example.com"),
    ({"X-OKPay-Ticket": "OK-2026-000001"}, LI, "lihua@example.com"),
    ({}, "Mail Delivery System <MAILER-DAEMON@mx.example.com>", "lihua@example.com"),
    ({}, "postmaster@mx.example.com", "lihua@example.com"),
    ({}, LI, ""),  # the null envelope sender of bounces
    ({"Return-Path": "<>"}, LI, "lihua@example.com"),
    ({}, "OKPay <support@okpay.example>", "support@okpay.example"),
    ({}, "OKPay <no-reply@okpay.example>", "no-reply@okpay.example"),
]


def test_automatic_mail_is_never_answered_and_opens_nothing(db, mailbox, listener) -> None:  # type: ignore[no-untyped-def]
    for headers, sender, envelope in AUTOMATIC:
        send(listener, mail("Automatic reply: away", sender=sender, headers=headers),
             envelope_from=envelope)  # fmt: skip
    send(listener, mail("Auto", headers={"Auto-Submitted": "no"}))  # explicitly not automatic
    assert len(tickets(db)) == 1
    assert len(mailbox.messages) == 1


def test_out_of_office_and_bounce_of_our_reply_become_internal_notes(db, mailbox, listener) -> None:  # type: ignore[no-untyped-def]
    agent_id = make_staff(db, "agent@okpay.example")
    send(listener, mail())
    [(number, _e, _s)] = tickets(db)
    as_agent(db, number, agent_id, ticket_messages.do_agent_reply, body="Which bank?")
    reply = mailbox.last("lihua@example.com")
    mailbox.clear()

    away = mail(
        "Automatic reply: Re: your request",
        "I am on holiday until 1 December.",
        headers={"Auto-Submitted": "auto-replied", "In-Reply-To": reply["Message-ID"]},
    )
    send(listener, away)

    returned = bytes(reply).split(b"\n\n", 1)[0].replace(b"\r\n", b"\n")
    bounce = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\n"
        b"To: support@okpay.example\n"
        b"Subject: Undelivered Mail Returned to Sender\n"
        b"Message-ID: <bounce-1@mx.example.com>\n"
        b"MIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        b"--B\nContent-Type: text/plain\n\n"
        b"This is the mail system. Your message could not be delivered.\n"
        b"--B\nContent-Type: message/delivery-status\n\n"
        b"Reporting-MTA: dns; mx.example.com\n\n"
        b"Final-Recipient: rfc822; lihua@example.com\nAction: failed\nStatus: 5.1.1\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 user unknown\n\n"
        b"--B\nContent-Type: text/rfc822-headers\n\n" + returned + b"\n--B--\n"
    ).replace(b"\n", b"\r\n")
    send(listener, bounce, envelope_from="")

    assert len(tickets(db)) == 1
    assert load(db, number).status == "pending_customer"  # not reopened by machines
    notes = [m for m in messages(db, number) if m.kind == "internal"]
    assert [n.author_side for n in notes] == ["system", "system"]
    assert "holiday" in notes[0].body
    assert "could not be delivered" in notes[1].body and "5.1.1" in notes[1].body
    assert mailbox.messages == []  # nobody was answered


# ---------------------------------------------------------------------- content


def test_html_mail_is_converted_and_sanitised(db, listener) -> None:  # type: ignore[no-untyped-def]
    msg = mail()
    msg.set_content(
        "<html><head><style>body{background:url(https://t.example/p.gif)}</style>"
        "<script>alert('x')</script></head><body>"
        '<p onclick="steal()">My <b>top-up</b> is missing.</p>'
        '<img src="https://tracker.example/pixel.gif" width="1" height="1">'
        '<a href="javascript:alert(1)">click</a> <a href="https://okpay.example/help">help</a>'
        '<iframe src="https://evil.example"></iframe></body></html>',
        subtype="html",
    )
    send(listener, msg)
    [(number, _e, _s)] = tickets(db)
    [first] = messages(db, number)
    assert "My top-up is missing." in first.body
    assert "alert" not in first.body and "background" not in first.body
    html = first.body_html or ""
    assert "<b>top-up</b>" in html
    for bad in ("<script", "alert", "onclick", "<img", "tracker.example", "javascript:",
                "<iframe", "<style", "background"):  # fmt: skip
        assert bad not in html, bad
    assert 'href="https://okpay.example/help"' in html and "noopener" in html


def test_text_alternative_wins_and_no_html_copy_is_kept(db, listener) -> None:  # type: ignore[no-untyped-def]
    msg = mail(body="Plain words.")
    msg.add_alternative("<p>Rich <b>words</b></p>", subtype="html")
    send(listener, msg)
    [(number, _e, _s)] = tickets(db)
    [first] = messages(db, number)
    assert (first.body, first.body_html) == ("Plain words.", None)


def test_attachments_are_kept_and_disguised_ones_listed_for_agents(db, listener) -> None:  # type: ignore[no-untyped-def]
    msg = mail()
    msg.add_attachment(png_bytes(), maintype="image", subtype="png", filename="screen.png")
    msg.add_attachment(pdf(), maintype="application", subtype="pdf",
                       filename="statement.pdf")  # fmt: skip
    msg.add_attachment(b"MZ\x90\x00 not a pdf", maintype="application", subtype="pdf",
                       filename="invoice.pdf")  # fmt: skip
    msg.add_attachment(b"MZ\x90\x00", maintype="application", subtype="octet-stream",
                       filename="<script>x</script>.exe")  # fmt: skip
    send(listener, msg)
    [(number, _e, _s)] = tickets(db)
    with db.unit_of_work(write=False) as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        files = ticket_messages.list_attachments(s, ticket)
    assert sorted(f.filename for f in files) == ["screen.png", "statement.pdf"]
    assert {f.content_type for f in files} == {"image/png", "application/pdf"}
    [note] = [m for m in messages(db, number) if m.kind == "internal"]
    assert "invoice.pdf" in note.body and "does not contain what its name says" in note.body
    assert "script_.exe" in note.body and "not a file type we accept" in note.body
    assert "<script>" not in note.body


def test_forwarded_e_mail_is_read_into_the_ticket(db, listener) -> None:  # type: ignore[no-untyped-def]
    phishing = EmailMessage()
    phishing.set_content("")
    phishing.add_alternative(
        '<p>Your wallet is frozen. <a href="https://okpay-verify.example/login">Unfreeze</a></p>',
        subtype="html",
    )
    phishing["From"] = "OKPay Security <security@okpay-verify.example>"
    phishing["Subject"] = "钱包已冻结"
    phishing.add_attachment(png_bytes(), maintype="image", subtype="png", filename="qr.png")
    msg = mail("Is this really from you?", "I got this e-mail, see attached.")
    msg.add_attachment(phishing)
    send(listener, msg)
    [(number, _e, _s)] = tickets(db)
    body = messages(db, number)[0].body
    assert body.startswith("I got this e-mail, see attached.")
    assert parse.FORWARDED in body and "Subject: 钱包已冻结" in body
    assert "Unfreeze <https://okpay-verify.example/login>" in body
    with db.unit_of_work(write=False) as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        assert [f.filename for f in ticket_messages.list_attachments(s, ticket)] == ["qr.png"]


def test_files_beyond_the_limit_are_listed_not_lost(db, listener, settings) -> None:  # type: ignore[no-untyped-def]
    settings.upload_max_files = 2
    msg = mail(body="Three screenshots.")
    for i in range(3):
        msg.add_attachment(png_bytes(), maintype="image", subtype="png", filename=f"s{i}.png")
    send(listener, msg)
    [(number, _e, _s)] = tickets(db)
    [note] = [m for m in messages(db, number) if m.kind == "internal"]
    assert "s2.png" in note.body and "only 2 files" in note.body


def test_each_sender_is_rate_limited(db, mailbox, listener, settings, clock) -> None:  # type: ignore[no-untyped-def]
    settings.inbound_per_hour = 3
    for i in range(3):
        send(listener, mail(f"Question {i}"))
    with pytest.raises(smtplib.SMTPDataError) as exc:
        send(listener, mail("Question 4"))
    assert exc.value.smtp_code == 451  # the sender's server may try again later
    assert len(tickets(db)) == 3
    assert len(mailbox.to("lihua@example.com")) == 3  # no answer to the dropped one
    send(listener, mail("Hi", sender="Wang <wang@example.com>"), envelope_from="wang@example.com")
    assert len(tickets(db)) == 4
    clock.advance(hours=1, minutes=1)
    send(listener, mail("Question 5"))
    assert len(tickets(db)) == 5


def test_receive_works_without_smtp(db, mailbox) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        result = filing.receive(s, bytes(mail()), envelope_from="lihua@example.com")
    assert result.outcome == "created" and result.number == "OK-2026-000001"
    with db.unit_of_work() as s:
        garbage = filing.receive(s, b"From: nobody\r\n\r\nhello", envelope_from="not an address")
    assert (garbage.outcome, garbage.smtp_reply[:3]) == ("refused", "550")


# ------------------------------------------------------------------- pure functions


@pytest.mark.parametrize(
    ("body", "kept"),
    [
        (
            "Thanks!\n\nOn Mon, 23 Nov 2026 at 09:00, OKPay <support@okpay.example> wrote:\n> Hi",
            "Thanks!",
        ),
        ("好的\n\n在 2026年11月23日 09:00，OKPay <support@okpay.example> 写道：\n> 您好", "好的"),
        ("好的\n\nOKPay <support@okpay.example> 于2026年11月23日周一 09:00写道：\n> 您好", "好的"),
        ("Done\n\n-----Original Message-----\nFrom: OKPay\nSent: Monday\n\nold", "Done"),
        ("收到\n\n------------------ 原始邮件 ------------------\n发件人: OKPay\n", "收到"),
        (
            "收到\n\n发件人: OKPay <support@okpay.example>\n发送时间: 2026年11月23日\n收件人: 我\n",
            "收到",
        ),
        ("Yes\n________________________________\nFrom: OKPay\nSent: Monday\nTo: me\n", "Yes"),
        ("> quoted\nmy answer\n> more quoted", "my answer"),
        ("On Monday I paid.\nFrom: my card\nNothing arrived.", None),
        ("Transfer details:\nFrom: ICBC card\nTo: my wallet\nAmount: 100", None),
        ("> everything is quoted", None),
    ],
)
def test_quoted_history_is_stripped(body: str, kept: str | None) -> None:
    assert quotes.strip_quoted(body) == (kept if kept is not None else body.strip())


def test_message_ids_and_header_cleaning() -> None:
    assert mime.message_ids("<a@b> junk <c@d>\r\n <a@b>") == ["<a@b>", "<c@d>"]
    assert mime.message_ids("<a\r\nb@c>") == []
    assert mime.clean_line("a\r\nBcc: x\x00\ty") == "a Bcc: x y"


def test_serve_runs_one_listener_beside_the_web_workers(db, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import socket

    import uvicorn
    from typer.testing import CliRunner

    from okpay import cli

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        settings.mail_in_port = s.getsockname()[1]
    calls: list[int] = []

    def fake_run(*args: object, **kwargs: object) -> None:
        calls.append(int(kwargs["workers"]))  # type: ignore[call-overload]
        with smtplib.SMTP("127.0.0.1", settings.mail_in_port, timeout=10) as smtp:
            assert smtp.noop()[0] == 250

    monkeypatch.setattr(uvicorn, "run", fake_run)
    result = CliRunner().invoke(cli.app, ["serve", "--workers", "3"])
    assert result.exit_code == 0, result.output
    assert calls == [3] and f"smtp://127.0.0.1:{settings.mail_in_port}" in result.output
    with pytest.raises(OSError):  # stopped with the web server
        socket.create_connection(("127.0.0.1", settings.mail_in_port), timeout=2).close()


def test_serve_says_when_the_mail_port_is_taken(db, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import socket

    import uvicorn
    from typer.testing import CliRunner

    from okpay import cli

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("web server started"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        settings.mail_in_port = taken.getsockname()[1]
        result = CliRunner().invoke(cli.app, ["serve"])
    assert result.exit_code == 1
    assert "OKPAY_MAIL_IN_PORT" in result.output


@pytest.mark.postgres_only
def test_parallel_deliveries_on_postgresql(db, mailbox) -> None:  # type: ignore[no-untyped-def]
    """Eight copies of one message at once make one ticket; eight messages of one new sender
    at once all get in (the sender's first rate-limit row is raced for and retried)."""
    from concurrent.futures import ThreadPoolExecutor

    copy = bytes(mail(msgid="<same-1@example.com>"))
    with ThreadPoolExecutor(8) as pool:
        outcomes = sorted(
            r.outcome for r in pool.map(lambda _i: inbound_listener.process(copy), range(8))
        )
    assert outcomes == ["created"] + ["duplicate"] * 7
    assert len(tickets(db)) == 1

    burst = [bytes(mail(f"Burst {i}", sender="New <new@example.com>")) for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        outcomes = [r.outcome for r in pool.map(inbound_listener.process, burst)]
    assert outcomes == ["created"] * 8
    assert len(tickets(db)) == 9


# ------------------------------------------------- issue 11 item 5: forged From: headers

MX = "mx.okpay.example"


def _thread(db, number: str) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return [(m.kind, m.author_side, m.body) for m in messages(db, number)]


def _files(db, number: str) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        return len(ticket_messages.list_attachments(s, ticket))


def _customer_sees(db, number: str) -> list[str]:  # type: ignore[no-untyped-def]
    from okpay.core import clock
    from okpay.support import customer

    with db.unit_of_work(write=False) as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        return [i.message.body for i in customer.customer_view(s, ticket, now=clock.now()).thread]


def test_i11_item5_forged_from_is_not_the_customer(db, mailbox, listener, settings, client) -> None:  # type: ignore[no-untyped-def]
    from tests.support.test_console import agent_client

    settings.inbound_trusted_authserv_ids = f"{MX}, mx2.okpay.example"
    first = mail()
    send(listener, first)
    [(number, _e, _s)] = tickets(db)
    agent_id = agent_client(client, db)
    as_agent(db, number, agent_id, ticket_messages.do_agent_reply, body="Which bank?")
    as_agent(db, number, agent_id, ticket_status.do_set_status, status="resolved")
    before = load(db, number)
    sent_before = len(mailbox.to("lihua@example.com"))
    thread = {"In-Reply-To": first["Message-ID"], "References": first["Message-ID"]}

    # 1. The customer's own address in From:, another envelope sender (SMTP MAIL FROM).
    forged = mail(
        f"Re: [{number}] Top-up not arrived",
        "Send the refund to card 6222 instead.",
        headers=thread,
    )
    forged.add_attachment(png_bytes(), maintype="image", subtype="png", filename="proof.png")
    send(listener, forged, envelope_from="mallory@evil.example")
    # 2. No SMTP envelope (an IMAP poller): the MTA's Return-Path says who sent it.
    with db.unit_of_work() as s:
        no_envelope = mail(
            f"Re: [{number}] x",
            "Close my account now.",
            headers={**thread, "Return-Path": "<mallory@evil.example>"},
        )
        assert filing.receive(s, bytes(no_envelope)).outcome == "unverified"
    # 3. Envelope right, but the trusted MTA recorded a DMARC failure on top of a pass the
    #    sender wrote below it.
    auth_fail = mail(f"Re: [{number}] x", "Unlock my account please.", headers=thread)
    auth_fail["Authentication-Results"] = (
        f"{MX}; spf=pass smtp.mailfrom=example.com; dmarc=fail (p=reject) header.from=example.com"
    )
    auth_fail["Authentication-Results"] = f"{MX}; dmarc=pass header.from=example.com"
    send(listener, auth_fail)
    # 4. SPF failing at the second trusted MTA (no DMARC result there).
    spf_fail = mail(f"Re: [{number}] x", "Change my phone number.", headers=thread)
    spf_fail["Authentication-Results"] = (
        "MX2.okpay.example 1; spf=softfail (sender not permitted) smtp.mailfrom=example.com"
    )
    send(listener, spf_fail)

    unverified = [m for m in messages(db, number) if m.author_side == "unverified"]
    assert len(unverified) == 4 and all(m.kind == "internal" for m in unverified)
    assert unverified[0].body.startswith("Send the refund")
    # Nothing changed: status, SLA clocks, the customer's last word, files, mail.
    after = load(db, number)
    assert (after.status, after.resolved_at, after.last_customer_at, after.next_due_at) == (
        "resolved",
        before.resolved_at,
        before.last_customer_at,
        before.next_due_at,
    )
    assert _files(db, number) == 0
    assert len(tickets(db)) == 1
    assert len(mailbox.to("lihua@example.com")) == sent_before
    # The customer never sees them as their own words.
    assert not any(
        "refund" in b or "Close my" in b or "Unlock" in b for b in _customer_sees(db, number)
    )

    # The agent sees each flagged, with why (page and API).
    page = client.get(f"/agent/tickets/{number}").text
    assert page.count('data-testid="unverified-badge"') == 4
    assert "Unverified sender" in page and "mallory@evil.example" in page
    assert "dmarc=fail" in page and "spf=softfail" in page and "proof.png" in page
    from tests.helpers import api_token

    api = client.get(
        f"/api/v1/agent/tickets/{number}", headers=api_token(client, "agent@okpay.example")
    ).json()
    checks = [m["sender_check"] for m in api["messages"] if m["author_side"] == "unverified"]
    assert checks[0]["envelope"] == "mallory@evil.example" and checks[0]["files"] == ["proof.png"]
    assert checks[2]["failed"] == ["dmarc=fail"] and "envelope" not in checks[2]
    assert checks[3]["failed"] == ["spf=softfail"]

    # 5. The same failure from an authserv-id nobody configured is not believed, and neither is
    #    a DKIM failure beside a DKIM pass: genuine mail still threads and reopens.
    genuine = mail(f"Re: [{number}] Top-up not arrived", "It is still missing.", headers=thread)
    genuine["Authentication-Results"] = "evil.example; dmarc=fail header.from=example.com"
    genuine["Authentication-Results"] = (
        f"{MX}; dkim=fail header.d=old.example; dkim=pass header.d=example.com"
    )
    send(listener, genuine)
    assert load(db, number).status == "open"
    assert _thread(db, number)[-1] == ("public", "customer", "It is still missing.")
    # 6. A DMARC pass from the trusted MTA proves the From: domain: a mail service's bounce
    #    address as the envelope sender is then expected.
    via_esp = mail(f"Re: [{number}] x", "Sent from my phone.", headers=thread)
    via_esp["Authentication-Results"] = (
        f"{MX}; spf=pass; dkim=pass; dmarc=pass header.from=example.com"
    )
    send(listener, via_esp, envelope_from="bounce-77@mail-service.example")
    assert _thread(db, number)[-1] == ("public", "customer", "Sent from my phone.")
    # 7. Without a trusted authserv-id configured, Authentication-Results mean nothing.
    settings.inbound_trusted_authserv_ids = ""
    untrusted = mail(f"Re: [{number}] x", "Any news?", headers=thread)
    untrusted["Authentication-Results"] = f"{MX}; dmarc=fail header.from=example.com"
    send(listener, untrusted)
    assert _thread(db, number)[-1] == ("public", "customer", "Any news?")

    # 8. Forged mail that names no ticket opens a new one, tagged and noted for the agents.
    send(
        listener,
        mail("Please raise my limit", "Raise my limit."),
        envelope_from="mallory@evil.example",
    )
    new = tickets(db)[-1][0]
    ticket = load(db, new)
    assert filing.TAG_SENDER_UNVERIFIED in ticket.tags
    assert ticket.context["sender_check"] == {"envelope": "mallory@evil.example"}
    [note] = [m for m in messages(db, new) if m.kind == "internal"]
    assert "mallory@evil.example" in note.body and "forged" in note.body


def test_i11_item5_sender_check_parts() -> None:
    value = (
        "mx.okpay.example 1; dkim=pass (2048-bit key; unprotected) header.d=example.com;"
        " spf = fail smtp.mailfrom=x@example.com; dmarc/1=pass (p=none (nested)) h.f=x"
    )
    assert sender_checks.parse_authentication_results(value) == (
        "mx.okpay.example",
        [("dkim", "pass"), ("spf", "fail"), ("dmarc", "pass")],
    )
    assert sender_checks.parse_authentication_results("mx.okpay.example; none") == (
        "mx.okpay.example",
        [],
    )
    assert sender_checks.failed_results([("spf", "fail"), ("dmarc", "pass")]) == ((), True)
    assert sender_checks.failed_results([("spf", "fail"), ("dkim", "fail")]) == (
        ("spf=fail", "dkim=fail"),
        False,
    )
    assert sender_checks.failed_results([("dmarc", "none"), ("spf", "neutral")]) == ((), False)


def test_i11_item5_forged_mail_counts_against_its_real_sender(db, listener, settings) -> None:  # type: ignore[no-untyped-def]
    settings.inbound_per_hour = 2
    for i in range(2):
        send(listener, mail(f"Forged {i}"), envelope_from="mallory@evil.example")
    with pytest.raises(smtplib.SMTPDataError) as exc:
        send(listener, mail("Forged 3"), envelope_from="mallory@evil.example")
    assert exc.value.smtp_code == 451
    send(listener, mail("My own question"))  # the customer's allowance is untouched
    assert [load(db, n).subject for n, _e, _s in tickets(db)][-1] == "My own question"
