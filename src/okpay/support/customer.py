"""What customers do with their requests, shared by the pages and the JSON API: reading
uploads, checking a whole contact form at once, the thread as the customer sees it, finding a
request by number and e-mail, throttles and file downloads."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, BinaryIO
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session
from starlette.responses import Response

from okpay.core import context
from okpay.core.errors import DomainError, NotFound, RateLimited, ValidationFailed
from okpay.core.i18n import N_
from okpay.db import on_commit
from okpay.identity import throttling as identity_throttling
from okpay.identity import validation as identity_validation
from okpay.identity.models import User
from okpay.settings import get_settings
from okpay.support import access, emails, messages, satisfaction, sla
from okpay.support import checks as ticket_checks
from okpay.support import files as support_files
from okpay.support.models import (
    ACTIVE_STATUSES,
    STATUS_LABELS,
    MessageKind,
    Status,
    Ticket,
    TicketAttachment,
    TicketMessage,
    label,
)

# Throttles (per hour). Counted on every attempt, so a flood of refused forms counts too.
GUEST_TICKETS_PER_IP = 20
USER_TICKETS_PER_HOUR = 30
FINDS_PER_IP = 10
LINKS_PER_TICKET = 3
HOUR = timedelta(hours=1)


# ------------------------------------------------------------------------------ uploads


@dataclass
class Uploads:
    """The files of one submission: those that passed the checks, and why others did not."""

    files: list[support_files.CheckedFile] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def read_uploads(items: Iterable[tuple[str, BinaryIO]]) -> Uploads:
    """Check each (file name, stream) pair; never reads more than the size limit plus one byte."""
    result = Uploads()
    for filename, stream in items:
        if not filename:
            continue  # an empty file input sends a part with no name
        try:
            result.files.append(support_files.check_stream(filename, stream))
        except DomainError as err:
            result.errors.append(err.translated())
    return result


def _kept_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().secret_key, salt="support-kept-file")


def keep_files(files: Sequence[support_files.CheckedFile]) -> list[dict[str, str]]:
    """Park files that passed the checks while the form is shown again for another field's
    sake, so nobody has to pick them again: each comes back as a signed token."""
    kept = []
    for item in files:
        key = support_files.new_storage_key()
        support_files.store(key, item.data)
        token = _kept_serializer().dumps({"k": key, "n": item.filename, "t": item.content_type})
        kept.append({"token": token, "name": item.filename})
    return kept


def rekeep(
    tokens: Iterable[str], new_files: Sequence[support_files.CheckedFile]
) -> list[dict[str, str]]:
    """The files to show as still attached when a form comes back: those parked before
    (stale or forged tokens dropped) and the new ones that passed their checks."""
    earlier = []
    for token in dict.fromkeys(t for t in tokens if t):
        try:
            data = _kept_serializer().loads(token, max_age=86_400)
            earlier.append({"token": token, "name": str(data["n"])})
        except (BadSignature, KeyError, TypeError):
            continue
    return earlier + keep_files(new_files)


def take_kept_files(session: Session, tokens: Iterable[str]) -> list[support_files.CheckedFile]:
    """The parked files named by ``tokens`` (unknown or stale tokens are ignored); their parked
    copies are removed once the request that uses them commits."""
    found: list[support_files.CheckedFile] = []
    for token in dict.fromkeys(t for t in tokens if t):
        try:
            data = _kept_serializer().loads(token, max_age=86_400)
            key = str(data["k"])
            content = support_files.load(key)
        except (BadSignature, KeyError, TypeError, ValueError, OSError):
            continue
        except support_files.StoredFileDamaged:  # altered on disk: as if it were gone
            continue
        found.append(support_files.CheckedFile(str(data["n"]), str(data["t"]), content))
        on_commit(session, functools.partial(support_files.remove, key))
    return found


# --------------------------------------------------------------------------- the form


@dataclass
class ContactForm:
    """A contact or feedback form as typed; ``check`` finds every problem at once."""

    subject: str = ""
    description: str = ""
    name: str = ""
    email: str = ""
    category: str = ""
    reference: str = ""

    def check(self, user: User | None) -> dict[str, str]:
        """Field name → message in the reader's language, for every field that is wrong."""
        errors: dict[str, str] = {}
        checks: list[tuple[str, Any]] = [
            ("subject", lambda: ticket_checks.check_subject(self.subject)),
            ("description", lambda: ticket_checks.check_body(self.description)),
            ("category", lambda: ticket_checks.check_category(self.category)),
            ("reference", lambda: ticket_checks.check_references(self.reference)),
        ]
        if user is None:
            checks += [
                ("name", lambda: identity_validation.check_person_name(self.name)),
                ("email", lambda: identity_validation.normalise_email(self.email)),
            ]
        for name, check in checks:
            try:
                check()
            except DomainError as err:
                errors[name] = err.translated()
        return errors


def check_throttle(session: Session, *, user: User | None, purpose: str = "ticket") -> None:
    """Count one submission: guests per address, signed-in customers per account."""
    if user is not None:
        identity_throttling.check_rate(
            session, f"support-{purpose}-user:{user.id}", limit=USER_TICKETS_PER_HOUR, window=HOUR
        )
        return
    ip = context.current().ip or "unknown"
    identity_throttling.check_rate(
        session, f"support-{purpose}-ip:{ip}", limit=GUEST_TICKETS_PER_IP, window=HOUR
    )


# ------------------------------------------------------------------------- follow-up


def open_for(session: Session, *, number: str, user: User | None, key: str = "") -> Ticket:
    """The ticket this visitor may see: by the key in their link, else as its signed-in owner;
    NotFound otherwise (also for a wrong key)."""
    if key:
        return access.access_ticket_by_key(session, number=number, key=key)
    return access.access_ticket(session, user=user, number=number)


def find_and_send_link(session: Session, *, number: str, email: str) -> None:
    """A guest asks for their request's link. The answer is the same whether or not the number
    and e-mail match (numbers are sequential); when they do, the link goes to the requester's
    own address, at most a few times an hour per request."""
    ip = context.current().ip or "unknown"
    identity_throttling.check_rate(
        session, f"support-find-ip:{ip}", limit=FINDS_PER_IP, window=HOUR
    )
    try:
        address = identity_validation.normalise_email(email)
    except DomainError:
        return
    ticket = access.get_ticket(session, number)
    if ticket is None or ticket.requester_email.lower() != address:
        return
    try:
        identity_throttling.check_rate(
            session, f"support-link:{ticket.id}", limit=LINKS_PER_TICKET, window=HOUR
        )
    except RateLimited:
        return
    emails.send_requester_link(session, ticket)


@dataclass
class ThreadItem:
    message: TicketMessage
    files: list[TicketAttachment]


@dataclass
class CustomerView:
    """A ticket as its requester sees it: no internal notes, statuses in their words."""

    ticket: Ticket
    thread: list[ThreadItem]
    files: list[TicketAttachment]
    status_label: str
    due: datetime | None
    can_remind: bool
    can_rate: bool
    can_write: bool


def customer_view(session: Session, ticket: Ticket, *, now: datetime) -> CustomerView:
    by_message = messages.attachments_by_message(session, ticket)
    thread = [
        ThreadItem(m, by_message.get(m.id, []))
        for m in messages.list_messages(session, ticket, include_internal=False)
        if m.kind != MessageKind.internal.value
    ]
    due = sla.promised_reply_at(ticket)
    return CustomerView(
        ticket=ticket,
        thread=thread,
        files=[f for group in by_message.values() for f in group if _public(f, thread)],
        status_label=label(STATUS_LABELS, ticket.status),
        due=due,
        can_remind=(
            ticket.status in ACTIVE_STATUSES
            and due is not None
            and due <= now
            and ticket.reminder_at is None
        ),
        can_rate=ticket.status in (Status.resolved.value, Status.closed.value)
        and now - (ticket.resolved_at or ticket.closed_at or now)
        <= timedelta(days=satisfaction.RATING_WINDOW_DAYS),
        can_write=ticket.status != Status.closed.value,
    )


def _public(row: TicketAttachment, thread: list[ThreadItem]) -> bool:
    return row.message_id is None or any(item.message.id == row.message_id for item in thread)


def customer_attachment(session: Session, ticket: Ticket, attachment_id: int) -> TicketAttachment:
    """One of the ticket's files the customer may download (never one on an internal note)."""
    row = messages.get_attachment(session, ticket, attachment_id)
    if row.message_id is not None:
        message = session.get(TicketMessage, row.message_id)
        if message is None or message.kind == MessageKind.internal.value:
            raise NotFound()
    return row


def download(
    row: TicketAttachment, *, inline: bool = False, watermark: str | None = None
) -> Response:
    """The file as a download: stored type, no sniffing, RFC 5987 file name. A file deleted
    under the retention policy answers 410 (attachment_deleted); one that fails its
    integrity check answers 500 (attachment_damaged), never its bytes.

    For staff viewing evidence in the page: ``inline`` shows it in the browser (sandboxed,
    no scripts), and ``watermark`` (the viewer and the time) is drawn across images (see
    files.watermark_image; PDFs are served as they are). The caller audits the view."""
    fallback = "".join(
        ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in row.filename
    )
    encoded = quote(row.filename, safe="")
    kind = "inline" if inline else "attachment"
    disposition = f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    data = messages.load_attachment(row)
    if watermark is not None:
        data = support_files.watermark_image(data, row.content_type, watermark)
    headers = {
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    }
    if inline:
        # Our own pages may frame it (the case page's viewer); nothing in it may run.
        headers["X-Frame-Options"] = "SAMEORIGIN"
        headers["Content-Security-Policy"] = (
            "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'"
            if row.content_type.startswith("image/")
            # Chromium's PDF viewer runs as an extension: the page's CSP must not forbid it.
            else "script-src 'none'; frame-ancestors 'self'"
        )
    return Response(data, media_type=row.content_type, headers=headers)


def check_rating(raw: str) -> int:
    """A rating typed into a form (radio buttons), as an int; the service checks the range."""
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ValidationFailed(
            N_("Please choose a rating from 1 to 5."), code="rating_invalid", field="rating"
        ) from None
