"""E-mail leaves through SMTP (here a real aiosmtpd listener) in the recipient's language,
with text and HTML parts; header injection is refused; failures are retried."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from okpay.core.errors import ValidationFailed
from okpay.mail.models import OutboundEmail
from okpay.mail.service import send_email
from okpay.settings import configure


class _User:
    display_name = "Mei"


def send_reset_mail(session, to: str = "mei@example.com", locale: str = "en") -> None:  # type: ignore[no-untyped-def]
    send_email(
        session,
        to=to,
        template="password_reset",
        locale=locale,
        context={"user": _User(), "link": "x", "minutes": 30},
    )


def test_email_arrives_in_the_recipients_language_with_both_parts(db, mailbox) -> None:
    with db.unit_of_work() as s:
        send_email(
            s,
            to="mei@example.com",
            template="password_reset",
            locale="zh_CN",
            context={"user": _User(), "link": "https://okpay.example/r?token=abc", "minutes": 30},
        )
    msg = mailbox.last("mei@example.com")
    assert str(msg["Subject"]) == "重置您的 OKPay 密码"
    assert msg["Message-ID"] and msg["Auto-Submitted"] == "auto-generated"
    text = mailbox.text(msg)
    assert "https://okpay.example/r?token=abc" in text and "30" in text
    html = msg.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert '<a href="https://okpay.example/r?token=abc">' in html and 'lang="zh-CN"' in html
    with db.unit_of_work(write=False) as s:
        row = s.scalars(select(OutboundEmail)).one()
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None


def test_nothing_is_sent_when_the_unit_of_work_rolls_back(db, mailbox) -> None:
    with pytest.raises(RuntimeError), db.unit_of_work() as s:
        send_reset_mail(s)
        raise RuntimeError("boom")
    assert mailbox.to("mei@example.com") == []


def test_header_injection_is_refused(db, mailbox) -> None:
    with pytest.raises(ValidationFailed) as err, db.unit_of_work() as s:
        send_email(
            s,
            to="mei@example.com\r\nBcc: all@example.com",
            template="password_reset",
            locale="en",
            context={"user": _User(), "link": "x", "minutes": 30},
        )
    assert err.value.code == "line_break_not_allowed"
    assert mailbox.messages == []


def test_failed_delivery_is_recorded_for_retry(db, mailbox, settings) -> None:
    configure(settings.model_copy(update={"smtp_port": 1}))  # nothing listens there
    try:
        with db.unit_of_work() as s:
            send_reset_mail(s)
    finally:
        configure(settings)
    with db.unit_of_work(write=False) as s:
        row = s.scalars(select(OutboundEmail)).one()
    assert row.status == "retrying" and row.attempts >= 1 and "Error" in (row.last_error or "")


def test_outbox_when_no_smtp_relay(db, mailbox, settings, tmp_path) -> None:
    configure(settings.model_copy(update={"smtp_host": "", "data_dir": tmp_path}))
    try:
        with db.unit_of_work() as s:
            send_reset_mail(s)
    finally:
        configure(settings)
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1 and b"Reset your OKPay password" in files[0].read_bytes()


def test_dev_mailbox_lists_mail_only_in_dev(db, mailbox, settings) -> None:
    from starlette.testclient import TestClient

    from okpay.app import create_app

    with db.unit_of_work() as s:
        send_reset_mail(s)
    with TestClient(create_app(settings)) as test_client:
        assert test_client.get("/dev/mail").status_code == 404
    dev = settings.model_copy(update={"env": "dev"})
    with TestClient(create_app(dev), headers={"Accept-Language": "zh-CN"}) as dev_client:
        page = dev_client.get("/dev/mail")
        assert page.status_code == 200
        assert "mei@example.com" in page.text and "已发送" in page.text
    configure(settings)
