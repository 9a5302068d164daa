"""Callback requests: a customer asks to be called back on a hotline; the request is a ticket
on channel ``phone`` and this row says when to call and whether the call was made."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from okpay.db import Base, BigId, UTCDateTime


class CallbackStatus(enum.StrEnum):
    requested = "requested"
    done = "done"


class Callback(Base):
    """One "please call me back" on a ticket."""

    __tablename__ = "support_callback"
    __table_args__ = (Index("ix_support_callback_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("ticket.id", ondelete="CASCADE"), index=True
    )
    # The hotline's region the customer chose (help centre's configuration, by code).
    region: Mapped[str] = mapped_column(String(4))
    number: Mapped[str] = mapped_column(String(20))  # E.164
    # None: as soon as possible (within opening hours).
    preferred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(12), default=CallbackStatus.requested.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
