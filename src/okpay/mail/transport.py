"""Where e-mail goes: an SMTP relay when configured, else the dev outbox under the data dir.
Where text messages go: an HTTP gateway when configured (OKPAY_SMS_WEBHOOK_URL), else the
same outbox."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime as rfc2822_datetime

import httpx

from okpay.core import clock
from okpay.mail.models import OutboundEmail, OutboundSms
from okpay.settings import Settings


def build_message(email: OutboundEmail, settings: Settings) -> EmailMessage:
    """The MIME message for a stored e-mail: text and HTML alternatives, threading headers."""
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = email.to_addr
    msg["Subject"] = email.subject
    msg["Date"] = rfc2822_datetime(email.created_at)
    msg["Message-ID"] = email.message_id
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to these
    for name, value in (email.headers or {}).items():
        msg[name] = value
    msg.set_content(email.text_body)
    msg.add_alternative(email.html_body, subtype="html")
    return msg


def deliver(msg: EmailMessage, email: OutboundEmail, settings: Settings) -> None:
    """Hand the message to SMTP, or write it to the outbox when no relay is configured."""
    if settings.smtp_host:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
            smtp.send_message(msg)
        return
    outbox = settings.data_dir / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    stamp = clock.now().strftime("%Y%m%dT%H%M%S")
    (outbox / f"{stamp}-{email.id:08d}.eml").write_bytes(bytes(msg))


def deliver_sms(sms: OutboundSms, settings: Settings) -> None:
    """POST to the gateway as JSON, or write to the outbox when none is configured."""
    if settings.sms_webhook_url:
        response = httpx.post(
            settings.sms_webhook_url,
            json={"to": sms.to_number, "body": sms.body, "reference": f"sms-{sms.id}"},
            headers={"Authorization": f"Bearer {settings.sms_webhook_token}"},
            timeout=15,
        )
        response.raise_for_status()
        return
    outbox = settings.data_dir / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    (outbox / f"sms-{sms.id:08d}.txt").write_text(f"To: {sms.to_number}\n\n{sms.body}\n")
