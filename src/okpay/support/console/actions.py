"""What agents do from the console beyond one ticket's page: bulk actions on queue rows,
and logging phone calls."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from okpay.core.dbid import parse_id
from okpay.core.errors import DomainError, NotFound, ValidationFailed
from okpay.core.i18n import N_, gettext
from okpay.identity.models import User
from okpay.support import access, assignment, messages, tickets
from okpay.support import status as ticket_status
from okpay.support.console import staff
from okpay.support.models import (
    Channel,
    Priority,
    Status,
    Team,
    Ticket,
)

BULK_MAX = 200


BULK_ACTIONS = ("assign", "status", "team", "priority")


@dataclass
class BulkResult:
    changed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # number -> reason code


def do_bulk(
    session: Session,
    *,
    agent: User,
    numbers: Sequence[str],
    action: str,
    value: str,
    note: str = "",
) -> BulkResult:
    """Apply one action to several tickets. Each ticket is its own savepoint: one that
    cannot take the change (closed, already in that team) is skipped and named."""
    if action not in BULK_ACTIONS:
        raise ValidationFailed(code="bulk_action_invalid", field="action")
    unique = list(dict.fromkeys(n for n in numbers if n))
    if not unique:
        raise ValidationFailed(
            N_("Select at least one request."), code="nothing_selected", field="numbers"
        )
    if len(unique) > BULK_MAX:
        raise ValidationFailed(
            N_("Select at most %(max)s requests at a time."), code="too_many_selected",
            field="numbers", max=BULK_MAX,
        )  # fmt: skip
    assignee: User | None = None
    if action == "assign":
        if value == "me":
            assignee = agent
        elif value not in ("", "nobody"):
            assignee = staff.get_staff(session, parse_id(value) or 0)
    elif action == "status" and value not in Status.__members__:
        raise ValidationFailed(code="status_invalid", field="value")
    elif action == "team" and value not in Team.__members__:
        raise ValidationFailed(code="team_invalid", field="value")
    elif action == "priority" and value not in Priority.__members__:
        raise ValidationFailed(code="priority_invalid", field="value")
    result = BulkResult()
    for number in unique:
        try:
            ticket = access.access_ticket(session, user=agent, number=number)
        except NotFound:
            result.skipped[number] = "not_found"
            continue
        if ticket.status == Status.closed.value:
            result.skipped[number] = "ticket_closed"  # closed is final: reopen by a new request
            continue
        savepoint = session.begin_nested()
        try:
            if action == "assign":
                assignment.do_assign(session, ticket=ticket, assignee=assignee, agent=agent)
            elif action == "status":
                ticket_status.do_set_status(session, ticket=ticket, status=value, agent=agent)
            elif action == "priority":
                assignment.do_update(session, ticket=ticket, agent=agent, priority=value)
            else:
                text = note.strip() or gettext(
                    "Moved to another team by %(agent)s.", agent=agent.display_name
                )
                assignment.do_escalate(session, ticket=ticket, team=value, note=text, agent=agent)
            savepoint.commit()
            result.changed.append(ticket.number)
        except DomainError as err:
            savepoint.rollback()
            result.skipped[number] = err.code
    return result


def do_log_call(
    session: Session,
    *,
    agent: User,
    subject: str,
    body: str,
    customer: User | None = None,
    name: str = "",
    email: str = "",
    category: str | None = None,
    acknowledge: bool = False,
) -> Ticket:
    """An agent logs a phone call as a new ticket, for a customer found by e-mail or phone,
    or for a guest by name and e-mail."""
    access.require_staff(agent)
    new = tickets.NewTicket(
        channel=Channel.phone.value,
        subject=subject,
        body=body,
        name=name,
        email=email,
        user=customer,
        category=category or None,
        logged_by=agent,
        acknowledge=acknowledge,
    )
    return tickets.do_open_ticket(session, new)


def do_log_call_message(session: Session, *, agent: User, ticket: Ticket, body: str) -> Any:
    """What the customer said on the phone, added to their ticket (audited as the agent's)."""
    access.require_staff(agent)
    message = messages.do_customer_message(
        session, ticket=ticket, body=body, channel=Channel.phone.value
    )
    from okpay.core import audit

    audit.record(
        session, "ticket_phone_logged", actor_user_id=agent.id,
        subject_user_id=ticket.requester_user_id, object_type="ticket", object_id=ticket.number,
        message_id=message.id,
    )  # fmt: skip
    return message
