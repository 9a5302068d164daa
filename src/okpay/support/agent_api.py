"""The agent console as JSON under /api/v1/agent (staff only): queue, ticket, reply, note,
status, assign, escalate, bulk actions and phone calls (the customer panel is casework's:
casework.agent_api)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.core.dbid import DbId
from okpay.core.errors import NotFound
from okpay.identity import users as identity_users
from okpay.identity.access import require_role
from okpay.identity.models import Role, User
from okpay.support import access, assignment, callers
from okpay.support import events as ticket_events
from okpay.support import messages as ticket_messages
from okpay.support import status as ticket_status
from okpay.support.console import actions, queues, staff, timers
from okpay.support.models import Ticket
from okpay.web.deps import DbSession

Agent = Annotated[User, Depends(require_role(Role.agent, Role.supervisor, Role.admin))]

router = APIRouter(prefix="/api/v1/agent", tags=["agent"])


class TimerOut(BaseModel):
    state: str
    text: str
    target: str = ""


class TicketSummary(BaseModel):
    number: str
    subject: str
    channel: str
    category: str
    priority: str
    status: str
    team: str
    assignee_id: int | None
    assignee_name: str = ""
    requester_name: str
    requester_is_guest: bool
    created_at: datetime
    next_due_at: datetime | None
    timer: TimerOut | None


class QueueOut(BaseModel):
    items: list[TicketSummary]
    next_cursor: str | None
    counts: dict[str, int]


class MessageOut(BaseModel):
    id: int
    kind: str
    channel: str
    author_side: str
    author_name: str
    body: str
    created_at: datetime
    attachments: list[dict[str, Any]]
    sender_check: dict[str, Any] | None = Field(
        None,
        description="For author_side `unverified` (mail in the requester's name that could "
        "not be verified): envelope sender, failed checks, files not kept.",
    )


class EventOut(BaseModel):
    at: datetime
    kind: str
    actor_user_id: int | None
    data: dict[str, Any]


class SlaOut(BaseModel):
    first_reply_due_at: datetime | None
    first_replied_at: datetime | None
    first_reply_breached: bool
    first_reply: TimerOut | None
    resolution_due_at: datetime | None
    resolved_at: datetime | None
    resolution_breached: bool
    resolution: TimerOut | None
    paused: bool


class TicketOut(TicketSummary):
    requester_email: str
    requester_user_id: int | None
    references: list[str]
    tags: list[str]
    locale: str
    sla: SlaOut
    messages: list[MessageOut]
    events: list[EventOut]


class ReplyIn(BaseModel):
    body: str = Field(max_length=20_000)
    then_status: Literal["pending_customer", "open", "on_hold", "resolved"] = "pending_customer"


class NoteIn(BaseModel):
    body: str = Field(max_length=20_000)


class StatusIn(BaseModel):
    status: str = Field(max_length=20)


class AssignIn(BaseModel):
    assignee_id: DbId | None = Field(None, description="A staff member's id; null for nobody")
    me: bool = Field(False, description="Assign to the caller")


class EscalateIn(BaseModel):
    team: str = Field(max_length=16)
    note: str = Field(max_length=20_000)


class UpdateIn(BaseModel):
    priority: str | None = Field(None, max_length=10)
    category: str | None = Field(None, max_length=40)
    tags: list[str] | None = Field(None, max_length=20)
    references: list[str] | None = Field(None, max_length=10)


class BulkIn(BaseModel):
    numbers: list[str] = Field(max_length=actions.BULK_MAX)
    action: Literal["assign", "status", "team", "priority"]
    value: str = Field("", max_length=20, description='assign: "me", "nobody" or a staff id')
    note: str = Field("", max_length=20_000)


class BulkOut(BaseModel):
    changed: list[str]
    skipped: dict[str, str]


class PhoneCallIn(BaseModel):
    body: str = Field(max_length=20_000)
    number: str | None = Field(None, max_length=30, description="Add to this request instead")
    customer: str | None = Field(None, max_length=320, description="Customer's e-mail or phone")
    name: str = Field("", max_length=100)
    email: str = Field("", max_length=320)
    subject: str = Field("", max_length=200)
    category: str | None = Field(None, max_length=40)
    acknowledge: bool = False


def _timer(t: timers.Timer | None) -> TimerOut | None:
    return TimerOut(state=t.state, text=t.text, target=t.target) if t else None


def _summary(ticket: Ticket, names: dict[int, str], now: datetime) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "subject": ticket.subject,
        "channel": ticket.channel,
        "category": ticket.category,
        "priority": ticket.priority,
        "status": ticket.status,
        "team": ticket.team,
        "assignee_id": ticket.assignee_id,
        "assignee_name": names.get(ticket.assignee_id or 0, ""),
        "requester_name": ticket.requester_name,
        "requester_is_guest": ticket.requester_user_id is None,
        "created_at": ticket.created_at,
        "next_due_at": ticket.next_due_at,
        "timer": _timer(timers.ticket_timer(ticket, now)),
    }


def _ticket_out(db: Session, ticket: Ticket) -> TicketOut:
    now = clock.now()
    names = staff.agent_names(db, [ticket.assignee_id])
    files = ticket_messages.attachments_by_message(db, ticket)
    sla = timers.sla_view(ticket, now)
    events = ticket_events.list_events(db, ticket)
    checks = ticket_messages.unverified_checks(events)
    return TicketOut(
        **_summary(ticket, names, now),
        requester_email=ticket.requester_email,
        requester_user_id=ticket.requester_user_id,
        references=list(ticket.references or []),
        tags=list(ticket.tags or []),
        locale=ticket.locale,
        sla=SlaOut(
            first_reply_due_at=sla.first_reply_due_at,
            first_replied_at=sla.first_replied_at,
            first_reply_breached=sla.first_reply_breached,
            first_reply=_timer(sla.first_reply),
            resolution_due_at=sla.resolution_due_at,
            resolved_at=sla.resolved_at,
            resolution_breached=sla.resolution_breached,
            resolution=_timer(sla.resolution),
            paused=sla.paused,
        ),
        messages=[
            MessageOut(
                sender_check=checks.get(m.id) if m.author_side == "unverified" else None,
                id=m.id,
                kind=m.kind,
                channel=m.channel,
                author_side=m.author_side,
                author_name=m.author_name,
                body=m.body,
                created_at=m.created_at,
                attachments=[
                    {
                        "id": f.id,
                        "filename": f.filename,
                        "content_type": f.content_type,
                        "size": f.size,
                        "url": f"/agent/tickets/{ticket.number}/files/{f.id}",
                        "deleted_at": f.purged_at,
                    }
                    for f in files.get(m.id, [])
                ],
            )
            for m in ticket_messages.list_messages(db, ticket, include_internal=True)
        ],
        events=[
            EventOut(at=e.at, kind=e.kind, actor_user_id=e.actor_user_id, data=e.data or {})
            for e in events
        ],
    )


@router.get("/queue", response_model=QueueOut)
def queue(
    agent: Agent,
    db: DbSession,
    team: str = "",
    status: Annotated[str, Query(description='a status, "open" (default) or "all"')] = "",
    priority: str = "",
    assignee: Annotated[str, Query(description='"mine" or "unassigned"')] = "",
    q: Annotated[str, Query(max_length=queues.SEARCH_MAX)] = "",
    after: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=queues.MAX_PAGE_SIZE)] = queues.PAGE_SIZE,
) -> QueueOut:
    """Tickets by SLA due time (overdue first); ``next_cursor`` fetches the next page."""
    filters = queues.check_filter(
        team=team, status=status, priority=priority, assignee=assignee, search=q
    )
    now = clock.now()
    page = queues.queue(
        db, agent=agent, filters=filters, after=queues.Cursor.decode(after), limit=limit, now=now
    )
    names = {r.ticket.assignee_id or 0: r.assignee_name for r in page.rows}
    return QueueOut(
        items=[TicketSummary(**_summary(r.ticket, names, now)) for r in page.rows],
        next_cursor=page.next_cursor,
        counts=queues.queue_counts(db),
    )


def _ticket(db: Session, agent: User, number: str) -> Ticket:
    return access.access_ticket(db, user=agent, number=number)


@router.get("/tickets/{number}", response_model=TicketOut)
def ticket(number: str, agent: Agent, db: DbSession) -> TicketOut:
    """The whole ticket: conversation with internal notes, history, SLA clocks."""
    return _ticket_out(db, _ticket(db, agent, number))


@router.patch("/tickets/{number}", response_model=TicketOut)
def update(number: str, body: UpdateIn, agent: Agent, db: DbSession) -> TicketOut:
    """Change priority, category, tags or linked transaction references."""
    t = _ticket(db, agent, number)
    assignment.do_update(
        db, ticket=t, agent=agent, priority=body.priority, category=body.category,
        tags=body.tags, references=body.references,
    )  # fmt: skip
    return _ticket_out(db, t)


@router.post("/tickets/{number}/reply", response_model=TicketOut, status_code=201)
def reply(number: str, body: ReplyIn, agent: Agent, db: DbSession) -> TicketOut:
    """A public reply, e-mailed to the requester; then the chosen status."""
    t = _ticket(db, agent, number)
    ticket_messages.do_agent_reply(
        db, ticket=t, agent=agent, body=body.body, then_status=body.then_status
    )
    return _ticket_out(db, t)


@router.post("/tickets/{number}/note", response_model=TicketOut, status_code=201)
def note(number: str, body: NoteIn, agent: Agent, db: DbSession) -> TicketOut:
    """An internal note: never shown or sent to the customer."""
    t = _ticket(db, agent, number)
    ticket_messages.do_agent_reply(db, ticket=t, agent=agent, body=body.body, internal=True)
    return _ticket_out(db, t)


@router.post("/tickets/{number}/status", response_model=TicketOut)
def set_status(number: str, body: StatusIn, agent: Agent, db: DbSession) -> TicketOut:
    t = _ticket(db, agent, number)
    ticket_status.do_set_status(db, ticket=t, status=body.status, agent=agent)
    return _ticket_out(db, t)


@router.post("/tickets/{number}/assign", response_model=TicketOut)
def assign(number: str, body: AssignIn, agent: Agent, db: DbSession) -> TicketOut:
    t = _ticket(db, agent, number)
    target = agent if body.me else None
    if not body.me and body.assignee_id is not None:
        target = staff.get_staff(db, body.assignee_id)
    assignment.do_assign(db, ticket=t, assignee=target, agent=agent)
    return _ticket_out(db, t)


@router.post("/tickets/{number}/escalate", response_model=TicketOut)
def escalate(number: str, body: EscalateIn, agent: Agent, db: DbSession) -> TicketOut:
    """Hand over to another team with a note; the customer is e-mailed the new expected time."""
    t = _ticket(db, agent, number)
    assignment.do_escalate(db, ticket=t, team=body.team, note=body.note, agent=agent)
    return _ticket_out(db, t)


@router.post("/bulk", response_model=BulkOut)
def bulk(body: BulkIn, agent: Agent, db: DbSession) -> BulkOut:
    """One action on several tickets; those that cannot take it are listed with the reason."""
    result = actions.do_bulk(
        db, agent=agent, numbers=body.numbers, action=body.action, value=body.value, note=body.note
    )
    return BulkOut(changed=result.changed, skipped=result.skipped)


@router.post("/phone-calls", response_model=TicketOut, status_code=201)
def phone_call(body: PhoneCallIn, agent: Agent, db: DbSession) -> TicketOut:
    """Log a call: a message on ``number``, or a new ticket for the customer found by
    ``customer`` (e-mail or phone), or for a guest by ``name`` and ``email``."""
    if body.number:
        t = _ticket(db, agent, body.number)
        actions.do_log_call_message(db, agent=agent, ticket=t, body=body.body)
        return _ticket_out(db, t)
    found = None
    if body.customer:
        match = callers.find_customer(db, query=body.customer)
        found = identity_users.get_user(db, match.user_id) if match else None
        if found is None or found.is_staff:
            raise NotFound()
    t = actions.do_log_call(
        db, agent=agent, subject=body.subject, body=body.body, customer=found, name=body.name,
        email=body.email, category=body.category, acknowledge=body.acknowledge,
    )  # fmt: skip
    return _ticket_out(db, t)
