"""The customer's satisfaction rating of a resolved request."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.core.errors import Conflict, ValidationFailed
from okpay.core.i18n import N_
from okpay.identity.models import User
from okpay.support import checks, events
from okpay.support.models import Status, Ticket

RATING_WINDOW_DAYS = 30


def do_rate(
    session: Session, *, ticket: Ticket, rating: int, comment: str, actor: User | None
) -> Ticket:
    """The customer's 1–5 satisfaction rating of a resolved request (changeable for 30 days)."""
    if ticket.status not in (Status.resolved.value, Status.closed.value):
        raise Conflict(N_("You can rate a request once it is resolved."), code="not_resolved_yet")
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ValidationFailed(
            N_("Please choose a rating from 1 to 5."), code="rating_invalid", field="rating"
        )
    resolved = ticket.resolved_at or ticket.closed_at or clock.now()
    if clock.now() - resolved > timedelta(days=RATING_WINDOW_DAYS):
        raise Conflict(
            N_("Ratings close 30 days after a request is resolved."), code="rating_closed"
        )
    text = checks.check_body(comment, required=False)[:2000]
    ticket.rating, ticket.rating_comment, ticket.rated_at = rating, text or None, clock.now()
    events.record_event(session, ticket, "rated", actor=actor, rating=rating)
    session.flush()
    return ticket
