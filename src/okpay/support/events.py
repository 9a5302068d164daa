"""A ticket's event history (created, status, assigned, rated, …): each change is one row."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.identity.models import User
from okpay.support.models import Ticket, TicketEvent


def list_events(session: Session, ticket: Ticket) -> list[TicketEvent]:
    stmt = select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
    return list(session.scalars(stmt.order_by(TicketEvent.id)))


def record_event(
    session: Session, ticket: Ticket, kind: str, *, actor: User | None = None, **data: Any
) -> TicketEvent:
    """Add one row to the ticket's event history (the caller flushes)."""
    row = TicketEvent(
        ticket_id=ticket.id,
        at=clock.now(),
        actor_user_id=actor.id if actor is not None else None,
        kind=kind,
        data=data,
    )
    session.add(row)
    return row
