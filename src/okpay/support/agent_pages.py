"""The agent console pages under /agent (staff only): queues and a ticket (phone calls:
agent_phone_pages; reports: agent_report_pages). Routes are thin: console and the ticket
modules do the work. Higher layers add their blocks to the ticket page (casework: the customer
panel and the case) through ``add_ticket_panels``; support never imports them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from okpay.core import clock
from okpay.core.dbid import BigDbId, parse_id
from okpay.core.errors import DomainError, ValidationFailed
from okpay.core.i18n import format_size, gettext
from okpay.helpcenter.taxonomy import CATEGORIES, category_label
from okpay.identity.access import require_role
from okpay.identity.models import Role, User
from okpay.support import access, agents, assignment, customer, event_text, triage_hint
from okpay.support import events as ticket_events
from okpay.support import files as support_files
from okpay.support import messages as ticket_messages
from okpay.support import status as ticket_status
from okpay.support.console import actions, queues, staff, timers
from okpay.support.models import (
    AGENT_STATUS_LABELS,
    CHANNEL_LABELS,
    OPEN_STATUSES,
    PRIORITY_LABELS,
    TEAM_LABELS,
    Priority,
    Status,
    Team,
    Ticket,
    label,
)
from okpay.web import forms
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.redirects import safe_next
from okpay.web.templating import render

require_agent = require_role(Role.agent, Role.supervisor, Role.admin)


Agent = Annotated[User, Depends(require_agent)]


def agent_router() -> APIRouter:
    """A router for console pages: under /agent, staff only, forms CSRF-checked."""
    return APIRouter(
        prefix="/agent",
        include_in_schema=False,
        dependencies=[Depends(require_agent), Depends(csrf_protect)],
    )


router = agent_router()


FormStr = Annotated[str, Form()]


OptForm = Annotated[str, Form()]


# Tickets carrying a case (identity documents, proofs) have this tag; their files are
# served by the case's evidence route, never by the plain download below.
CASE_TAG = "case"

# Statuses an agent can pick after a reply: waiting for the customer is the default.
REPLY_STATUSES = ("pending_customer", "open", "on_hold", "resolved")


def redirect(url: str) -> RedirectResponse:
    """A 303 to ``url`` (after a form post)."""
    return RedirectResponse(url, status_code=303)


def labels() -> dict[str, Any]:
    """Label helpers and choice lists every console template uses."""
    return {
        "status_name": lambda s: label(AGENT_STATUS_LABELS, s),
        "team_name": lambda t: label(TEAM_LABELS, t),
        "priority_name": lambda p: label(PRIORITY_LABELS, p),
        "channel_name": lambda c: label(CHANNEL_LABELS, c),
        "category_name": category_label,
        "teams": [t.value for t in Team],
        "statuses": [s.value for s in Status],
        "open_statuses": OPEN_STATUSES,
        "priorities": [p.value for p in Priority],
        "categories": list(CATEGORIES),
        "format_size": format_size,
    }


@dataclass(frozen=True)
class TicketPanel:
    """A block a higher layer adds to the agent's ticket page: ``template`` is included with
    the page's context plus ``data``; ``slot`` is "main" (above the conversation) or "side"."""

    slot: str
    template: str
    data: dict[str, Any]


TicketPanelHook = Callable[[Session, Ticket, User], list[TicketPanel]]
_panel_hooks: list[TicketPanelHook] = []


def add_ticket_panels(hook: TicketPanelHook) -> None:
    """Register ``hook`` to add blocks to every agent ticket page (once per hook)."""
    if hook not in _panel_hooks:
        _panel_hooks.append(hook)


def ticket_panels(session: Session, ticket: Ticket, agent: User) -> list[TicketPanel]:
    return [p for hook in _panel_hooks for p in hook(session, ticket, agent)]


def _back(request: Request, fallback: str = "/agent") -> str:
    """Where to go after a queue action: the queue as it was (same-site paths only)."""
    target = request.headers.get("referer", "")
    base = str(request.base_url).rstrip("/")
    if target.startswith(base + "/agent"):
        return safe_next(target[len(base) :], fallback)
    return fallback


@router.get("")
def queue_page(
    request: Request,
    agent: Agent,
    db: DbSession,
    team: str = "",
    status: str = "",
    priority: str = "",
    assignee: str = "",
    q: Annotated[str, Query(max_length=queues.SEARCH_MAX)] = "",
    after: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    params = {"team": team, "status": status, "priority": priority, "assignee": assignee, "q": q}
    error = None
    try:
        filters = queues.check_filter(
            team=team, status=status, priority=priority, assignee=assignee, search=q
        )
        page = queues.queue(db, agent=agent, filters=filters, after=queues.Cursor.decode(after))
    except DomainError as err:
        error = err.translated()
        filters = queues.QueueFilter()
        page = queues.QueuePage([], None, filters)
    kept = {k: v for k, v in params.items() if v}
    next_url = (
        f"/agent?{urlencode({**kept, 'after': page.next_cursor})}" if page.next_cursor else ""
    )
    return render(
        request,
        "support/agent_queue.html",
        page=page,
        params=params,
        counts=queues.queue_counts(db),
        count_cap=queues.COUNT_CAP,
        agents=staff.list_agents(db),
        my_team=agents.agent_team(db, agent),
        next_url=next_url,
        tab_url=lambda t: (
            "/agent?" + urlencode({k: v for k, v in {**kept, "team": t}.items() if v})
        ),
        error=error,
        **labels(),
    )


@router.post("/tickets/{number}/take")
def take(request: Request, number: str, agent: Agent, db: DbSession) -> Response:
    """ "Assign to me" from the queue."""
    ticket = access.access_ticket(db, user=agent, number=number)
    assignment.do_assign(db, ticket=ticket, assignee=agent, agent=agent)
    flash(request, gettext("%(number)s is now yours.", number=ticket.number), "success")
    return redirect(_back(request))


@router.post("/bulk")
def bulk(
    request: Request,
    agent: Agent,
    db: DbSession,
    action: FormStr,
    numbers: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI reads it, never mutated
    value: OptForm = "",
    value_assign: OptForm = "",
    value_status: OptForm = "",
    value_team: OptForm = "",
    value_priority: OptForm = "",
    note: OptForm = "",
) -> Response:
    """Apply one action to the selected rows; each action button has its own value field."""
    chosen = {
        "assign": value_assign, "status": value_status, "team": value_team,
        "priority": value_priority,
    }.get(action, "")  # fmt: skip
    value = chosen or value
    try:
        result = actions.do_bulk(
            db, agent=agent, numbers=numbers, action=action, value=value, note=note
        )
    except DomainError as err:
        db.rollback()
        flash(request, err.translated(), "error")
        return redirect(_back(request))
    if result.changed:
        flash(
            request,
            gettext("Changed %(count)s requests.", count=len(result.changed)),
            "success",
        )
    if result.skipped:
        flash(
            request,
            gettext(
                "Not changed: %(numbers)s.",
                numbers=", ".join(f"{n} ({code})" for n, code in result.skipped.items()),
            ),
            "warning",
        )
    return redirect(_back(request))


def _ticket_context(db: DbSession, ticket: Ticket, agent: User) -> dict[str, Any]:
    messages = ticket_messages.list_messages(db, ticket, include_internal=True)
    events = ticket_events.list_events(db, ticket)
    names = staff.agent_names(
        db, [*event_text.mentioned_people(events), ticket.assignee_id, agent.id]
    )
    return {
        "ticket": ticket,
        "messages": messages,
        "files": ticket_messages.attachments_by_message(db, ticket),
        "events": events,
        "history": event_text.history(
            events,
            names=names,
            requester=ticket.requester_name,
            requester_id=ticket.requester_user_id,
        ),
        "unverified": ticket_messages.unverified_checks(events),
        "unsure_categories": triage_hint.unsure_categories(events),
        "actor_names": names,
        "assignee_name": names.get(ticket.assignee_id or 0, ""),
        "sla": timers.sla_view(ticket, clock.now()),
        "panels": ticket_panels(db, ticket, agent),
        "canned": agents.canned_responses(db, locale=ticket.locale),
        "agents": staff.list_agents(db),
        "reply_statuses": REPLY_STATUSES,
        "form": {},
        **labels(),
    }


def render_ticket(
    request: Request,
    db: DbSession,
    ticket_number: str,
    agent: User,
    *,
    err: DomainError | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    """The ticket page; with ``err``, its message (and ``form``, what was typed) shown, and
    the unit of work rolled back unless the error says it persists."""
    if err is not None:
        forms.undo_refused(db, err)
    ticket = access.access_ticket(db, user=agent, number=ticket_number)
    ctx = _ticket_context(db, ticket, agent)
    if form:
        ctx["form"] = form
    if err is None:
        return render(request, "support/agent_ticket.html", **ctx)
    return render(
        request,
        "support/agent_ticket.html",
        status_code=err.status,
        error=err.translated(),
        error_code=err.code,
        error_field=err.field,
        **ctx,
    )


@router.get("/tickets/{number}")
def ticket_page(request: Request, number: str, agent: Agent, db: DbSession) -> Response:
    ticket = access.access_ticket(db, user=agent, number=number)
    if ticket.number != number:
        return redirect(f"/agent/tickets/{ticket.number}")
    return render_ticket(request, db, ticket.number, agent)


def _checked_files(files: list[UploadFile]) -> list[support_files.CheckedFile]:
    return [support_files.check_stream(u.filename, u.file) for u in files if u.filename]


def _act(
    request: Request,
    db: DbSession,
    agent: User,
    number: str,
    change: Callable[[Ticket], Any],
    done: Callable[[], str],
    form: dict[str, str] | None = None,
) -> Response:
    """One change to a ticket from its page: done → back to the page with a message;
    refused → the page again with the reason (and what was typed), nothing stored."""
    ticket = access.access_ticket(db, user=agent, number=number)
    try:
        change(ticket)
    except DomainError as err:
        return render_ticket(request, db, ticket.number, agent, err=err, form=form)
    flash(request, done(), "success")
    return redirect(f"/agent/tickets/{ticket.number}")


@router.post("/tickets/{number}/reply")
def reply(
    request: Request,
    number: str,
    agent: Agent,
    db: DbSession,
    body: OptForm = "",
    then_status: OptForm = "pending_customer",
    files: Annotated[list[UploadFile], File()] = [],  # noqa: B006 - read only
) -> Response:
    def change(ticket: Ticket) -> None:
        if then_status not in REPLY_STATUSES:
            raise ValidationFailed(code="status_invalid", field="then_status")
        ticket_messages.do_agent_reply(
            db, ticket=ticket, agent=agent, body=body, then_status=then_status,
            files=_checked_files(files),
        )  # fmt: skip

    form = {"body": body, "then": then_status}
    return _act(request, db, agent, number, change, lambda: gettext("Your reply was sent."), form)


@router.post("/tickets/{number}/note")
def note(
    request: Request, number: str, agent: Agent, db: DbSession, body: OptForm = ""
) -> Response:
    def change(ticket: Ticket) -> None:
        ticket_messages.do_agent_reply(db, ticket=ticket, agent=agent, body=body, internal=True)

    def done() -> str:
        return gettext("Internal note added.")

    return _act(request, db, agent, number, change, done, {"note": body})


def _canned_text(db: DbSession, ticket: Ticket, agent: User, canned_id: str) -> str | None:
    """A canned response in the ticket's language with its placeholders filled, or None."""
    chosen = next(
        (c for c in agents.canned_responses(db, locale=ticket.locale) if str(c.id) == canned_id),
        None,
    )
    return None if chosen is None else agents.fill_placeholders(chosen.body, ticket, agent)


@router.get("/tickets/{number}/canned-text")
def canned_text(
    number: str,
    agent: Agent,
    db: DbSession,
    canned_id: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """A canned response's text, placeholders filled: the page's script puts it where the
    agent's cursor is (ticket reply box, live chat box)."""
    ticket = access.access_ticket(db, user=agent, number=number)
    text = _canned_text(db, ticket, agent, canned_id)
    if text is None:
        return Response("", status_code=404, media_type="text/plain; charset=utf-8")
    return Response(text, media_type="text/plain; charset=utf-8")


@router.post("/tickets/{number}/canned")
def canned(
    request: Request,
    number: str,
    agent: Agent,
    db: DbSession,
    canned_id: OptForm = "",
    body: OptForm = "",
) -> Response:
    """The reply box with a canned response added to what the agent already typed: the box
    alone for htmx, the whole ticket page without scripts (the "Insert" button)."""
    ticket = access.access_ticket(db, user=agent, number=number)
    filled = _canned_text(db, ticket, agent, canned_id)
    text = body
    if filled is not None:
        text = f"{body.rstrip()}\n\n{filled}" if body.strip() else filled
    if request.headers.get("hx-request"):
        return render(request, "support/agent_reply_body.html", text=text)
    return render_ticket(request, db, ticket.number, agent, form={"body": text})


@router.post("/tickets/{number}/update")
def update(
    request: Request,
    number: str,
    agent: Agent,
    db: DbSession,
    priority: OptForm = "",
    category: OptForm = "",
    tags: OptForm = "",
    references: OptForm = "",
) -> Response:
    def change(ticket: Ticket) -> None:
        assignment.do_update(
            db, ticket=ticket, agent=agent, priority=priority or None, category=category or None,
            tags=[t for t in tags.replace("，", ",").split(",") if t.strip()],
            references=references,
        )  # fmt: skip

    return _act(request, db, agent, number, change, lambda: gettext("Saved."))


@router.post("/tickets/{number}/assign")
def assign(
    request: Request, number: str, agent: Agent, db: DbSession, assignee: OptForm = ""
) -> Response:
    def change(ticket: Ticket) -> None:
        target = None
        if assignee == "me":
            target = agent
        elif assignee:
            target = staff.get_staff(db, parse_id(assignee) or 0)
        assignment.do_assign(db, ticket=ticket, assignee=target, agent=agent)

    return _act(request, db, agent, number, change, lambda: gettext("Assignment saved."))


@router.post("/tickets/{number}/status")
def set_status(
    request: Request, number: str, agent: Agent, db: DbSession, status: FormStr
) -> Response:
    def change(ticket: Ticket) -> None:
        ticket_status.do_set_status(db, ticket=ticket, status=status, agent=agent)

    return _act(request, db, agent, number, change, lambda: gettext("Status saved."))


@router.post("/tickets/{number}/escalate")
def escalate(
    request: Request,
    number: str,
    agent: Agent,
    db: DbSession,
    team: OptForm = "",
    note: OptForm = "",
) -> Response:
    def change(ticket: Ticket) -> None:
        assignment.do_escalate(db, ticket=ticket, team=team, note=note, agent=agent)

    def done() -> str:
        return gettext(
            "Passed to the %(team)s team; the customer was told the new expected time.",
            team=label(TEAM_LABELS, team),
        )

    return _act(request, db, agent, number, change, done, {"escalate": note})


@router.get("/tickets/{number}/files/{attachment_id}")
def download(number: str, attachment_id: BigDbId, agent: Agent, db: DbSession) -> Response:
    ticket = access.access_ticket(db, user=agent, number=number)
    if CASE_TAG in (ticket.tags or []):
        # A case's files are evidence: only its reviewers open them, each view audited.
        return RedirectResponse(f"/agent/tickets/{ticket.number}/case-files/{attachment_id}", 303)
    row = ticket_messages.get_attachment(db, ticket, attachment_id)
    return customer.download(row)
