"""Filing one inbound message, inside the caller's unit of work: a new ticket, a customer
message, an unverified message, an internal note, or nothing (rules: the package docstring)."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from okpay.core.errors import RateLimited
from okpay.core.i18n import N_, gettext, use_locale
from okpay.db import for_update
from okpay.identity import throttling as identity_throttling
from okpay.identity import users as identity_users
from okpay.settings import get_settings
from okpay.support import checks, messages, tickets
from okpay.support import files as support_files
from okpay.support.inbound import automatic, html_mail, matching, parse, quotes, sender_checks
from okpay.support.models import Channel, Status, Ticket, TicketMessage

log = logging.getLogger(__name__)


NOTE_EXCERPT = 600


EMAIL = Channel.email.value


# Tags agents see on e-mail tickets.
TAG_ACCOUNT_MATCH = "sender-matches-account"


TAG_UNVERIFIED = "unverified-reference"


TAG_FOLLOW_UP = "follow-up"


TAG_SENDER_UNVERIFIED = "sender-unverified"


NO_SUBJECT = N_("E-mail without a subject")


NO_TEXT = N_("(This e-mail had no text.)")


TRUNCATED = N_("[The rest of this e-mail was cut: it was longer than %(max)s characters.]")


NOTE_ACCOUNT_MATCH = N_(
    "The sender address matches an OKPay account. The sender of an e-mail can be forged: "
    "verify the customer before discussing or changing the account."
)


NOTE_UNVERIFIED = N_(
    "This e-mail refers to request %(number)s, which was opened from another address, so it "
    "was opened as a new request. Do not share anything about %(number)s with this sender."
)


NOTE_SENDER_UNVERIFIED = N_(
    "This e-mail could not be verified as coming from %(address)s (%(why)s). It may be "
    "forged: verify the customer another way before discussing or changing anything."
)


NOTE_FOLLOW_UP = N_("The customer wrote again about closed request %(number)s.")


NOTE_REFUSED = N_("Files in the customer's e-mail that were not kept:")


NOTE_TOO_MANY = N_("only %(max)s files are kept per message")


NOTE_BOUNCE = N_("An e-mail to the customer could not be delivered.")


NOTE_AUTO_REPLY = N_("Automatic reply from the customer's mailbox (not answered):")


NOTE_QUOTE_EXCERPT = N_("What it said:")


@dataclass
class Received:
    """What became of one inbound message."""

    # created | added | unverified | duplicate | noted | ignored | rate_limited | refused
    outcome: str
    number: str | None = None
    reason: str = ""

    @property
    def smtp_reply(self) -> str:
        """The SMTP answer for this outcome."""
        if self.outcome == "rate_limited":
            return "451 4.7.1 Too many messages from this sender; try again later"
        if self.outcome == "refused":
            return "550 5.1.7 No usable sender address"
        return "250 2.0.0 OK"


def _lock_message_id(session: Session, message_id: str) -> None:
    """Serialise deliveries of one Message-ID, so two copies arriving at once cannot both
    open a ticket (SQLite write transactions are serial already)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:id))"), {"id": message_id})


def _duplicate(session: Session, message_id: str) -> Ticket | None:
    ticket_id = session.scalar(
        select(TicketMessage.ticket_id).where(TicketMessage.email_message_id == message_id).limit(1)
    )
    return session.get(Ticket, ticket_id) if ticket_id is not None else None


def _rate_key(address: str) -> str:
    key = f"mail-in:{address}"
    if len(key) > 100:  # the throttle key column's size
        key = "mail-in:#" + hashlib.sha256(address.encode()).hexdigest()[:40]
    return key


def _check_rate(session: Session, address: str) -> bool:
    try:
        identity_throttling.check_rate(
            session,
            _rate_key(address),
            limit=get_settings().inbound_per_hour,
            window=timedelta(hours=1),
        )
    except RateLimited:
        return False
    return True


def _fit_body(body: str, locale: str) -> str:
    """The text as a ticket message takes it: the limit respected, never empty."""
    body = body.strip()
    with use_locale(locale):
        if not body:
            return gettext(NO_TEXT)
        if len(body) > checks.BODY_MAX:
            tail = "\n\n" + gettext(TRUNCATED, max=checks.BODY_MAX)
            return body[: checks.BODY_MAX - len(tail)].rstrip() + tail
    return body


_REPLY_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|sv|答复|回复|回覆|转发|轉寄)\s*[:：]\s*)+", re.I)


_BRACKET_NUMBER = re.compile(r"\[\s*OK[-\s]?\d{4}[-\s]?\d{1,9}\s*\]", re.I)


def _new_subject(subject: str, locale: str) -> str:
    """The subject of a new ticket: reply prefixes and our old "[OK-…]" numbers removed."""
    value = _BRACKET_NUMBER.sub(" ", subject)
    value = _REPLY_PREFIX.sub("", value)
    value = re.sub(r"\s+", " ", value).strip()
    if not value:
        with use_locale(locale):
            value = gettext(NO_SUBJECT)
    return value[: checks.SUBJECT_MAX]


def _check_files(
    attachments: list[tuple[str, bytes]], locale: str
) -> tuple[list[support_files.CheckedFile], list[str]]:
    """Files that pass the upload checks, and a line for each one refused (with the reason)."""
    kept: list[support_files.CheckedFile] = []
    refused: list[str] = []
    limit = get_settings().upload_max_files
    with use_locale(locale):
        for filename, data in attachments:
            name = support_files.clean_filename(filename)
            if len(kept) >= limit:
                refused.append(f"{name}: {gettext(NOTE_TOO_MANY, max=limit)}")
                continue
            try:
                kept.append(support_files.check_upload(filename, data))
            except support_files.UploadRejected as err:
                refused.append(f"{name}: {err.translated()}")
    return kept, refused


def _note(session: Session, ticket: Ticket, lines: list[str], event: str, **data: Any) -> None:
    body = "\n".join(line for line in lines if line)
    if body:
        messages.do_system_note(
            session, ticket=ticket, body=body[: checks.BODY_MAX], channel=EMAIL, event=event,
            **data,
        )  # fmt: skip


def _refused_note(session: Session, ticket: Ticket, refused: list[str]) -> None:
    if refused:
        with use_locale(ticket.locale):
            head = gettext(NOTE_REFUSED)
        _note(session, ticket, [head, *(f"- {r}" for r in refused)], "mail_files_refused",
              count=len(refused))  # fmt: skip


def receive(session: Session, raw: bytes, *, envelope_from: str | None = None) -> Received:
    """File one inbound message (see the module docstring for the rules). Only flushes: the
    caller's unit of work commits, and the acknowledgement e-mail leaves after that."""
    msg = parse.parse(raw)
    mail = parse.read(msg, envelope_from=envelope_from)
    if mail.automatic is not None:
        return _automatic(session, msg, mail)
    if mail.address is None:
        log.info("inbound mail without a usable sender refused")
        return Received("refused", reason="no_sender")
    if mail.message_id is not None:
        _lock_message_id(session, mail.message_id)
        seen = _duplicate(session, mail.message_id)
        if seen is not None:
            log.info("inbound mail %s already filed on %s", mail.message_id, seen.number)
            return Received("duplicate", seen.number)
    check = sender_checks.check_sender(msg, mail.address, envelope_from)
    # Counted against the real sender when it is known to differ: forged mail must not use up
    # the customer's own hourly allowance.
    if not _check_rate(session, check.envelope or mail.address):
        log.warning("inbound mail from %s dropped: over the hourly limit", mail.address)
        return Received("rate_limited", reason="rate_limited")

    ticket = matching.find_ticket(session, references=mail.references, subject=mail.subject)
    if ticket is not None:
        # Read it again under a row lock: an agent or the sweep may be changing its status.
        lock = for_update(session.get_bind().dialect.name)
        ticket = session.scalars(
            select(Ticket)
            .where(Ticket.id == ticket.id)
            .with_for_update(**lock)
            .execution_options(populate_existing=True)
        ).one()
    if ticket is not None and ticket.requester_email != mail.address:
        return _open(session, mail, check, unverified=ticket.number)
    if ticket is not None and ticket.status == Status.closed.value:
        return _open(session, mail, check, follow_up=ticket.number)
    if ticket is not None and check.suspicious:
        return _add_unverified(session, ticket, mail, check)
    if ticket is not None:
        return _add(session, ticket, mail)
    return _open(session, mail, check)


def _open(
    session: Session, mail: parse.InboundMail, check: sender_checks.SenderCheck, *,
    unverified: str | None = None, follow_up: str | None = None,
) -> Received:  # fmt: skip
    assert mail.address is not None
    files, refused = _check_files(mail.attachments, mail.locale)
    tags = []
    account = identity_users.get_user_by_email(session, mail.address)
    if account is not None:
        tags.append(TAG_ACCOUNT_MATCH)
    if unverified:
        tags.append(TAG_UNVERIFIED)
    if follow_up:
        tags.append(TAG_FOLLOW_UP)
    if check.suspicious:
        tags.append(TAG_SENDER_UNVERIFIED)
    ctx: dict[str, Any] = {}
    if follow_up:
        ctx["follow_up_of"] = follow_up
    if unverified:
        ctx["refers_to"] = unverified
    if check.suspicious:
        ctx["sender_check"] = check.data()
    ticket = tickets.do_open_ticket(
        session,
        tickets.NewTicket(
            channel=EMAIL,
            subject=_new_subject(mail.subject, mail.locale),
            body=_fit_body(mail.text, mail.locale),
            name=mail.name,
            email=mail.address,
            files=files,
            locale=mail.locale,
            body_html=html_mail.sanitise_html(mail.html) if mail.html else None,
            email_message_id=mail.message_id,
            tags=tags,
            context=ctx,
        ),
    )
    with use_locale(ticket.locale):
        notes = [
            gettext(
                NOTE_SENDER_UNVERIFIED,
                address=mail.address,
                why=sender_checks.why_unverified(check),
            )
            if check.suspicious
            else "",
            gettext(NOTE_FOLLOW_UP, number=follow_up) if follow_up else "",
            gettext(NOTE_UNVERIFIED, number=unverified) if unverified else "",
            gettext(NOTE_ACCOUNT_MATCH) if account is not None else "",
        ]
    _note(session, ticket, notes, "mail_sender_note")
    _refused_note(session, ticket, refused)
    log.info("inbound mail opened %s", ticket.number)
    return Received("created", ticket.number)


def _add(session: Session, ticket: Ticket, mail: parse.InboundMail) -> Received:
    files, refused = _check_files(mail.attachments, ticket.locale)
    messages.do_customer_message(
        session,
        ticket=ticket,
        body=_fit_body(quotes.strip_quoted(mail.text), ticket.locale),
        channel=EMAIL,
        files=files,
        body_html=html_mail.sanitise_html(mail.html, drop_quotes=True) if mail.html else None,
        email_message_id=mail.message_id,
    )
    _refused_note(session, ticket, refused)
    log.info("inbound mail added to %s", ticket.number)
    return Received("added", ticket.number)


def _add_unverified(
    session: Session, ticket: Ticket, mail: parse.InboundMail, check: sender_checks.SenderCheck
) -> Received:
    """Mail in the requester's name that could not be verified: kept for the agents, flagged,
    and nothing else. Its files are listed by name only (they are not the customer's)."""
    author = f"{mail.name} <{mail.address}>" if mail.name else str(mail.address)
    messages.do_unverified_message(
        session,
        ticket=ticket,
        body=_fit_body(quotes.strip_quoted(mail.text), ticket.locale),
        channel=EMAIL,
        author_name=author,
        email_message_id=mail.message_id,
        files=[support_files.clean_filename(name) for name, _data in mail.attachments][:20],
        **check.data(),
    )
    log.warning("inbound mail for %s not verified as the requester's: %s", ticket.number,
                check.data())  # fmt: skip
    return Received("unverified", ticket.number)


def _automatic(session: Session, msg: EmailMessage, mail: parse.InboundMail) -> Received:
    """Machine-sent mail is never answered. A bounce or auto-reply about a ticket becomes an
    internal note on it; anything else is only logged."""
    reason = mail.automatic or ""
    sender = mail.address or "<>"
    if reason in ("own_address", "own_mail", "mailing_list", "precedence"):
        log.info("inbound mail from %s ignored: %s", sender, reason)
        return Received("ignored", reason=reason)
    ticket = matching.bounced_ticket(session, msg, mail)
    if ticket is None:
        log.info("inbound automatic mail from %s ignored: %s, no ticket", sender, reason)
        return Received("ignored", reason=reason)
    if mail.message_id is not None:
        _lock_message_id(session, mail.message_id)
        if _duplicate(session, mail.message_id) is not None:
            return Received("duplicate", ticket.number, reason=reason)
    if not _check_rate(session, sender):
        return Received("rate_limited", reason=reason)
    excerpt = _fit_body(quotes.strip_quoted(mail.text), ticket.locale)[:NOTE_EXCERPT]
    with use_locale(ticket.locale):
        if reason == "bounce":
            lines = [gettext(NOTE_BOUNCE), automatic.delivery_status(msg),
                     gettext(NOTE_QUOTE_EXCERPT), excerpt]  # fmt: skip
        else:
            lines = [gettext(NOTE_AUTO_REPLY), excerpt]
    message = messages.do_system_note(
        session, ticket=ticket, body="\n".join(x for x in lines if x), channel=EMAIL,
        event="mail_bounce" if reason == "bounce" else "mail_auto_reply", reason=reason,
    )  # fmt: skip
    message.email_message_id = mail.message_id
    log.info("inbound %s from %s noted on %s", reason, sender, ticket.number)
    return Received("noted", ticket.number, reason=reason)


def count_tickets(session: Session) -> int:
    """Tickets opened by e-mail (the bench checks that every message became one)."""
    return int(session.scalar(select(func.count()).where(Ticket.channel == EMAIL)) or 0)
