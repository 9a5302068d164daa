"""Opening a ticket.

Every channel (contact form, e-mail, chat, in-app feedback, phone) opens a ticket with
:func:`do_open_ticket` and adds to it with :func:`okpay.support.messages.do_customer_message`;
agents' actions are ``do_*`` functions that write the ticket's event history and an audit
row. Services only flush; e-mails and alerts leave after commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from okpay.core import audit, clock
from okpay.core.errors import ValidationFailed
from okpay.core.i18n import get_locale
from okpay.helpcenter import triage
from okpay.identity import directory as identity_directory
from okpay.identity import validation as identity_validation
from okpay.identity.models import User
from okpay.support import checks, emails, events, messages, numbers, routing, sla
from okpay.support import files as support_files
from okpay.support.models import Channel, MessageKind, Status, Ticket


@dataclass
class NewTicket:
    """What a channel knows about a new request."""

    channel: str
    subject: str
    body: str
    name: str = ""
    email: str = ""
    user: User | None = None
    category: str | None = None
    references: Sequence[str] | str = ()
    files: list[support_files.CheckedFile] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)
    locale: str | None = None
    body_html: str | None = None
    email_message_id: str | None = None
    tags: list[str] = field(default_factory=list)
    # An agent logging a phone call, or None when the customer wrote in themselves.
    logged_by: User | None = None
    # Send the "we've got your request" e-mail (not to auto-replies, not for phone calls).
    acknowledge: bool = True


def do_open_ticket(session: Session, new: NewTicket) -> Ticket:
    """Open a ticket: validate, route, start its SLA clocks, store the first message and
    files, and (after commit) acknowledge it to the requester and alert a team if needed."""
    if new.channel not in Channel.__members__:
        raise ValidationFailed(code="channel_invalid")
    subject = checks.check_subject(new.subject)
    body = checks.check_body(new.body)
    category = checks.check_category(new.category)
    references = checks.check_references(new.references)
    user = new.user
    if user is not None:
        email, name = user.email, user.name or identity_validation.check_person_name(new.name)
    else:
        email = identity_validation.normalise_email(new.email)
        name = identity_validation.check_person_name(new.name)
    if not name:
        name = email.split("@", 1)[0]
    messages.check_file_count(new.files)

    suggestion = triage.suggest(subject, body)
    category = category or suggestion.category
    state = identity_directory.account_state(session, user.id) if user is not None else None
    chosen = routing.route(
        session,
        category=category,
        channel=new.channel,
        text=f"{subject}\n{body}",
        customer_state=state.status if state is not None and state.status != "active" else None,
        suggested_priority=suggestion.priority,
    )
    now = clock.now()
    ticket = Ticket(
        number=numbers.next_number(session),
        subject=subject,
        channel=new.channel,
        category=category,
        priority=chosen.priority,
        status=Status.new.value,
        team=chosen.team,
        requester_user_id=user.id if user is not None else None,
        requester_name=name,
        requester_email=email,
        locale=new.locale or (user.preferred_locale if user else None) or get_locale(),
        references=references,
        tags=list(dict.fromkeys(new.tags)),
        context=new.context,
        created_at=now,
        updated_at=now,
        last_customer_at=now,
        thread_message_id=new.email_message_id or messages.new_message_id(),
    )
    session.add(ticket)
    session.flush()
    sla.set_due_times(session, ticket, start=now)
    logged_by = new.logged_by
    message = messages.add_message_row(
        session,
        ticket,
        kind=MessageKind.public.value,
        channel=new.channel,
        side="customer",
        author=user,
        author_name=name,
        body=body,
        body_html=new.body_html,
        email_message_id=new.email_message_id,
        at=now,
    )
    messages.store_files(session, ticket, message, new.files)
    events.record_event(
        session,
        ticket,
        "created",
        actor=logged_by or user,
        channel=new.channel,
        team=ticket.team,
        priority=ticket.priority,
        category=category,
        rule=chosen.rule,
        suggested_category=suggestion.category,
        confidence=round(suggestion.confidence, 3),
        # When triage is unsure, the two best categories: the agent's page offers both.
        alternatives=[code for code, _ in suggestion.alternatives] if suggestion.unsure else [],
    )
    if logged_by is not None:
        audit.record(
            session, "ticket_phone_logged", actor_user_id=logged_by.id,
            subject_user_id=ticket.requester_user_id, object_type="ticket",
            object_id=ticket.number,
        )  # fmt: skip
    if new.acknowledge:
        emails.mail_requester(session, ticket, "support_ticket_created", first_message=body)
    if chosen.alert:
        emails.alert_team(session, ticket)
    return ticket
