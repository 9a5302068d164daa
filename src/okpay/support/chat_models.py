"""Live chat: one row per conversation, backed by a ticket that holds the transcript."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from okpay.core.i18n import N_
from okpay.db import Base, BigId, UTCDateTime


class ChatStatus(enum.StrEnum):
    waiting = "waiting"  # nobody has accepted it yet
    active = "active"  # an agent and the customer are talking
    ended = "ended"  # either side ended it
    missed = "missed"  # nobody accepted it in time: it carries on as a normal ticket


CHAT_STATUS_LABELS = {
    "waiting": N_("Waiting for an agent"),
    "active": N_("In progress"),
    "ended": N_("Ended"),
    "missed": N_("Missed: answered by e-mail"),
}


class SupportChat(Base):
    """A live chat. Its messages are the ticket's TicketMessage rows (channel "chat"); this
    row only holds who is talking and where the conversation stands."""

    __tablename__ = "support_chat"
    __table_args__ = (
        # The agents' waiting list and the time-out sweep: waiting chats, oldest first.
        Index("ix_support_chat_status_created", "status", "created_at", "id"),
        Index("ix_support_chat_agent", "agent_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), unique=True)
    status: Mapped[str] = mapped_column(String(10))
    customer_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "customer", "agent" or "timeout".
    ended_by: Mapped[str | None] = mapped_column(String(10))
