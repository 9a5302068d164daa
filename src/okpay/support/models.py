"""Service-centre tables: tickets with request numbers, their messages, files and history,
and what agents configure (teams, routing rules, canned responses, holidays)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from okpay.core.i18n import N_, gettext
from okpay.db import Base, BigId, UTCDateTime


class Channel(enum.StrEnum):
    web = "web"
    email = "email"
    chat = "chat"
    feedback = "feedback"
    phone = "phone"
    wechat = "wechat"


class Status(enum.StrEnum):
    new = "new"
    open = "open"
    pending_customer = "pending_customer"
    on_hold = "on_hold"
    resolved = "resolved"
    closed = "closed"


class Team(enum.StrEnum):
    frontline = "frontline"
    technical = "technical"
    security = "security"
    compliance = "compliance"


class Priority(enum.StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class MessageKind(enum.StrEnum):
    public = "public"  # seen by the customer
    internal = "internal"  # agents' note
    system = "system"  # what OKPay told the customer on its own (escalation, chat timeout)


CHANNEL_LABELS = {
    "web": N_("Contact form"),
    "email": N_("E-mail"),
    "chat": N_("Live chat"),
    "feedback": N_("In-app feedback"),
    "phone": N_("Phone"),
    "wechat": N_("WeChat"),
}
STATUS_LABELS = {
    "new": N_("New"),
    "open": N_("Open"),
    "pending_customer": N_("Waiting for your reply"),
    "on_hold": N_("On hold"),
    "resolved": N_("Resolved"),
    "closed": N_("Closed"),
}
# Agents see the plain status names; customers see STATUS_LABELS.
AGENT_STATUS_LABELS = {**STATUS_LABELS, "pending_customer": N_("Pending customer")}
TEAM_LABELS = {
    "frontline": N_("Frontline"),
    "technical": N_("Technical"),
    "security": N_("Security"),
    "compliance": N_("Compliance"),
}
PRIORITY_LABELS = {
    "low": N_("Low"),
    "normal": N_("Normal"),
    "high": N_("High"),
    "urgent": N_("Urgent"),
}
OPEN_STATUSES = ("new", "open", "pending_customer", "on_hold")
ACTIVE_STATUSES = ("new", "open")  # waiting for an agent; SLA clocks run


def label(table: dict[str, str], code: str) -> str:
    """One of the label tables above, in the reader's language."""
    return gettext(table.get(code, code))


class Ticket(Base):
    """One request for help, whatever channel it came in by."""

    __tablename__ = "ticket"
    __table_args__ = (
        # The agent queue: a team's (or everyone's) waiting tickets by SLA due time.
        Index("ix_ticket_queue", "team", "status", "next_due_at", "id"),
        Index("ix_ticket_status_due", "status", "next_due_at", "id"),
        Index("ix_ticket_assignee", "assignee_id", "status", "next_due_at", "id"),
        Index("ix_ticket_requester", "requester_user_id", "id"),
        Index("ix_ticket_requester_email", "requester_email", "id"),
        Index("ix_ticket_created", "created_at"),
        # Inbound e-mail finds the ticket a reply belongs to by its thread's Message-ID.
        Index("ix_ticket_thread_message_id", "thread_message_id"),
        Index("ix_ticket_resolved", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    subject: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(40))
    priority: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))
    team: Mapped[str] = mapped_column(String(16))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    requester_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    requester_name: Mapped[str] = mapped_column(String(100))
    requester_email: Mapped[str] = mapped_column(String(320))
    locale: Mapped[str] = mapped_column(String(8))
    references: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Where feedback came from: page address, browser, app version.
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # SLA: due times in wall-clock UTC, computed from business hours. next_due_at is the
    # earliest running one (None while paused or done), which is what queues sort by.
    first_reply_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_reply_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_customer_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_agent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminder_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The Message-ID of the first e-mail about this ticket, so every reply threads under it.
    thread_message_id: Mapped[str] = mapped_column(String(250))
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TicketMessage(Base):
    """A public reply, an internal note or a system notice on a ticket."""

    __tablename__ = "ticket_message"
    __table_args__ = (
        Index("ix_ticket_message_ticket", "ticket_id", "id"),
        Index("ix_ticket_message_email_id", "email_message_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"))
    kind: Mapped[str] = mapped_column(String(10))
    channel: Mapped[str] = mapped_column(String(16))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # "customer", "agent" or "system": who spoke, independent of later role changes.
    author_side: Mapped[str] = mapped_column(String(10))
    author_name: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    # Inbound HTML e-mail, cleaned to a safe subset (shown as is); None for plain text.
    body_html: Mapped[str | None] = mapped_column(Text)
    email_message_id: Mapped[str | None] = mapped_column(String(250))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TicketAttachment(Base):
    """A file on a ticket, stored encrypted under a name we generate; served only as a
    download. ``sha256`` is the plaintext's. Once its retention period is over the file is
    deleted and ``purged_at`` set: the row stays so the thread still names it."""

    __tablename__ = "ticket_attachment"
    __table_args__ = (Index("ix_ticket_attachment_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_message.id"))
    storage_key: Mapped[str] = mapped_column(String(80), unique=True)
    filename: Mapped[str] = mapped_column(String(160))
    content_type: Mapped[str] = mapped_column(String(60))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TicketEvent(Base):
    """The ticket's history: every change, who made it and when; never updated."""

    __tablename__ = "ticket_event"
    __table_args__ = (
        Index("ix_ticket_event_ticket", "ticket_id", "id"),
        Index("ix_ticket_event_kind_at", "kind", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class TicketCounter(Base):
    """The last request number handed out per year (OK-2026-000123)."""

    __tablename__ = "ticket_counter"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class SupportAgent(Base):
    """A staff member's place in the service centre."""

    __tablename__ = "support_agent"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    team: Mapped[str] = mapped_column(String(16))


class RoutingRule(Base):
    """When a new ticket matches every condition set, it goes to ``team`` at ``priority``.
    Rules are tried by position; the first match wins."""

    __tablename__ = "routing_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    category: Mapped[str | None] = mapped_column(String(40))
    channel: Mapped[str | None] = mapped_column(String(16))
    # Words or phrases separated by "|", any of which in the subject or text matches.
    keywords: Mapped[str | None] = mapped_column(String(500))
    # The customer's account status (locked, restricted, frozen, closed).
    customer_state: Mapped[str | None] = mapped_column(String(16))
    team: Mapped[str | None] = mapped_column(String(16))
    priority: Mapped[str | None] = mapped_column(String(10))
    alert_team: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)


class CannedResponse(Base):
    """A reply agents reuse; placeholders like {name} and {number} are filled in."""

    __tablename__ = "canned_response"
    __table_args__ = (UniqueConstraint("locale", "title"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    locale: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)


class SupportHoliday(Base):
    """A day the service centre is closed: SLA clocks do not run."""

    __tablename__ = "support_holiday"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
