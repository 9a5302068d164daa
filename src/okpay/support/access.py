"""Finding a ticket and who may see it: staff, the signed-in requester, or a requester's
link with its key."""

from __future__ import annotations

import hmac
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core.errors import NotFound
from okpay.core.security import sign
from okpay.identity.models import User
from okpay.settings import get_settings
from okpay.support import numbers
from okpay.support.models import Ticket


def get_ticket(session: Session, number: str) -> Ticket | None:
    canonical = numbers.normalise_number(number)
    if canonical is None:
        return None
    return session.scalar(select(Ticket).where(Ticket.number == canonical))


def access_ticket(session: Session, *, user: User | None, number: str) -> Ticket:
    """The ticket as ``user`` may see it: staff see every ticket, a customer only their own;
    anything else is NotFound (never "forbidden", which would confirm it exists)."""
    ticket = get_ticket(session, number)
    if ticket is None or user is None:
        raise NotFound()
    if user.is_staff or ticket.requester_user_id == user.id:
        return ticket
    raise NotFound()


def access_key(ticket: Ticket) -> str:
    """The key in a requester's links that opens their ticket without signing in."""
    return sign(f"{ticket.id}:{ticket.requester_email}", "ticket-access")[:32]


def access_ticket_by_key(session: Session, *, number: str, key: str) -> Ticket:
    """The ticket a requester's link opens (guests have no account to check)."""
    ticket = get_ticket(session, number)
    if ticket is None or not hmac.compare_digest(access_key(ticket), key or ""):
        raise NotFound()
    return ticket


def requester_link(ticket: Ticket, suffix: str = "") -> str:
    """An absolute link for the requester (e-mails), opening the ticket with its key."""
    base = get_settings().base_url
    return f"{base}/support/requests/{ticket.number}{suffix}?key={quote(access_key(ticket))}"


def list_requests_of(session: Session, *, user: User, limit: int = 100) -> list[Ticket]:
    """A customer's own requests, newest first ("My requests")."""
    stmt = (
        select(Ticket)
        .where(Ticket.requester_user_id == user.id)
        .order_by(Ticket.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def earlier_tickets(session: Session, ticket: Ticket, *, limit: int = 10) -> list[Ticket]:
    """The same requester's other tickets (by account, else by e-mail), newest first."""
    if ticket.requester_user_id is not None:
        cond = Ticket.requester_user_id == ticket.requester_user_id
    else:
        cond = Ticket.requester_email == ticket.requester_email
    stmt = select(Ticket).where(cond, Ticket.id != ticket.id).order_by(Ticket.id.desc())
    return list(session.scalars(stmt.limit(limit)))


def require_staff(user: User) -> None:
    """Agents' actions are refused to anyone else, whatever route called them."""
    if not user.is_staff:
        from okpay.core.errors import PermissionDenied

        raise PermissionDenied()
