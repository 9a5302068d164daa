"""The delivery job: one attempt per run, retried by the queue with a delay."""

from __future__ import annotations

import logging

from okpay.core import clock
from okpay.db import get_database
from okpay.jobs import job
from okpay.mail import transport
from okpay.mail.models import OutboundEmail, OutboundSms
from okpay.mail.transport import build_message, deliver
from okpay.settings import get_settings

log = logging.getLogger(__name__)


@job(retries=6, retry_delay=30)
def deliver_email(email_id: int) -> None:
    """Send one stored e-mail; on failure record why and let the queue retry."""
    settings = get_settings()
    db = get_database()
    with db.unit_of_work() as session:
        email = session.get(OutboundEmail, email_id)
        if email is None or email.status == "sent":
            return
        msg = build_message(email, settings)
    try:
        deliver(msg, email, settings)
    except Exception as exc:
        with db.unit_of_work() as session:
            row = session.get(OutboundEmail, email_id)
            if row is not None:
                row.attempts += 1
                row.status = "retrying"
                row.last_error = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("e-mail %s not delivered: %s", email_id, exc)
        raise
    with db.unit_of_work() as session:
        row = session.get(OutboundEmail, email_id)
        if row is not None:
            row.attempts += 1
            row.status = "sent"
            row.sent_at = clock.now()
            row.last_error = None


@job(retries=4, retry_delay=20)
def deliver_sms(sms_id: int) -> None:
    """Send one stored text message."""
    settings = get_settings()
    db = get_database()
    with db.unit_of_work() as session:
        sms = session.get(OutboundSms, sms_id)
        if sms is None or sms.status == "sent":
            return
        session.expunge(sms)
    try:
        transport.deliver_sms(sms, settings)
    except Exception as exc:
        with db.unit_of_work() as session:
            row = session.get(OutboundSms, sms_id)
            if row is not None:
                row.attempts += 1
                row.status = "retrying"
                row.last_error = f"{type(exc).__name__}: {exc}"[:500]
        raise
    with db.unit_of_work() as session:
        row = session.get(OutboundSms, sms_id)
        if row is not None:
            row.attempts += 1
            row.status = "sent"
            row.sent_at = clock.now()
