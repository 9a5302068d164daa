"""Tickets: opening them from any channel, conversation, status, routing, SLA and ratings.

Every channel (contact form, e-mail, chat, in-app feedback, phone) ends in
:func:`do_open_ticket` and :func:`do_add_message`; agents' actions are ``do_*`` functions
that write the ticket's event history and an audit row. Services only flush; e-mails and
alerts leave after commit (mail.send_email queues them that way).
"""

from __future__ import annotations

import hmac
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core import audit, clock, ids
from okpay.core.cards import mask_card_numbers
from okpay.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from okpay.core.i18n import N_, format_datetime, get_locale, use_locale
from okpay.core.security import sign
from okpay.db import for_update
from okpay.helpcenter import triage
from okpay.helpcenter.taxonomy import CATEGORIES, category_label
from okpay.identity import directory as identity_directory
from okpay.identity import validation as identity_validation
from okpay.identity.models import User
from okpay.mail.service import send_email
from okpay.settings import get_settings
from okpay.support import files as support_files
from okpay.support import sla
from okpay.support.models import (
    ACTIVE_STATUSES,
    TEAM_LABELS,
    CannedResponse,
    Channel,
    MessageKind,
    Priority,
    RoutingRule,
    Status,
    SupportAgent,
    SupportHoliday,
    Team,
    Ticket,
    TicketAttachment,
    TicketCounter,
    TicketEvent,
    TicketMessage,
    label,
)

SUBJECT_MAX = 200
BODY_MAX = 20_000
# Older references end in six random characters, numbered ones in nine and a check
# character (core.ids); a numbered one whose check character is wrong is a typo.
TX_REFERENCE = re.compile(r"TX-\d{8}-[2-9A-HJ-NP-Z]{6}(?:[2-9A-HJ-NP-Z]{4})?")
# "OK-2026-000123" in any case, with or without brackets, also typed as "ok 2026 123".
NUMBER_PATTERN = re.compile(r"\bOK[-\s]?(\d{4})[-\s]?(\d{1,9})\b", re.IGNORECASE)
PRIORITY_ORDER = ["low", "normal", "high", "urgent"]
AUTO_CLOSE_DAYS = 7


class TicketClosed(DomainError):
    code = "ticket_closed"
    status = 409
    message = N_("This request is closed. Please open a new request and mention %(number)s in it.")


class ReminderTooEarly(DomainError):
    code = "reminder_too_early"
    status = 409
    message = N_("We promised an answer by %(due)s. If none has come by then, you can remind us.")


# ----------------------------------------------------------------------------- numbers


def format_number(year: int, sequence: int) -> str:
    return f"OK-{year}-{sequence:06d}"


def normalise_number(raw: str) -> str | None:
    """A request number as people type it ("ok-2026-123", "OK 2026 000123", full-width
    characters) in its canonical form, or None."""
    text = unicodedata.normalize("NFKC", raw or "").strip()
    match = NUMBER_PATTERN.fullmatch(text) or NUMBER_PATTERN.search(text)
    if match is None:
        return None
    return format_number(int(match.group(1)), int(match.group(2)))


def _next_number(session: Session) -> str:
    """The next request number of the current year, from a counter row.

    On PostgreSQL the counter is bumped in its own short transaction, so tickets being opened
    at the same time do not queue behind each other's whole unit of work; a ticket that is
    then rolled back leaves a gap in the numbers, which is harmless. SQLite has one writer at
    a time anyway, so there the counter is part of the ticket's own transaction."""
    year = clock.now().year
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        with bind.engine.begin() as conn:
            return format_number(year, int(conn.execute(_bump(pg_insert, year)).scalar_one()))
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return format_number(year, int(session.execute(_bump(sqlite_insert, year)).scalar_one()))


def _bump(insert: Any, year: int) -> Any:
    """INSERT … ON CONFLICT DO UPDATE on the year's counter, returning the new value."""
    return (
        insert(TicketCounter)
        .values(year=year, last=1)
        .on_conflict_do_update(
            index_elements=[TicketCounter.year], set_={"last": TicketCounter.last + 1}
        )
        .returning(TicketCounter.last)
    )


# ----------------------------------------------------------------------------- reading


def get_ticket(session: Session, number: str) -> Ticket | None:
    canonical = normalise_number(number)
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


def send_requester_link(session: Session, ticket: Ticket) -> None:
    """E-mail the requester the link to their ticket (a guest asked for it by number)."""
    _mail_requester(session, ticket, "support_requests_link")


def list_messages(
    session: Session, ticket: Ticket, *, include_internal: bool
) -> list[TicketMessage]:
    stmt = select(TicketMessage).where(TicketMessage.ticket_id == ticket.id)
    if not include_internal:
        stmt = stmt.where(TicketMessage.kind != MessageKind.internal.value)
    return list(session.scalars(stmt.order_by(TicketMessage.id)))


def list_attachments(session: Session, ticket: Ticket) -> list[TicketAttachment]:
    stmt = select(TicketAttachment).where(TicketAttachment.ticket_id == ticket.id)
    return list(session.scalars(stmt.order_by(TicketAttachment.id)))


def attachments_by_message(
    session: Session, ticket: Ticket
) -> dict[int | None, list[TicketAttachment]]:
    grouped: dict[int | None, list[TicketAttachment]] = {}
    for row in list_attachments(session, ticket):
        grouped.setdefault(row.message_id, []).append(row)
    return grouped


def get_attachment(session: Session, ticket: Ticket, attachment_id: int) -> TicketAttachment:
    """One of this ticket's files (access to the ticket was checked by the caller)."""
    row = session.get(TicketAttachment, attachment_id)
    if row is None or row.ticket_id != ticket.id:
        raise NotFound()
    return row


def list_events(session: Session, ticket: Ticket) -> list[TicketEvent]:
    stmt = select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
    return list(session.scalars(stmt.order_by(TicketEvent.id)))


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


# ------------------------------------------------------------------------------ checks


def check_subject(raw: str) -> str:
    value = identity_validation.check_name(raw, field="subject", max_length=SUBJECT_MAX)
    if not value:
        raise ValidationFailed(
            N_("Please say in a few words what this is about."), code="subject_required",
            field="subject",
        )  # fmt: skip
    return mask_card_numbers(value)


def check_body(raw: str, *, required: bool = True) -> str:
    value = (raw or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    value = "".join(ch for ch in value if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    if required and not value:
        raise ValidationFailed(
            N_("Please describe what happened."), code="description_required", field="body"
        )
    if len(value) > BODY_MAX:
        raise ValidationFailed(
            N_("Use at most %(max)s characters."), code="too_long", field="body", max=BODY_MAX
        )
    return mask_card_numbers(value)


def check_references(raw: Sequence[str] | str) -> list[str]:
    """Transaction references (TX-YYYYMMDD- and ten characters, or six for older ones),
    deduplicated; anything else refused."""
    items = re.split(r"[\s,;，；]+", raw) if isinstance(raw, str) else list(raw)
    found: list[str] = []
    for item in items:
        value = unicodedata.normalize("NFKC", item or "").strip().upper()
        if not value:
            continue
        if not TX_REFERENCE.fullmatch(value) or not ids.reference_is_well_formed(value):
            raise ValidationFailed(
                N_(
                    "“%(value)s” is not a transaction reference "
                    "(they look like TX-20261121-WMSTDVEMET)."
                ),
                code="reference_invalid",
                field="reference",
                value=value[:40],
            )  # fmt: skip
        if value not in found:
            found.append(value)
    return found[:10]


def check_category(raw: str | None) -> str | None:
    if not raw:
        return None
    if raw not in CATEGORIES:
        raise ValidationFailed(
            N_("Please choose a topic from the list."), code="category_invalid", field="category"
        )
    return raw


# ----------------------------------------------------------------------------- routing


@dataclass(frozen=True)
class Route:
    team: str
    priority: str
    alert: bool = False
    rule: str = "default"


# Built-in rules, applied after the ones agents add (routing_rule): first match wins.
_CATEGORY_TEAMS = {
    "suspicious_activity": Route("security", "urgent", alert=True, rule="suspicious_activity"),
    "account_security": Route("security", "high", rule="account_security"),
    "account_restricted": Route("compliance", "normal", rule="account_review"),
    "limit_increase": Route("compliance", "normal", rule="account_review"),
    "payment_methods": Route("technical", "normal", rule="technical_topic"),
}


def route(
    session: Session,
    *,
    category: str,
    channel: str,
    text: str,
    customer_state: str | None,
    suggested_priority: str,
) -> Route:
    """Team and priority for a new ticket: agents' rules first, then OKPay's defaults."""
    lowered = text.lower()
    for rule in session.scalars(
        select(RoutingRule).where(RoutingRule.active.is_(True)).order_by(RoutingRule.position)
    ):
        if rule.category and rule.category != category:
            continue
        if rule.channel and rule.channel != channel:
            continue
        if rule.customer_state and rule.customer_state != customer_state:
            continue
        if rule.keywords and not any(
            word.strip().lower() in lowered for word in rule.keywords.split("|") if word.strip()
        ):
            continue
        return Route(
            rule.team or "frontline",
            rule.priority or suggested_priority,
            alert=rule.alert_team,
            rule=f"rule:{rule.id}",
        )
    # Money leaving without consent is a security case whatever topic was picked.
    if category == "suspicious_activity" or triage.URGENT_SIGNALS.search(lowered):
        return _CATEGORY_TEAMS["suspicious_activity"]
    if customer_state == "frozen":
        return Route("security", _at_least(suggested_priority, "high"), rule="frozen_account")
    if customer_state == "restricted":
        return Route("compliance", _at_least(suggested_priority, "normal"), rule="restricted")
    if category in _CATEGORY_TEAMS:
        preset = _CATEGORY_TEAMS[category]
        return Route(preset.team, _at_least(suggested_priority, preset.priority), rule=preset.rule)
    if channel == Channel.feedback.value:
        return Route("technical", suggested_priority, rule="feedback")
    return Route("frontline", suggested_priority)


def _at_least(priority: str, floor: str) -> str:
    return max(priority, floor, key=PRIORITY_ORDER.index)


# -------------------------------------------------------------------------------- SLA


def calendar(session: Session) -> sla.Calendar:
    return sla.Calendar.from_settings(session.scalars(select(SupportHoliday.day)))


def _set_due_times(session: Session, ticket: Ticket, *, start: datetime) -> None:
    targets = sla.targets_for(priority=ticket.priority, category=ticket.category)
    cal = calendar(session)
    if ticket.first_replied_at is None:
        ticket.first_reply_due_at = cal.add(start, targets.first_reply_hours * 3600)
    ticket.resolution_due_at = cal.add(start, targets.resolution_hours * 3600)
    ticket.warned_at = None
    _refresh_next_due(ticket)


def _refresh_next_due(ticket: Ticket) -> None:
    """The due time the queues sort by: the first reply until it is given, then resolution;
    none while the clock is paused or the ticket is done."""
    if ticket.status not in ACTIVE_STATUSES and ticket.status != Status.on_hold.value:
        ticket.next_due_at = None
    elif ticket.first_replied_at is None and ticket.first_reply_due_at is not None:
        ticket.next_due_at = ticket.first_reply_due_at
    else:
        ticket.next_due_at = ticket.resolution_due_at


def _pause(ticket: Ticket, now: datetime) -> None:
    if ticket.paused_at is None:
        ticket.paused_at = now


def _resume(session: Session, ticket: Ticket, now: datetime) -> None:
    """Move the due times on by the business time spent waiting for the customer."""
    if ticket.paused_at is None:
        return
    cal = calendar(session)
    paused = cal.between(ticket.paused_at, now)
    if ticket.first_replied_at is None and ticket.first_reply_due_at is not None:
        ticket.first_reply_due_at = cal.add(ticket.first_reply_due_at, paused)
    if ticket.resolution_due_at is not None:
        ticket.resolution_due_at = cal.add(ticket.resolution_due_at, paused)
    ticket.paused_at = None
    ticket.warned_at = None


def promised_reply_at(ticket: Ticket) -> datetime | None:
    """When the customer can expect our next answer (what pages and e-mails promise)."""
    if ticket.first_replied_at is None:
        return ticket.first_reply_due_at
    return ticket.resolution_due_at if ticket.status in ACTIVE_STATUSES else None


# ------------------------------------------------------------------------- opening


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
    subject = check_subject(new.subject)
    body = check_body(new.body)
    category = check_category(new.category)
    references = check_references(new.references)
    user = new.user
    if user is not None:
        email, name = user.email, user.name or identity_validation.check_person_name(new.name)
    else:
        email = identity_validation.normalise_email(new.email)
        name = identity_validation.check_person_name(new.name)
    if not name:
        name = email.split("@", 1)[0]
    _check_file_count(new.files)

    suggestion = triage.suggest(subject, body)
    category = category or suggestion.category
    state = identity_directory.account_state(session, user.id) if user is not None else None
    chosen = route(
        session,
        category=category,
        channel=new.channel,
        text=f"{subject}\n{body}",
        customer_state=state.status if state is not None and state.status != "active" else None,
        suggested_priority=suggestion.priority,
    )
    now = clock.now()
    ticket = Ticket(
        number=_next_number(session),
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
        thread_message_id=new.email_message_id or _new_message_id(),
    )
    session.add(ticket)
    session.flush()
    _set_due_times(session, ticket, start=now)
    logged_by = new.logged_by
    message = _add_message_row(
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
    _store_files(session, ticket, message, new.files)
    _event(
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
    )
    if logged_by is not None:
        audit.record(
            session, "ticket_phone_logged", actor_user_id=logged_by.id,
            subject_user_id=ticket.requester_user_id, object_type="ticket",
            object_id=ticket.number,
        )  # fmt: skip
    if new.acknowledge:
        _mail_requester(session, ticket, "support_ticket_created", first_message=body)
    if chosen.alert:
        _alert_team(session, ticket)
    return ticket


def _check_file_count(files: Sequence[support_files.CheckedFile]) -> None:
    limit = get_settings().upload_max_files
    if len(files) > limit:
        raise support_files.UploadRejected(
            N_("Please attach at most %(max)s files."), code="too_many_files", max=limit
        )


def _new_message_id() -> str:
    from email.utils import make_msgid
    from urllib.parse import urlsplit

    return make_msgid(domain=urlsplit(get_settings().base_url).hostname or "okpay.local")


def _add_message_row(
    session: Session,
    ticket: Ticket,
    *,
    kind: str,
    channel: str,
    side: str,
    author: User | None,
    author_name: str,
    body: str,
    at: datetime,
    body_html: str | None = None,
    email_message_id: str | None = None,
) -> TicketMessage:
    message = TicketMessage(
        ticket_id=ticket.id,
        kind=kind,
        channel=channel,
        author_user_id=author.id if author is not None else None,
        author_side=side,
        author_name=author_name[:100],
        body=body,
        body_html=body_html,
        email_message_id=email_message_id,
        created_at=at,
    )
    session.add(message)
    session.flush()
    return message


def _store_files(
    session: Session,
    ticket: Ticket,
    message: TicketMessage | None,
    files: Sequence[support_files.CheckedFile],
) -> list[TicketAttachment]:
    """Write the files, then their rows. A rollback leaves the file orphaned, never a row
    without its file."""
    rows = []
    for item in files:
        key = support_files.new_storage_key()
        support_files.store(key, item.data)
        row = TicketAttachment(
            ticket_id=ticket.id,
            message_id=message.id if message is not None else None,
            storage_key=key,
            filename=item.filename,
            content_type=item.content_type,
            size=len(item.data),
            sha256=item.sha256,
            created_at=clock.now(),
        )
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def _event(
    session: Session, ticket: Ticket, kind: str, *, actor: User | None = None, **data: Any
) -> TicketEvent:
    row = TicketEvent(
        ticket_id=ticket.id,
        at=clock.now(),
        actor_user_id=actor.id if actor is not None else None,
        kind=kind,
        data=data,
    )
    session.add(row)
    return row


# ------------------------------------------------------------------------ conversation


def do_customer_message(
    session: Session,
    *,
    ticket: Ticket,
    body: str,
    channel: str,
    author: User | None = None,
    files: Sequence[support_files.CheckedFile] = (),
    body_html: str | None = None,
    email_message_id: str | None = None,
) -> TicketMessage:
    """The requester writes again: the ticket opens again if it was waiting or resolved."""
    if ticket.status == Status.closed.value:
        raise TicketClosed(number=ticket.number)
    _check_file_count(list(files))
    text = check_body(body, required=not files)
    now = clock.now()
    message = _add_message_row(
        session, ticket, kind=MessageKind.public.value, channel=channel, side="customer",
        author=author, author_name=ticket.requester_name, body=text, at=now,
        body_html=body_html, email_message_id=email_message_id,
    )  # fmt: skip
    _store_files(session, ticket, message, list(files))
    previous = ticket.status
    if previous == Status.resolved.value:
        ticket.resolved_at = None
        ticket.status = Status.open.value
        _set_due_times(session, ticket, start=now)
        _event(session, ticket, "reopened", actor=author, channel=channel)
    elif previous == Status.pending_customer.value:
        _resume(session, ticket, now)
        ticket.status = Status.open.value
        _event(session, ticket, "status", actor=author, old=previous, new=ticket.status)
    ticket.last_customer_at = now
    ticket.updated_at = now
    _refresh_next_due(ticket)
    session.flush()
    return message


def do_system_note(
    session: Session, *, ticket: Ticket, body: str, channel: str, event: str, **data: Any
) -> TicketMessage:
    """An internal note OKPay writes itself (what an inbound e-mail could not keep, a bounce):
    agents see it, the customer never does, and the ticket's status does not change."""
    message = _add_message_row(
        session, ticket, kind=MessageKind.internal.value, channel=channel, side="system",
        author=None, author_name="OKPay", body=check_body(body), at=clock.now(),
    )  # fmt: skip
    _event(session, ticket, event, message_id=message.id, **data)
    session.flush()
    return message


UNVERIFIED_SIDE = "unverified"
UNVERIFIED_EVENT = "unverified_message"


def do_unverified_message(
    session: Session,
    *,
    ticket: Ticket,
    body: str,
    channel: str,
    author_name: str,
    email_message_id: str | None = None,
    **check: Any,
) -> TicketMessage:
    """A message that claims to come from the requester but could not be verified (a forged
    ``From:``). Agents see it flagged with ``check`` (why); the customer never sees it, and it
    changes nothing: no reopening, no status or SLA change, no files kept."""
    message = _add_message_row(
        session, ticket, kind=MessageKind.internal.value, channel=channel,
        side=UNVERIFIED_SIDE, author=None, author_name=author_name, body=check_body(body),
        at=clock.now(), email_message_id=email_message_id,
    )  # fmt: skip
    _event(session, ticket, UNVERIFIED_EVENT, message_id=message.id, **check)
    session.flush()
    return message


def unverified_checks(events: Sequence[TicketEvent]) -> dict[int, dict[str, Any]]:
    """Why each unverified message on a ticket was not believed, by message id."""
    return {
        int(e.data["message_id"]): dict(e.data)
        for e in events
        if e.kind == UNVERIFIED_EVENT and isinstance((e.data or {}).get("message_id"), int)
    }


def do_agent_reply(
    session: Session,
    *,
    ticket: Ticket,
    agent: User,
    body: str,
    internal: bool = False,
    then_status: str | None = None,
    files: Sequence[support_files.CheckedFile] = (),
    channel: str | None = None,
    notify: bool = True,
) -> TicketMessage:
    """An agent answers (e-mailed to the requester, threaded) or writes an internal note.
    A public reply waits for the customer unless the agent chose another status. Live chat
    lines pass ``notify=False``: the customer reads them on the page, not one e-mail each."""
    _require_staff(agent)
    if ticket.status == Status.closed.value:
        raise TicketClosed(number=ticket.number)
    _check_file_count(list(files))
    text = check_body(body, required=not files)
    now = clock.now()
    kind = MessageKind.internal.value if internal else MessageKind.public.value
    message = _add_message_row(
        session, ticket, kind=kind, channel=channel or _reply_channel(ticket), side="agent",
        author=agent, author_name=agent.display_name, body=text, at=now,
    )  # fmt: skip
    attachments = _store_files(session, ticket, message, list(files))
    if ticket.assignee_id is None:
        ticket.assignee_id = agent.id
        _event(session, ticket, "assigned", actor=agent, assignee_id=agent.id)
    if not internal:
        if ticket.first_replied_at is None:
            ticket.first_replied_at = now
            _event(session, ticket, "first_reply", actor=agent)
        ticket.last_agent_at = now
        ticket.reminder_at = None
        if notify:
            message.email_message_id = _mail_reply(session, ticket, message, attachments)
    _event(session, ticket, "note" if internal else "reply", actor=agent, message_id=message.id)
    if then_status is None and not internal:
        then_status = Status.pending_customer.value
    if then_status is not None and then_status != ticket.status:
        _change_status(session, ticket, then_status, actor=agent)
    elif ticket.status == Status.new.value and not internal:
        _change_status(session, ticket, Status.open.value, actor=agent)
    ticket.updated_at = now
    _refresh_next_due(ticket)
    audit.record(
        session, "ticket_note" if internal else "ticket_reply", actor_user_id=agent.id,
        subject_user_id=ticket.requester_user_id, object_type="ticket", object_id=ticket.number,
    )  # fmt: skip
    session.flush()
    return message


def _reply_channel(ticket: Ticket) -> str:
    return Channel.chat.value if ticket.channel == Channel.chat.value else Channel.email.value


def _require_staff(user: User) -> None:
    if not user.is_staff:
        from okpay.core.errors import PermissionDenied

        raise PermissionDenied()


# ------------------------------------------------------------------------------ status

ALLOWED_STATUSES = {s.value for s in Status}


def _change_status(session: Session, ticket: Ticket, status: str, *, actor: User | None) -> None:
    if status not in ALLOWED_STATUSES:
        raise ValidationFailed(code="status_invalid")
    old, now = ticket.status, clock.now()
    if old == status:
        return
    if old == Status.closed.value:
        raise TicketClosed(number=ticket.number)
    if old == Status.pending_customer.value:
        _resume(session, ticket, now)
    if status == Status.pending_customer.value:
        _pause(ticket, now)
    ticket.status = status
    if status == Status.resolved.value:
        ticket.resolved_at = now
        ticket.paused_at = None
        _mail_requester(session, ticket, "support_ticket_resolved")
    elif status == Status.closed.value:
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now
    elif old == Status.resolved.value:
        ticket.resolved_at = None
        _set_due_times(session, ticket, start=now)
    ticket.updated_at = now
    _refresh_next_due(ticket)
    _event(session, ticket, "status", actor=actor, old=old, new=status)


def do_set_status(session: Session, *, ticket: Ticket, status: str, agent: User) -> Ticket:
    """An agent moves a ticket (resolving it asks the customer for a rating)."""
    _require_staff(agent)
    _change_status(session, ticket, status, actor=agent)
    audit.record(
        session, "ticket_status", actor_user_id=agent.id, subject_user_id=ticket.requester_user_id,
        object_type="ticket", object_id=ticket.number, status=status,
    )  # fmt: skip
    session.flush()
    return ticket


def do_assign(session: Session, *, ticket: Ticket, assignee: User | None, agent: User) -> Ticket:
    """Give the ticket to an agent (or to nobody)."""
    _require_staff(agent)
    if assignee is not None and not assignee.is_staff:
        raise ValidationFailed(code="assignee_invalid")
    new_id = assignee.id if assignee is not None else None
    if ticket.assignee_id != new_id:
        _event(session, ticket, "assigned", actor=agent, old=ticket.assignee_id, assignee_id=new_id)
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
    _require_staff(agent)
    changes: dict[str, Any] = {}
    if priority is not None and priority != ticket.priority:
        if priority not in Priority.__members__:
            raise ValidationFailed(code="priority_invalid", field="priority")
        changes["priority"] = [ticket.priority, priority]
        ticket.priority = priority
    if category is not None and category != ticket.category:
        check_category(category)
        changes["category"] = [ticket.category, category]
        triage_correct(session, ticket, category, agent)
        ticket.category = category
    if tags is not None:
        clean = [t for t in dict.fromkeys(_check_tag(t) for t in tags) if t]
        if clean != ticket.tags:
            changes["tags"] = [ticket.tags, clean]
            ticket.tags = clean
    if references is not None:
        refs = check_references(references)
        if refs != ticket.references:
            changes["references"] = [ticket.references, refs]
            ticket.references = refs
    if "priority" in changes or "category" in changes:
        _set_due_times(session, ticket, start=ticket.created_at)
    if changes:
        ticket.updated_at = clock.now()
        _event(session, ticket, "updated", actor=agent, **changes)
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
    _require_staff(agent)
    if team not in Team.__members__:
        raise ValidationFailed(code="team_invalid", field="team")
    if team == ticket.team:
        raise Conflict(N_("The request is already with that team."), code="same_team")
    text = check_body(note)
    old = ticket.team
    now = clock.now()
    ticket.team = team
    ticket.assignee_id = None
    if ticket.status in (Status.pending_customer.value, Status.resolved.value):
        _change_status(session, ticket, Status.open.value, actor=agent)
    # The new team gets its own full resolution target from now.
    targets = sla.targets_for(priority=ticket.priority, category=ticket.category)
    ticket.resolution_due_at = calendar(session).add(now, targets.resolution_hours * 3600)
    ticket.warned_at = None
    _refresh_next_due(ticket)
    _add_message_row(
        session, ticket, kind=MessageKind.internal.value, channel=ticket.channel, side="agent",
        author=agent, author_name=agent.display_name, body=text, at=now,
    )  # fmt: skip
    _event(session, ticket, "escalated", actor=agent, old=old, new=team)
    audit.record(
        session, "ticket_escalate", actor_user_id=agent.id, object_type="ticket",
        object_id=ticket.number, old=old, new=team,
    )  # fmt: skip
    _mail_requester(session, ticket, "support_ticket_escalated")
    ticket.updated_at = now
    session.flush()
    return ticket


# ------------------------------------------------------------------- customer actions


def do_request_reminder(session: Session, *, ticket: Ticket, actor: User | None) -> Ticket:
    """The customer reminds us when the promised time passed without an answer: the ticket
    moves up a priority and its team is told."""
    now = clock.now()
    due = promised_reply_at(ticket)
    if ticket.status not in ACTIVE_STATUSES or due is None or due > now:
        raise ReminderTooEarly(due=format_datetime(due) if due else "—")
    if ticket.reminder_at is not None:
        raise Conflict(
            N_("You have already reminded us. The team has been told."), code="already_reminded"
        )
    ticket.reminder_at = now
    old = ticket.priority
    ticket.priority = PRIORITY_ORDER[min(PRIORITY_ORDER.index(old) + 1, len(PRIORITY_ORDER) - 1)]
    _event(session, ticket, "reminder", actor=actor, old_priority=old, priority=ticket.priority)
    _alert_team(session, ticket, template="support_reminder_alert")
    ticket.updated_at = now
    session.flush()
    return ticket


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
    text = check_body(comment, required=False)[:2000]
    ticket.rating, ticket.rating_comment, ticket.rated_at = rating, text or None, clock.now()
    _event(session, ticket, "rated", actor=actor, rating=rating)
    session.flush()
    return ticket


# -------------------------------------------------------------------------- e-mail


def _mail_requester(session: Session, ticket: Ticket, template: str, **extra: Any) -> None:
    """E-mail the requester about their ticket, in the ticket's language, in its thread."""
    with use_locale(ticket.locale):
        context = _mail_context(ticket, **extra)
    send_email(
        session,
        to=ticket.requester_email,
        template=template,
        locale=ticket.locale,
        user_id=ticket.requester_user_id,
        context=context,
        headers=_thread_headers(ticket),
    )


def _mail_context(ticket: Ticket, **extra: Any) -> dict[str, Any]:
    due = promised_reply_at(ticket)
    return {
        "ticket": ticket,
        "name": ticket.requester_name,
        "number": ticket.number,
        "subject": ticket.subject,
        "link": requester_link(ticket),
        "rate_link": requester_link(ticket, "/rate"),
        "due": format_datetime(due, "minutes") if due else "",
        "team": label(TEAM_LABELS, ticket.team),
        "category": category_label(ticket.category),
        **extra,
    }


def _thread_headers(ticket: Ticket) -> dict[str, str]:
    s = get_settings()
    return {
        "In-Reply-To": ticket.thread_message_id,
        "References": ticket.thread_message_id,
        "Reply-To": s.support_address,
        "X-OKPay-Ticket": ticket.number,
        # Tell well-behaved autoresponders not to answer us (RFC 3834).
        "Auto-Submitted": "auto-replied",
    }


def _mail_reply(
    session: Session,
    ticket: Ticket,
    message: TicketMessage,
    attachments: Sequence[TicketAttachment],
) -> str:
    """Send an agent's public reply; returns its Message-ID (customers' replies refer to it)."""
    headers = _thread_headers(ticket)
    headers.pop("Auto-Submitted")
    with use_locale(ticket.locale):
        context = _mail_context(
            ticket, reply=message.body, agent=message.author_name,
            files=[a.filename for a in attachments],
        )  # fmt: skip
    email = send_email(
        session,
        to=ticket.requester_email,
        template="support_agent_reply",
        locale=ticket.locale,
        user_id=ticket.requester_user_id,
        context=context,
        headers=headers,
    )
    return email.message_id


def team_addresses(session: Session, team: str) -> list[tuple[str, str]]:
    """(e-mail, language) of every agent in ``team``."""
    rows = session.execute(
        select(User.email, User.preferred_locale)
        .join(SupportAgent, SupportAgent.user_id == User.id)
        .where(SupportAgent.team == team, User.status == "active")
    ).all()
    return [(email, locale or "zh_CN") for email, locale in rows]


def _alert_team(session: Session, ticket: Ticket, template: str = "support_team_alert") -> None:
    """E-mail the ticket's team (or the security alert address when nobody is in it)."""
    recipients = team_addresses(session, ticket.team)
    if not recipients:
        recipients = [(get_settings().security_alert_address, "zh_CN")]
    for address, locale in recipients:
        with use_locale(locale):
            context = {
                "number": ticket.number,
                "subject": ticket.subject,
                "priority": ticket.priority,
                "team": label(TEAM_LABELS, ticket.team),
                "category": category_label(ticket.category),
                "link": f"{get_settings().base_url}/agent/tickets/{ticket.number}",
            }
        send_email(session, to=address, template=template, locale=locale, context=context)
    _event(session, ticket, "team_alerted", team=ticket.team, recipients=len(recipients))


# ---------------------------------------------------------------------------- agents


def set_agent_team(session: Session, *, user: User, team: str) -> SupportAgent:
    if team not in Team.__members__:
        raise ValidationFailed(code="team_invalid", field="team")
    if not user.is_staff:
        raise ValidationFailed(
            N_("Only staff can join a support team."), code="not_staff", field="email"
        )
    row = session.get(SupportAgent, user.id)
    if row is None:
        row = SupportAgent(user_id=user.id, team=team)
        session.add(row)
    row.team = team
    session.flush()
    return row


def agent_team(session: Session, user: User) -> str | None:
    row = session.get(SupportAgent, user.id)
    return row.team if row else None


def canned_responses(session: Session, *, locale: str) -> list[CannedResponse]:
    stmt = select(CannedResponse).where(CannedResponse.locale == locale)
    return list(session.scalars(stmt.order_by(CannedResponse.title)))


def fill_placeholders(text: str, ticket: Ticket, agent: User) -> str:
    """{name}, {number}, {agent}, {subject} in a canned response; unknown ones stay as typed."""
    values = {
        "name": ticket.requester_name,
        "number": ticket.number,
        "agent": agent.display_name,
        "subject": ticket.subject,
    }
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)


# ------------------------------------------------------------------------ background


def sweep(session: Session, *, now: datetime | None = None) -> dict[str, int]:
    """Warn before SLA targets are missed, record breaches, close long-resolved tickets."""
    now = now or clock.now()
    counts = {"warned": 0, "breached": 0, "closed": 0}
    cal = calendar(session)
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
                _event(session, ticket, "sla_breach", target=target, due=due.isoformat())
                counts["breached"] += 1
        elif ticket.warned_at is None:
            ticket.warned_at = now
            _event(session, ticket, "sla_warning", target=target, due=due.isoformat())
            counts["warned"] += 1
    stale = now - timedelta(days=AUTO_CLOSE_DAYS)
    for ticket in session.scalars(
        select(Ticket)
        .where(Ticket.status == Status.resolved.value, Ticket.resolved_at <= stale)
        .with_for_update(skip_locked=True, **lock)
    ):
        _change_status(session, ticket, Status.closed.value, actor=None)
        counts["closed"] += 1
    session.flush()
    return counts
