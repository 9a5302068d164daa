"""Text messages: stored now, delivered by a job once the unit of work commits (through
:func:`okpay.mail.transport.deliver_sms`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.jobs import enqueue_on_commit
from okpay.mail import tasks
from okpay.mail.models import OutboundSms


def send_sms(session: Session, *, to: str, body: str, user_id: int | None = None) -> OutboundSms:
    """Store a text message; a job delivers it once the unit of work commits."""
    sms = OutboundSms(created_at=clock.now(), user_id=user_id, to_number=to, body=body[:500])
    session.add(sms)
    session.flush()
    enqueue_on_commit(session, tasks.deliver_sms, sms.id)
    return sms


def list_recent(session: Session, *, limit: int = 50) -> list[OutboundSms]:
    return list(session.scalars(select(OutboundSms).order_by(OutboundSms.id.desc()).limit(limit)))
