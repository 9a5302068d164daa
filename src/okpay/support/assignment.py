"""Agents handling a ticket: assigning it, changing its priority, topic, tags and linked
transactions, and escalating it to another team."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core import audit, clock
from okpay.core.errors import Conflict, ValidationFailed
from okpay.core.i18n import N_
from okpay.identity import validation as identity_validation
from okpay.identity.models import User
from okpay.support import access, checks, emails, events, messages, sla, status
from okpay.support.models import MessageKind, Priority, Status, Team, Ticket, TicketMessage


def do_assign(session: Session, *, ticket: Ticket, assignee: User | None, agent: User) -> Ticket:
    """Give the ticket to an agent (or to nobody)."""
    access.require_staff(agent)
    if assignee is not None and not assignee.is_staff:
        raise ValidationFailed(code="assignee_invalid")
    new_id = assignee.id if assignee is not None else None
    if ticket.assignee_id != new_id:
        events.record_event(
            session, ticket, "assigned", actor=agent, old=ticket.assignee_id, assignee_id=new_id
        )
        ticket.assignee_id = new_id
        ticket.updated_at = clock.now()
        audit.record(
            session, "ticket_assign", actor_user_id=agent.id, object_type="ticket",
            object_id=ticket.number, assignee_id=new_id,
        )  # fmt: skip
        session.flush()
    return ticket


def do_update(
    session: Session,
    *,
    ticket: Ticket,
    agent: User,
    priority: str | None = None,
    category: str | None = None,
    tags: Sequence[str] | None = None,
    references: Sequence[str] | str | None = None,
) -> Ticket:
    """Change priority, category, tags or linked transactions; each change is an event."""
    access.require_staff(agent)
    changes: dict[str, Any] = {}
    if priority is not None and priority != ticket.priority:
        if priority not in Priority.__members__:
            raise ValidationFailed(code="priority_invalid", field="priority")
        changes["priority"] = [ticket.priority, priority]
        ticket.priority = priority
    if category is not None and category != ticket.category:
        checks.check_category(category)
        changes["category"] = [ticket.category, category]
        triage_correct(session, ticket, category, agent)
        ticket.category = category
    if tags is not None:
        clean = [t for t in dict.fromkeys(_check_tag(t) for t in tags) if t]
        if clean != ticket.tags:
            changes["tags"] = [ticket.tags, clean]
            ticket.tags = clean
    if references is not None:
        refs = checks.check_references(references)
        if refs != ticket.references:
            changes["references"] = [ticket.references, refs]
            ticket.references = refs
    if "priority" in changes or "category" in changes:
        sla.set_due_times(session, ticket, start=ticket.created_at)
    if changes:
        ticket.updated_at = clock.now()
        events.record_event(session, ticket, "updated", actor=agent, **changes)
        audit.record(
            session, "ticket_update", actor_user_id=agent.id, object_type="ticket",
            object_id=ticket.number, fields=sorted(changes),
        )  # fmt: skip
        session.flush()
    return ticket


def triage_correct(session: Session, ticket: Ticket, category: str, agent: User) -> None:
    """An agent's change of category teaches triage (helpcenter keeps the corrections)."""
    from okpay.helpcenter import service as help_service

    first = session.scalar(
        select(TicketMessage.body)
        .where(TicketMessage.ticket_id == ticket.id)
        .order_by(TicketMessage.id)
        .limit(1)
    )
    help_service.do_record_triage_correction(
        session, subject=ticket.subject, body=first or "", corrected_category=category,
        corrected_priority=ticket.priority, by=agent, ticket_ref=ticket.number,
    )  # fmt: skip


def _check_tag(raw: str) -> str:
    value = identity_validation.check_name(raw, field="tags", max_length=40).lower()
    return re.sub(r"\s+", "-", value)


def do_escalate(session: Session, *, ticket: Ticket, team: str, note: str, agent: User) -> Ticket:
    """Hand the ticket to another team with a note; the customer is told the new expected
    time for an answer."""
    access.require_staff(agent)
    if team not in Team.__members__:
        raise ValidationFailed(code="team_invalid", field="team")
    if team == ticket.team:
        raise Conflict(N_("The request is already with that team."), code="same_team")
    text = checks.check_body(note)
    old = ticket.team
    now = clock.now()
    ticket.team = team
    ticket.assignee_id = None
    if ticket.status in (Status.pending_customer.value, Status.resolved.value):
        status.change_status(session, ticket, Status.open.value, actor=agent)
    # The new team gets its own full resolution target from now.
    targets = sla.targets_for(priority=ticket.priority, category=ticket.category)
    ticket.resolution_due_at = sla.calendar(session).add(now, targets.resolution_hours * 3600)
    ticket.warned_at = None
    sla.refresh_next_due(ticket)
    messages.add_message_row(
        session, ticket, kind=MessageKind.internal.value, channel=ticket.channel, side="agent",
        author=agent, author_name=agent.display_name, body=text, at=now,
    )  # fmt: skip
    events.record_event(session, ticket, "escalated", actor=agent, old=old, new=team)
    audit.record(
        session, "ticket_escalate", actor_user_id=agent.id, object_type="ticket",
        object_id=ticket.number, old=old, new=team,
    )  # fmt: skip
    emails.mail_requester(session, ticket, "support_ticket_escalated")
    ticket.updated_at = now
    session.flush()
    return ticket
