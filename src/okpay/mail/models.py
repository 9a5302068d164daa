"""Outbound e-mail as rows: rendered once in the recipient's language, then delivered by a job."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from okpay.core.i18n import N_, gettext
from okpay.db import Base, UTCDateTime

DELIVERY_STATUS = {
    "queued": N_("Queued"),
    "retrying": N_("Retrying"),
    "sent": N_("Sent"),
    "failed": N_("Delivery failed"),
}


def delivery_status(status: str) -> str:
    """A message's delivery status in the reader's language."""
    return gettext(DELIVERY_STATUS.get(status, status))


class OutboundEmail(Base):
    """One e-mail to one address; the row is the record of what was said and when it left."""

    __tablename__ = "outbound_email"
    __table_args__ = (
        Index("ix_outbound_email_to_addr_id", "to_addr", "id"),
        Index("ix_outbound_email_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    to_addr: Mapped[str] = mapped_column(String(320))
    template: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboundSms(Base):
    """One text message (verification codes for a new phone number)."""

    __tablename__ = "outbound_sms"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    to_number: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
