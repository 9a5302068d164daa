"""A ticket's conversation: the requester's and agents' messages, internal and system
notes, unverified messages, and their attached files."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core import audit, clock
from okpay.core.errors import DomainError, NotFound
from okpay.core.i18n import N_, format_date
from okpay.db import for_update, on_commit
from okpay.identity.models import User
from okpay.settings import get_settings
from okpay.support import access, checks, emails, events, sla, status
from okpay.support import files as support_files
from okpay.support.models import (
    Channel,
    MessageKind,
    Status,
    Ticket,
    TicketAttachment,
    TicketEvent,
    TicketMessage,
)


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


class AttachmentDeleted(DomainError):
    """The file was deleted under the retention policy; its name stays in the thread."""

    code = "attachment_deleted"
    status = 410
    message = N_("This file was deleted on %(date)s under our retention policy.")


def check_available(row: TicketAttachment) -> None:
    """AttachmentDeleted (410) for a file deleted under the retention policy."""
    if row.purged_at is not None:
        raise AttachmentDeleted(date=format_date(row.purged_at))


def load_attachment(row: TicketAttachment) -> bytes:
    """The file's content, decrypted and checked against its recorded SHA-256.
    AttachmentDeleted (410) once purged; files.StoredFileDamaged when the stored file fails
    its integrity check."""
    check_available(row)
    return support_files.load(row.storage_key, sha256=row.sha256)


def do_purge_attachments(
    session: Session, *, ticket: Ticket, reason: str, actor: User | None = None
) -> int:
    """Delete every file of ``ticket`` under the retention policy; how many were deleted now.

    The rows stay, marked ``purged_at`` (the thread still names each file, as deleted, and a
    download answers 410); the files leave storage only once the unit of work commits, so a
    purge rolled back loses nothing. Files already purged are skipped: running it again
    changes nothing and writes no audit row. Audited as ``attachments_purged``."""
    stmt = select(TicketAttachment).where(
        TicketAttachment.ticket_id == ticket.id, TicketAttachment.purged_at.is_(None)
    )
    # Locked, and read again under the lock: two purges at once delete and audit once.
    lock = for_update(session.get_bind().dialect.name)
    stmt = stmt.order_by(TicketAttachment.id).with_for_update(**lock)
    rows = list(session.scalars(stmt.execution_options(populate_existing=True)))
    if not rows:
        return 0
    now = clock.now()
    for row in rows:
        row.purged_at = now
        on_commit(session, functools.partial(support_files.remove, row.storage_key))
    events.record_event(
        session, ticket, "attachments_purged", actor=actor, count=len(rows), reason=reason
    )
    audit.record(
        session, "attachments_purged", actor_user_id=actor.id if actor is not None else None,
        subject_user_id=ticket.requester_user_id, object_type="ticket", object_id=ticket.number,
        count=len(rows), attachment_ids=[row.id for row in rows], reason=reason,
    )  # fmt: skip
    session.flush()
    return len(rows)


def check_file_count(files: Sequence[support_files.CheckedFile]) -> None:
    """Refuse more files than one message may carry (``OKPAY_UPLOAD_MAX_FILES``)."""
    limit = get_settings().upload_max_files
    if len(files) > limit:
        raise support_files.UploadRejected(
            N_("Please attach at most %(max)s files."), code="too_many_files", max=limit
        )


def new_message_id() -> str:
    """A new Message-ID for a ticket's e-mail thread, on OKPay's own domain."""
    from email.utils import make_msgid
    from urllib.parse import urlsplit

    return make_msgid(domain=urlsplit(get_settings().base_url).hostname or "okpay.local")


def add_message_row(
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
    """Store one message on the ticket as it is, without changing the ticket's status."""
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


def store_files(
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
        raise status.TicketClosed(number=ticket.number)
    check_file_count(list(files))
    text = checks.check_body(body, required=not files)
    now = clock.now()
    message = add_message_row(
        session, ticket, kind=MessageKind.public.value, channel=channel, side="customer",
        author=author, author_name=ticket.requester_name, body=text, at=now,
        body_html=body_html, email_message_id=email_message_id,
    )  # fmt: skip
    store_files(session, ticket, message, list(files))
    previous = ticket.status
    if previous == Status.resolved.value:
        ticket.resolved_at = None
        ticket.status = Status.open.value
        sla.set_due_times(session, ticket, start=now)
        events.record_event(session, ticket, "reopened", actor=author, channel=channel)
    elif previous == Status.pending_customer.value:
        sla.resume_clock(session, ticket, now)
        ticket.status = Status.open.value
        events.record_event(
            session, ticket, "status", actor=author, old=previous, new=ticket.status
        )
    ticket.last_customer_at = now
    ticket.updated_at = now
    sla.refresh_next_due(ticket)
    session.flush()
    for hook in CUSTOMER_MESSAGE_HOOKS:
        hook(session, ticket, message)
    return message


#: Called in the same unit of work after a requester writes on a ticket (casework resumes a
#: case that was waiting for them). Support knows nothing of what listens.
CUSTOMER_MESSAGE_HOOKS: list[Callable[[Session, Ticket, TicketMessage], None]] = []


def do_system_note(
    session: Session, *, ticket: Ticket, body: str, channel: str, event: str, **data: Any
) -> TicketMessage:
    """An internal note OKPay writes itself (what an inbound e-mail could not keep, a bounce):
    agents see it, the customer never does, and the ticket's status does not change."""
    message = add_message_row(
        session, ticket, kind=MessageKind.internal.value, channel=channel, side="system",
        author=None, author_name="OKPay", body=checks.check_body(body), at=clock.now(),
    )  # fmt: skip
    events.record_event(session, ticket, event, message_id=message.id, **data)
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
    message = add_message_row(
        session, ticket, kind=MessageKind.internal.value, channel=channel,
        side=UNVERIFIED_SIDE, author=None, author_name=author_name, body=checks.check_body(body),
        at=clock.now(), email_message_id=email_message_id,
    )  # fmt: skip
    events.record_event(session, ticket, UNVERIFIED_EVENT, message_id=message.id, **check)
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
    access.require_staff(agent)
    if ticket.status == Status.closed.value:
        raise status.TicketClosed(number=ticket.number)
    check_file_count(list(files))
    text = checks.check_body(body, required=not files)
    now = clock.now()
    kind = MessageKind.internal.value if internal else MessageKind.public.value
    message = add_message_row(
        session, ticket, kind=kind, channel=channel or _reply_channel(ticket), side="agent",
        author=agent, author_name=agent.display_name, body=text, at=now,
    )  # fmt: skip
    attachments = store_files(session, ticket, message, list(files))
    if ticket.assignee_id is None:
        ticket.assignee_id = agent.id
        events.record_event(session, ticket, "assigned", actor=agent, assignee_id=agent.id)
    if not internal:
        if ticket.first_replied_at is None:
            ticket.first_replied_at = now
            events.record_event(session, ticket, "first_reply", actor=agent)
        ticket.last_agent_at = now
        ticket.reminder_at = None
        sender = REPLY_SENDERS.get(ticket.channel)
        if notify and (sender is None or not sender(session, ticket, message, attachments)):
            message.email_message_id = emails.mail_reply(session, ticket, message, attachments)
    events.record_event(
        session, ticket, "note" if internal else "reply", actor=agent, message_id=message.id
    )
    if then_status is None and not internal:
        then_status = Status.pending_customer.value
    if then_status is not None and then_status != ticket.status:
        status.change_status(session, ticket, then_status, actor=agent)
    elif ticket.status == Status.new.value and not internal:
        status.change_status(session, ticket, Status.open.value, actor=agent)
    ticket.updated_at = now
    sla.refresh_next_due(ticket)
    audit.record(
        session, "ticket_note" if internal else "ticket_reply", actor_user_id=agent.id,
        subject_user_id=ticket.requester_user_id, object_type="ticket", object_id=ticket.number,
    )  # fmt: skip
    session.flush()
    return message


#: Channels that deliver agents' public replies themselves (WeChat), by ticket channel: the
#: sender queues the reply and returns True, or returns False to let it go by e-mail, or
#: raises a DomainError to refuse it. Support knows nothing of who registers.
ReplySender = Callable[[Session, Ticket, TicketMessage, Sequence[TicketAttachment]], bool]
REPLY_SENDERS: dict[str, ReplySender] = {}


def _reply_channel(ticket: Ticket) -> str:
    if ticket.channel == Channel.chat.value or ticket.channel in REPLY_SENDERS:
        return ticket.channel
    return Channel.email.value
