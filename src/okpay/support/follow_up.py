"""Follow-ups as time passes: the customer's reminder when a promised answer is late, and
the sweep that warns before SLA targets, records breaches and closes resolved tickets."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.core.errors import Conflict, DomainError
from okpay.core.i18n import N_, format_datetime
from okpay.db import for_update
from okpay.identity.models import User
from okpay.support import emails, events, routing, sla, status
from okpay.support.models import ACTIVE_STATUSES, Status, Ticket

AUTO_CLOSE_DAYS = 7


class ReminderTooEarly(DomainError):
    code = "reminder_too_early"
    status = 409
    message = N_("We promised an answer by %(due)s. If none has come by then, you can remind us.")


def do_request_reminder(session: Session, *, ticket: Ticket, actor: User | None) -> Ticket:
    """The customer reminds us when the promised time passed without an answer: the ticket
    moves up a priority and its team is told."""
    now = clock.now()
    due = sla.promised_reply_at(ticket)
    if ticket.status not in ACTIVE_STATUSES or due is None or due > now:
        raise ReminderTooEarly(due=format_datetime(due) if due else "—")
    if ticket.reminder_at is not None:
        raise Conflict(
            N_("You have already reminded us. The team has been told."), code="already_reminded"
        )
    ticket.reminder_at = now
    old = ticket.priority
    ticket.priority = routing.PRIORITY_ORDER[
        min(routing.PRIORITY_ORDER.index(old) + 1, len(routing.PRIORITY_ORDER) - 1)
    ]
    events.record_event(
        session, ticket, "reminder", actor=actor, old_priority=old, priority=ticket.priority
    )
    emails.alert_team(session, ticket, template="support_reminder_alert")
    ticket.updated_at = now
    session.flush()
    return ticket


def sweep(session: Session, *, now: datetime | None = None) -> dict[str, int]:
    """Warn before SLA targets are missed, record breaches, close long-resolved tickets."""
    now = now or clock.now()
    counts = {"warned": 0, "breached": 0, "closed": 0}
    cal = sla.calendar(session)
    running = select(Ticket).where(
        Ticket.status.in_(ACTIVE_STATUSES), Ticket.next_due_at.is_not(None)
    )
    soon = cal.add(now, sla.WARNING_SECONDS)
    lock = for_update(session.get_bind().dialect.name)
    for ticket in session.scalars(
        running.where(Ticket.next_due_at <= soon).with_for_update(skip_locked=True, **lock)
    ):
        due = ticket.next_due_at
        assert due is not None
        target = "first_reply" if ticket.first_replied_at is None else "resolution"
        if due <= now:
            column = f"{target}_breached_at"
            if getattr(ticket, column) is None:
                setattr(ticket, column, now)
                events.record_event(
                    session, ticket, "sla_breach", target=target, due=due.isoformat()
                )
                counts["breached"] += 1
        elif ticket.warned_at is None:
            ticket.warned_at = now
            events.record_event(session, ticket, "sla_warning", target=target, due=due.isoformat())
            counts["warned"] += 1
    stale = now - timedelta(days=AUTO_CLOSE_DAYS)
    for ticket in session.scalars(
        select(Ticket)
        .where(Ticket.status == Status.resolved.value, Ticket.resolved_at <= stale)
        .with_for_update(skip_locked=True, **lock)
    ):
        status.change_status(session, ticket, Status.closed.value, actor=None)
        counts["closed"] += 1
    session.flush()
    return counts
