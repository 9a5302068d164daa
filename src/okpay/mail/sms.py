"""Text messages: an HTTP gateway when configured (OKPAY_SMS_WEBHOOK_URL), else the dev outbox."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.mail.models import OutboundSms
from okpay.settings import Settings


def send_sms(session: Session, *, to: str, body: str, user_id: int | None = None) -> OutboundSms:
    """Store a text message; a job delivers it once the unit of work commits."""
    from okpay.mail import tasks
    from okpay.worker import enqueue_on_commit

    sms = OutboundSms(created_at=clock.now(), user_id=user_id, to_number=to, body=body[:500])
    session.add(sms)
    session.flush()
    enqueue_on_commit(session, tasks.deliver_sms, sms.id)
    return sms


def deliver(sms: OutboundSms, settings: Settings) -> None:
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


def list_recent(session: Session, *, limit: int = 50) -> list[OutboundSms]:
    return list(session.scalars(select(OutboundSms).order_by(OutboundSms.id.desc()).limit(limit)))
