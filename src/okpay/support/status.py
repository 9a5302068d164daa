"""A ticket's status: the changes between new, open, waiting, resolved and closed, and what
each change does to its SLA clocks and the requester."""

from __future__ import annotations

from sqlalchemy.orm import Session

from okpay.core import audit, clock
from okpay.core.errors import DomainError, ValidationFailed
from okpay.core.i18n import N_
from okpay.identity.models import User
from okpay.support import access, emails, events, sla
from okpay.support.models import Status, Ticket


class TicketClosed(DomainError):
    code = "ticket_closed"
    status = 409
    message = N_("This request is closed. Please open a new request and mention %(number)s in it.")


ALLOWED_STATUSES = {s.value for s in Status}


def change_status(
    session: Session, ticket: Ticket, status: str, *, actor: User | None, notify: bool = True
) -> None:
    """Move the ticket to ``status``, pausing or restarting its clocks and e-mailing the
    requester when it is resolved (unless ``notify`` is False: the caller sends its own
    e-mail, with the rating invitation); refused once closed."""
    if status not in ALLOWED_STATUSES:
        raise ValidationFailed(code="status_invalid")
    old, now = ticket.status, clock.now()
    if old == status:
        return
    if old == Status.closed.value:
        raise TicketClosed(number=ticket.number)
    if old == Status.pending_customer.value:
        sla.resume_clock(session, ticket, now)
    if status == Status.pending_customer.value:
        sla.pause_clock(ticket, now)
    ticket.status = status
    if status == Status.resolved.value:
        ticket.resolved_at = now
        ticket.paused_at = None
        if notify:
            emails.mail_requester(session, ticket, "support_ticket_resolved")
    elif status == Status.closed.value:
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now
    elif old == Status.resolved.value:
        ticket.resolved_at = None
        sla.set_due_times(session, ticket, start=now)
    ticket.updated_at = now
    sla.refresh_next_due(ticket)
    events.record_event(session, ticket, "status", actor=actor, old=old, new=status)


def do_set_status(session: Session, *, ticket: Ticket, status: str, agent: User) -> Ticket:
    """An agent moves a ticket (resolving it asks the customer for a rating)."""
    access.require_staff(agent)
    change_status(session, ticket, status, actor=agent)
    audit.record(
        session, "ticket_status", actor_user_id=agent.id, subject_user_id=ticket.requester_user_id,
        object_type="ticket", object_id=ticket.number, status=status,
    )  # fmt: skip
    session.flush()
    return ticket
