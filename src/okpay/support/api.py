"""Customer JSON API for the service centre under /api/v1/support (bearer token).

Tickets are created as JSON; files go to ``POST /tickets/{number}/files`` as multipart (one
or more ``files`` parts and an optional ``body``), which adds them to the thread as a message.
A customer sees only their own tickets: any other number answers 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, UploadFile
from starlette.responses import Response

from okpay.core import clock
from okpay.core.dbid import BigDbId
from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_
from okpay.identity.access import CurrentUser
from okpay.identity.models import User
from okpay.support import access, customer, follow_up, satisfaction, sla, tickets
from okpay.support import messages as ticket_messages
from okpay.support import schemas as s
from okpay.support.models import STATUS_LABELS, Channel, Ticket, label
from okpay.web.deps import DbSession

router = APIRouter(prefix="/api/v1/support", tags=["support"])


def _summary(ticket: Ticket) -> s.TicketSummary:
    return s.TicketSummary(
        **s.summary_fields(
            ticket, label(STATUS_LABELS, ticket.status), sla.promised_reply_at(ticket)
        )
    )


def _read(db: DbSession, ticket: Ticket) -> s.TicketRead:
    view = customer.customer_view(db, ticket, now=clock.now())
    base = f"/api/v1/support/tickets/{ticket.number}/files/"
    messages = [
        s.MessageRead(
            id=item.message.id,
            kind=item.message.kind,
            author=item.message.author_side,
            author_name=item.message.author_name,
            body=item.message.body,
            body_html=item.message.body_html,
            created_at=item.message.created_at,
            attachments=[
                s.AttachmentRead(
                    id=f.id,
                    filename=f.filename,
                    content_type=f.content_type,
                    size=f.size,
                    url=base + str(f.id),
                    deleted_at=f.purged_at,
                )
                for f in item.files
            ],
        )
        for item in view.thread
    ]
    return s.TicketRead(
        **s.summary_fields(ticket, view.status_label, view.due),
        references=list(ticket.references),
        can_remind=view.can_remind,
        can_rate=view.can_rate,
        rating=ticket.rating,
        rating_comment=ticket.rating_comment,
        link=access.requester_link(ticket),
        messages=messages,
    )


def _mine(db: DbSession, user: User, number: str) -> Ticket:
    return access.access_ticket(db, user=user, number=number)


@router.post("/tickets", response_model=s.TicketRead, status_code=201)
def create_ticket(
    body: s.TicketCreate, request: Request, user: CurrentUser, db: DbSession
) -> s.TicketRead:
    """Open a request as the signed-in customer (the confirmation e-mail goes to them)."""
    customer.check_throttle(db, user=user)
    ticket = tickets.do_open_ticket(
        db,
        tickets.NewTicket(
            channel=Channel.web.value,
            subject=body.subject,
            body=body.body,
            user=user,
            category=body.category,
            references=body.references,
            locale=request.state.locale,
        ),
    )
    return _read(db, ticket)


@router.get("/tickets", response_model=list[s.TicketSummary])
def list_tickets(user: CurrentUser, db: DbSession) -> list[s.TicketSummary]:
    """The customer's own requests, newest first."""
    return [_summary(t) for t in access.list_requests_of(db, user=user)]


@router.get("/tickets/{number}", response_model=s.TicketRead)
def get_ticket(number: str, user: CurrentUser, db: DbSession) -> s.TicketRead:
    """One request with its conversation (replies and notices; never agents' internal notes)."""
    return _read(db, _mine(db, user, number))


@router.post("/tickets/{number}/messages", response_model=s.TicketRead, status_code=201)
def add_message(
    number: str, body: s.MessageCreate, user: CurrentUser, db: DbSession
) -> s.TicketRead:
    ticket = _mine(db, user, number)
    ticket_messages.do_customer_message(
        db, ticket=ticket, body=body.body, channel=Channel.web.value, author=user
    )
    return _read(db, ticket)


@router.post("/tickets/{number}/files", response_model=s.TicketRead, status_code=201)
def add_files(
    number: str,
    files: list[UploadFile],
    user: CurrentUser,
    db: DbSession,
    body: Annotated[str, Form(max_length=25_000)] = "",
) -> s.TicketRead:
    """Add files (multipart ``files``, with an optional ``body``) as a message. A refused file
    refuses them all: nothing is stored."""
    ticket = _mine(db, user, number)
    uploads = customer.read_uploads((f.filename or "", f.file) for f in files)
    if uploads.errors:
        raise ValidationFailed(" ".join(uploads.errors), code="upload_rejected", field="files")
    if not uploads.files:
        raise ValidationFailed(N_("Please choose a file."), code="file_required", field="files")
    ticket_messages.do_customer_message(
        db, ticket=ticket, body=body, channel=Channel.web.value, author=user, files=uploads.files
    )
    return _read(db, ticket)


@router.get("/tickets/{number}/files/{attachment_id}")
def download(number: str, attachment_id: BigDbId, user: CurrentUser, db: DbSession) -> Response:
    """A file of the request, as a download with its stored type."""
    ticket = _mine(db, user, number)
    return customer.download(customer.customer_attachment(db, ticket, attachment_id))


@router.post("/tickets/{number}/rating", response_model=s.TicketRead)
def rate(number: str, body: s.RatingCreate, user: CurrentUser, db: DbSession) -> s.TicketRead:
    """Rate a resolved request from 1 to 5 (can be changed for 30 days)."""
    ticket = _mine(db, user, number)
    satisfaction.do_rate(db, ticket=ticket, rating=body.rating, comment=body.comment, actor=user)
    return _read(db, ticket)


@router.post("/tickets/{number}/reminder", response_model=s.TicketRead)
def remind(number: str, user: CurrentUser, db: DbSession) -> s.TicketRead:
    """Remind us once the promised reply time has passed without an answer."""
    ticket = _mine(db, user, number)
    follow_up.do_request_reminder(db, ticket=ticket, actor=user)
    return _read(db, ticket)
