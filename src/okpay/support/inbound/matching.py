"""Which ticket an inbound message belongs to: threading headers, the request number in
the subject, and for a bounce the copy of our own mail it returns."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.support import access
from okpay.support import numbers as ticket_numbers
from okpay.support.inbound import mime, parse
from okpay.support.models import Ticket, TicketMessage


def bounced_ticket(session: Session, msg: EmailMessage, mail: parse.InboundMail) -> Ticket | None:
    """The ticket a bounce or auto-reply is about: our header or ids in the returned copy,
    then the threading headers and subject of the message itself."""
    numbers: list[str] = []
    ids = list(mail.references)
    for part in mime.leaf_parts(msg):
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            original = mime.inner_message(part)
        elif ctype == "text/rfc822-headers":
            original = BytesParser(policy=policy.default).parsebytes(
                mime.part_bytes(part), headersonly=True
            )
        else:
            continue
        if original is None:
            continue
        numbers.append(mime.header(original, "X-OKPay-Ticket"))
        for name in ("Message-ID", "In-Reply-To", "References"):
            ids += mime.message_ids(mime.header(original, name))
    for number in numbers:
        ticket = access.get_ticket(session, number) if number else None
        if ticket is not None:
            return ticket
    return find_ticket(session, references=ids, subject=mail.subject)


def find_ticket(session: Session, *, references: list[str], subject: str) -> Ticket | None:
    """The ticket a message answers: by threading headers (our replies' Message-IDs, a
    ticket's thread id), else by the request number in the subject."""
    if references:
        ticket_id = session.scalar(
            select(TicketMessage.ticket_id)
            .where(TicketMessage.email_message_id.in_(references))
            .order_by(TicketMessage.id.desc())
            .limit(1)
        )
        if ticket_id is not None:
            return session.get(Ticket, ticket_id)
        found = session.scalar(
            select(Ticket).where(Ticket.thread_message_id.in_(references)).limit(1)
        )
        if found is not None:
            return found
    number = ticket_numbers.normalise_number(subject)
    return access.get_ticket(session, number) if number else None
